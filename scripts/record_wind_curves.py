"""Record learning curves of this repository's workload for the pruning benchmark: random
configurations of DMixer and the linear model on the shipped Wind file (``experiment=quick``),
each trained for every epoch, with its validation loss and time per epoch.

    python scripts/record_wind_curves.py                       # about 45 minutes on 2 cores
    python scripts/record_wind_curves.py --trials 10 --epochs 3 --out /tmp/curves.json   # a smoke test
    python scripts/record_wind_curves.py --seed 1 --out more.json && \
        python scripts/record_wind_curves.py --append more.json   # more configurations in the same file

It runs one random-search sweep per model (``sweeper=random``, no pruning, one torch thread, each
search space of ``conf/search_space/``) and writes ``benchmarks/data/wind_curves.json``:
``{"epochs", "command", "models": {model: [{"params", "val_loss": [...], "epoch_s": [...]}]}}``.
``scripts/bench_search.py pruning`` replays it.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
OUT = REPO / "benchmarks" / "data" / "wind_curves.json"


def record(model: str, trials: int, epochs: int, seed: int, scratch: Path) -> list[dict]:
    sweep = scratch / model
    command = [
        sys.executable, str(REPO / "train.py"), "-m", f"model={model}", "dataset=Wind", "experiment=quick",
        "sweeper=random", f"hydra.sweeper.n_trials={trials}", f"hydra.sweeper.sampler.seed={seed}",
        f"trainer.max_epochs={epochs}", "trainer.patience=1000", "trainer.num_threads=1", "trainer.test=false",
        "hydra.sweeper.topk.top_k=1", f"hydra.sweep.dir={sweep}",
    ]  # fmt: skip
    subprocess.run(command, check=True, cwd=scratch, stdout=subprocess.DEVNULL)
    rows = []
    for path in sorted(sweep.glob("*/run.json"), key=lambda p: int(p.parent.name)):
        record = json.loads(path.read_text())
        history = record["history"]
        if record["status"] != "complete" or len(history) != epochs:
            continue  # a diverged or failed run has no full curve
        rows.append(
            {
                "params": record["params"],
                "val_loss": [h["val_loss"] for h in history],
                "epoch_s": [round(h["time"], 3) for h in history],
            }
        )
    varying = {k for k in rows[0]["params"] if len({repr(r["params"].get(k)) for r in rows}) > 1} if rows else set()
    for row in rows:  # the searched parameters only, not the command's fixed settings
        row["params"] = {k: v for k, v in row["params"].items() if k in varying}
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--trials", type=int, default=120, help="configurations per model (default 120)")
    parser.add_argument("--epochs", type=int, default=12, help="epochs each trains (default 12)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--models", default="linear,dmixer")
    parser.add_argument("--out", type=Path, default=OUT)
    parser.add_argument(
        "--append", type=Path, metavar="FILE",
        help="add FILE's curves (another recording, e.g. another --seed) to --out instead of recording",
    )  # fmt: skip
    args = parser.parse_args()
    if args.append:
        return append(args.append, args.out)
    start = time.perf_counter()
    models = {}
    with tempfile.TemporaryDirectory(prefix="sweepkit-curves-") as scratch:
        for model in args.models.split(","):
            models[model] = record(model, args.trials, args.epochs, args.seed, Path(scratch))
            print(f"{model}: {len(models[model])} curves ({time.perf_counter() - start:.0f} s so far)", flush=True)
    args.out.parent.mkdir(parents=True, exist_ok=True)
    doc = {
        "epochs": args.epochs,
        "command": f"python scripts/record_wind_curves.py --trials {args.trials} --epochs {args.epochs} "
        f"--seed {args.seed}",
        "recorded": time.strftime("%Y-%m-%d"),
        "seconds": round(time.perf_counter() - start),
        "models": models,
    }
    args.out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    print(f"wrote {args.out} in {doc['seconds']} s")
    return 0


def append(extra: Path, out: Path) -> int:
    """Add ``extra``'s curves to ``out`` (same epochs; a configuration ``out`` has is not added twice)."""
    doc, more = json.loads(out.read_text()), json.loads(extra.read_text())
    if doc["epochs"] != more["epochs"]:
        print(
            f"error: {extra} has {more['epochs']} epochs, {out} {doc['epochs']}; record with --epochs {doc['epochs']}"
        )
        return 2
    for model, rows in more["models"].items():
        have = doc["models"].setdefault(model, [])
        seen = {json.dumps(r["params"], sort_keys=True) for r in have}
        have += [r for r in rows if json.dumps(r["params"], sort_keys=True) not in seen]
    doc["command"] = " && ".join([doc["command"], more["command"]])
    doc["seconds"] = doc.get("seconds", 0) + more.get("seconds", 0)
    out.write_text(json.dumps(doc, separators=(",", ":")) + "\n")
    counts = ", ".join(f"{m} {len(r)}" for m, r in doc["models"].items())
    print(f"wrote {out}: {counts} curves")
    return 0


if __name__ == "__main__":
    sys.exit(main())
