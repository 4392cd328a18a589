#!/usr/bin/env python
"""Compare sweep strategies at equal trial budgets: best validation loss and epochs spent.

Runs ``train.py -m`` on the real Wind data with a small DMixer for each strategy (random,
bayes, hyperband) and seed, then prints a table. Early stopping is off, so the epoch count
measures what pruning saves. Goal: hyperband reaches the same or a better best loss than
bayes with at most half the epochs. The defaults (24 trials of up to 27 epochs, 5 seeds, two
sweeps at a time) take about half an hour on two cores.

    python scripts/bench_sweep.py
    python scripts/bench_sweep.py --strategies hyperband --set hydra.sweeper.pruner.reduction_factor=3
    python scripts/bench_sweep.py --merge outputs/bench_sweep/*/bench_sweep.json
"""

from __future__ import annotations

import argparse
import json
import random
import statistics
import sys
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Sequence

from _bench_common import REPO, run_multirun, wind_file  # noqa: E402

WORKLOAD = [
    "dataset=Wind",
    f"dataset.path={wind_file()}",
    "dataset.max_rows=2000",
    "dataset.lookback=24",
    "dataset.horizon=12",
    "trainer.batch_size=256",
    "trainer.patience=null",
    "trainer.num_threads=1",
    "model=dmixer",
    "model.d_model=16,32,64",
    "model.d_ff=16,32",
    "model.kernel_size=13,25",
]


def run_sweep(strategy: str, seed: int, trials: int, epochs: int, sweep_dir: Path, extra: Sequence[str] = ()) -> dict:
    """One multirun; returns best value, total epochs, pruned count and wall time."""
    records, wall = run_multirun(
        [
            *WORKLOAD,
            f"sweeper={strategy}",
            f"trainer.max_epochs={epochs}",
            f"hydra.sweeper.n_trials={trials}",
            f"hydra.sweeper.sampler.seed={seed}",
            # Hyperband's brackets hash the study name: fix it per seed
            f"hydra.sweeper.study_name=bench_{strategy}_s{seed}",
            *extra,
        ],
        sweep_dir,
        f"{strategy} seed {seed}",
    )
    values = [r["best_value"] for r in records if r["status"] in ("complete", "pruned") and r["best_value"] is not None]
    return {
        "strategy": strategy,
        "seed": seed,
        "trials": len(records),
        "max_epochs": epochs,
        "best_val_loss": min(values),
        "epochs": sum(r["epoch"] for r in records),
        "pruned": sum(r["status"] == "pruned" for r in records),
        "wall_s": wall,
    }


def paired_ratio_ci(pairs: list[tuple[float, float]], draws: int = 10_000) -> tuple[float, float]:
    """95% bootstrap interval (over seeds) of mean(a) / mean(b) for paired (a, b) per seed."""
    rng = random.Random(0)
    ratios = sorted(
        sum(a for a, _ in sample) / sum(b for _, b in sample)
        for sample in ([rng.choice(pairs) for _ in pairs] for _ in range(draws))
    )
    return ratios[int(0.025 * draws)], ratios[int(0.975 * draws) - 1]


