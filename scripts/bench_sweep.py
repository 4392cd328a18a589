#!/usr/bin/env python
"""Compare sweep strategies at equal trial budgets: best validation loss and epochs spent.

Runs ``train.py -m`` on the real Wind data with a small DMixer for each strategy (random,
bayes, hyperband) and seed, then prints a table. Early stopping is off, so the epoch count
measures what pruning saves. Goal: hyperband reaches the same or a better best loss than
bayes with at most half the epochs.

    nice python scripts/bench_sweep.py --trials 12 --epochs 9 --seeds 0 1 2
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import time
from pathlib import Path

from _bench_common import REPO, run_multirun, wind_file  # noqa: E402

WORKLOAD = ["dataset=Wind", f"dataset.path={wind_file()}",
            "dataset.max_rows=2000", "dataset.lookback=24", "dataset.horizon=12",
            "trainer.batch_size=256", "trainer.patience=null", "trainer.num_threads=1",
            "model=dmixer", "model.d_model=16,32,64", "model.d_ff=16,32", "model.kernel_size=13,25"]


def run_sweep(strategy: str, seed: int, trials: int, epochs: int, sweep_dir: Path) -> dict:
    """One multirun; returns best value, total epochs, pruned count and wall time."""
    records, wall = run_multirun([*WORKLOAD, f"sweeper={strategy}", f"trainer.max_epochs={epochs}",
                                  f"hydra.sweeper.n_trials={trials}", f"hydra.sweeper.sampler.seed={seed}"],
                                 sweep_dir, f"{strategy} seed {seed}")
    values = [r["best_value"] for r in records if r["status"] in ("complete", "pruned")
              and r["best_value"] is not None]
    return {
        "strategy": strategy, "seed": seed, "trials": len(records),
        "best_val_loss": min(values), "epochs": sum(r["epoch"] for r in records),
        "pruned": sum(r["status"] == "pruned" for r in records), "wall_s": wall,
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--trials", type=int, default=12, help="trial budget of every sweep")
    parser.add_argument("--epochs", type=int, default=9, help="epochs of a full (unpruned) trial")
    parser.add_argument("--seeds", type=int, nargs="+", default=[0, 1, 2])
    parser.add_argument("--strategies", nargs="+", default=["random", "bayes", "hyperband"])
    parser.add_argument("--out", type=Path, default=REPO / "outputs" / "bench_sweep" /
                        time.strftime("%Y-%m-%d_%H-%M-%S"))
    args = parser.parse_args(argv)
    args.out.mkdir(parents=True, exist_ok=True)
    rows = []
    for strategy in args.strategies:
        for seed in args.seeds:
            row = run_sweep(strategy, seed, args.trials, args.epochs, args.out / f"{strategy}_s{seed}")
            rows.append(row)
            print(f"{strategy:>9} seed {seed}: best {row['best_val_loss']:.5f}  epochs {row['epochs']:4d}"
                  f"  pruned {row['pruned']:2d}/{row['trials']}  {row['wall_s']:.0f}s", flush=True)
    (args.out / "bench_sweep.json").write_text(json.dumps(rows, indent=1))

    print(f"\n{args.trials} trials x up to {args.epochs} epochs, seeds {args.seeds} (mean over seeds)")
    print(f"{'strategy':>9} | {'best val loss':>13} | {'epochs':>6} | {'pruned':>6} | {'wall s':>6}")
    summary = {}
    for strategy in args.strategies:
        mine = [r for r in rows if r["strategy"] == strategy]
        summary[strategy] = {k: statistics.mean(r[k] for r in mine)
                             for k in ("best_val_loss", "epochs", "pruned", "wall_s")}
        s = summary[strategy]
        print(f"{strategy:>9} | {s['best_val_loss']:13.5f} | {s['epochs']:6.1f} | {s['pruned']:6.1f}"
              f" | {s['wall_s']:6.0f}")
    if "bayes" in summary and "hyperband" in summary:
        loss_ratio = summary["hyperband"]["best_val_loss"] / summary["bayes"]["best_val_loss"]
        epoch_ratio = summary["hyperband"]["epochs"] / summary["bayes"]["epochs"]
        wins = sum(h["best_val_loss"] <= b["best_val_loss"] for h, b in zip(
            [r for r in rows if r["strategy"] == "hyperband"], [r for r in rows if r["strategy"] == "bayes"]))
        print(f"\nhyperband / bayes: best loss ratio {loss_ratio:.3f} (goal <= 1), epochs ratio "
              f"{epoch_ratio:.2f} (goal <= 0.5); hyperband as good or better in {wins}/{len(args.seeds)} seeds")
    print(f"Sweeps and bench_sweep.json in {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
