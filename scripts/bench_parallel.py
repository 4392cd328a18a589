#!/usr/bin/env python
"""Asynchronous vs batch-synchronous trials: wall time and slot utilisation with pruning.

Runs the same Hyperband sweep (``train.py -m``, real Wind data, small DMixer, one thread per
job) through the joblib launcher with ``n_jobs`` trials at once, once per mode
(``hydra.sweeper.async_trials=true|false``). Busy job-seconds come from each job's
``run.json`` (``ended_at - started_at``); utilisation = busy / (n_jobs x span), where span runs
from the first job's start to the last job's end (the process wall time, which adds the sweep's
start-up, is printed too). Goal: asynchronous utilisation >= 85% and wall time >= 1.3x shorter
than batch mode when a third or more of the trials are pruned.

    nice python scripts/bench_parallel.py --trials 12 --epochs 9 --n-jobs 2 --repeats 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import time
from pathlib import Path

from _bench_common import REPO, run_multirun, wind_file  # noqa: E402

WORKLOAD = [
    "dataset=Wind",
    f"dataset.path={wind_file()}",
    "dataset.max_rows=6000",
    "dataset.lookback=48",
    "dataset.horizon=12",
    "trainer.batch_size=128",
    "trainer.patience=null",
    "trainer.num_threads=1",
    "model=dmixer",
    "model.d_model=16,32",
    "model.d_ff=16,32",
    "model.n_blocks=1,2",
    "sweeper=hyperband",
    "hydra/launcher=joblib",
]


def run_mode(async_trials: bool, args: argparse.Namespace, sweep_dir: Path) -> dict:
    """One multirun in the given mode; returns wall time, span, busy seconds and statuses."""
    records, wall = run_multirun(
        [
            *WORKLOAD,
            f"hydra.launcher.n_jobs={args.n_jobs}",
            f"hydra.sweeper.n_jobs={args.n_jobs}",
            f"hydra.sweeper.async_trials={str(async_trials).lower()}",
            f"trainer.max_epochs={args.epochs}",
            f"hydra.sweeper.n_trials={args.trials}",
            f"hydra.sweeper.sampler.seed={args.seed}",
        ],
        sweep_dir,
        f"async_trials={async_trials}",
    )
    busy = sum(r["ended_at"] - r["started_at"] for r in records)
    span = max(r["ended_at"] for r in records) - min(r["started_at"] for r in records)
    return {
        "mode": "async" if async_trials else "batch",
        "trials": len(records),
        "wall_s": wall,
        "span_s": span,
        "busy_s": busy,
        "utilisation": busy / (args.n_jobs * span),
        "utilisation_wall": busy / (args.n_jobs * wall),
        "pruned": sum(r["status"] == "pruned" for r in records),
        "epochs": sum(r["epoch"] for r in records),
        "best": min(r["best_value"] for r in records if r["best_value"] is not None),
        "s_per_epoch": busy / max(1, sum(r["epoch"] for r in records)),
    }


HEADER = (
    f"{'mode':>5} | {'wall s':>6} | {'span s':>6} | {'busy s':>6} | {'util':>5} | "
    f"{'util(wall)':>10} | {'pruned':>6} | {'epochs':>6} | {'s/epoch':>7} | {'best':>8}"
)


def print_row(r: dict, flush: bool = False) -> None:
    print(
        f"{r['mode']:>5} | {r['wall_s']:6.1f} | {r['span_s']:6.1f} | {r['busy_s']:6.1f} | "
        f"{r['utilisation']:5.0%} | {r['utilisation_wall']:10.0%} | "
        f"{r['pruned']:3.0f}/{r['trials']:<2.0f} | {r['epochs']:6.0f} | {r['s_per_epoch']:7.2f} | {r['best']:8.5f}",
        flush=flush,
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12, help="trial budget of both sweeps")
    parser.add_argument("--epochs", type=int, default=9, help="epochs of a full (unpruned) trial")
    parser.add_argument("--n-jobs", type=int, default=2, help="trials in flight (joblib workers)")
    parser.add_argument("--seed", type=int, default=0, help="sampler seed")
    parser.add_argument(
        "--repeats", type=int, default=1, help="pairs of runs (batch, async alternate; medians are compared)"
    )
    parser.add_argument(
        "--out", type=Path, default=REPO / "outputs" / "bench_parallel" / time.strftime("%Y-%m-%d_%H-%M-%S")
    )
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for repeat in range(args.repeats):
        for mode in (False, True):
            name = ("async" if mode else "batch") + f"_{repeat}"
            rows.append(run_mode(mode, args, args.out / name))
            print_row(rows[-1], flush=True)
    (args.out / "bench_parallel.json").write_text(json.dumps(rows, indent=1))

    print(
        f"\n{args.trials} trials x up to {args.epochs} epochs, hyperband, joblib n_jobs={args.n_jobs}, "
        f"{args.repeats} run(s) per mode (median)"
    )
    print(HEADER)
    medians = {}
    for mode in ("batch", "async"):
        mine = [r for r in rows if r["mode"] == mode]
        medians[mode] = {k: statistics.median(r[k] for r in mine) for k in mine[0] if k != "mode"}
        print_row({"mode": mode, **medians[mode]})
    batch, fast = medians["batch"], medians["async"]
    print(
        f"\nspan ratio batch/async: {batch['span_s'] / fast['span_s']:.2f}x (goal >= 1.3x); wall ratio "
        f"{batch['wall_s'] / fast['wall_s']:.2f}x; async utilisation {fast['utilisation']:.0%} "
        f"(goal >= 85%), batch {batch['utilisation']:.0%}; pruned batch {batch['pruned']:.0f}/"
        f"{batch['trials']:.0f}, async {fast['pruned']:.0f}/{fast['trials']:.0f}; seconds per epoch "
        f"batch {batch['s_per_epoch']:.2f}, async {fast['s_per_epoch']:.2f} (machine load)"
    )
    print(
        f"at equal work and machine speed the wall ratio would be the utilisation ratio: "
        f"{fast['utilisation'] / batch['utilisation']:.2f}x"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