def print_table(rows: list[dict]) -> None:
    """Mean over seeds per strategy, and each hyperband variant against bayes seed by seed."""
    labels = list(dict.fromkeys(r.get("label", r["strategy"]) for r in rows))
    seeds = sorted({r["seed"] for r in rows})
    shape = ", ".join(sorted({f"{r['trials']} trials x up to {r.get('max_epochs', '?')} epochs" for r in rows}))
    print(f"\n{shape}, seeds {seeds} (mean over seeds)")
    print(f"{'strategy':>12} | {'seeds':>5} | {'best val loss':>13} | {'epochs':>6} | {'pruned':>6} | {'wall s':>6}")
    for label in labels:
        mine = [r for r in rows if r.get("label", r["strategy"]) == label]
        mean = {k: statistics.mean(r[k] for r in mine) for k in ("best_val_loss", "epochs", "pruned", "wall_s")}
        print(
            f"{label:>12} | {len(mine):5d} | {mean['best_val_loss']:13.5f} | {mean['epochs']:6.1f} | "
            f"{mean['pruned']:6.1f} | {mean['wall_s']:6.0f}"
        )
    bayes = {r["seed"]: r for r in rows if r.get("label", r["strategy"]) == "bayes"}
    for label in labels:
        mine = {r["seed"]: r for r in rows if r.get("label", r["strategy"]) == label and r["strategy"] == "hyperband"}
        paired = sorted(set(mine) & set(bayes))
        if not paired:
            continue
        losses = [(mine[s]["best_val_loss"], bayes[s]["best_val_loss"]) for s in paired]
        low, high = paired_ratio_ci(losses)
        loss_ratio = sum(a for a, _ in losses) / sum(b for _, b in losses)
        epoch_ratio = sum(mine[s]["epochs"] for s in paired) / sum(bayes[s]["epochs"] for s in paired)
        wins = sum(a <= b for a, b in losses)
        print(
            f"\n{label} / bayes over {len(paired)} paired seeds: best loss ratio {loss_ratio:.3f} "
            f"(95% CI {low:.3f}-{high:.3f}; goal <= 1), epochs ratio {epoch_ratio:.2f} (goal <= 0.5); "
            f"as good or better in {wins}/{len(paired)} seeds"
        )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=24, help="trial budget of every sweep")
    parser.add_argument("--epochs", type=int, default=27, help="epochs of a full (unpruned) trial")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2, 3, 4])
    parser.add_argument("--strategies", nargs="+", default=["random", "bayes", "hyperband"])
    parser.add_argument(
        "--set",
        dest="extra",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="an extra Hydra override for every sweep (repeatable)",
    )
    parser.add_argument(
        "--label",
        help="name of these sweeps in the table (default: the strategy), "
        "e.g. hyperband-m3 for a variant made with --set",
    )
    parser.add_argument(
        "--jobs", type=int, default=2, help="sweeps run at once (each trains on one thread; wall times then overlap)"
    )
    parser.add_argument(
        "--merge",
        type=Path,
        nargs="+",
        metavar="JSON",
        help="run nothing: print the table of earlier bench_sweep.json files (a later file's (label, seed) wins)",
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "outputs" / "bench_sweep" / time.strftime("%Y-%m-%d_%H-%M-%S")
    )
    args = parser.parse_args(argv)
    if args.label and len(args.strategies) != 1:
        parser.error("--label names the sweeps of one strategy: give a single --strategies")
    if args.merge:
        merged = {}
        for path in args.merge:
            merged.update({(r.get("label", r["strategy"]), r["seed"]): r for r in json.loads(path.read_text())})
        print_table(list(merged.values()))
        return 0
    args.out = args.out.resolve()  # the sweeps run from its parent
    args.out.mkdir(parents=True, exist_ok=True)

    rows: list[dict] = []
    lock = threading.Lock()

    def one(strategy: str, seed: int) -> None:
        row = run_sweep(strategy, seed, args.trials, args.epochs, args.out / f"{strategy}_s{seed}", args.extra)
        row["label"] = args.label or strategy
        print(
            f"{row['label']:>12} seed {seed}: best {row['best_val_loss']:.5f}  epochs {row['epochs']:4d}"
            f"  pruned {row['pruned']:2d}/{row['trials']}  {row['wall_s']:.0f}s",
            flush=True,
        )
        with lock:  # saved after every sweep: an interrupted bench keeps what it finished
            rows.append(row)
            (args.out / "bench_sweep.json").write_text(json.dumps(rows, indent=1))

    with ThreadPoolExecutor(args.jobs) as pool:  # each sweep is its own process
        list(pool.map(one, *zip(*[(s, seed) for s in args.strategies for seed in args.seeds])))
    print_table(rows)
    print(f"Sweeps and bench_sweep.json in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
