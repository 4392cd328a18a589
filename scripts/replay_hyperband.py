#!/usr/bin/env python
"""Replay Optuna's Hyperband pruner over the learning curves of finished unpruned sweeps.

For each sweep directory (a ``sweeper=bayes`` or ``random`` sweep: every trial trained all its
epochs), the trials are fed in their order, epoch by epoch, to a real ``HyperbandPruner`` in an
in-memory study of the given name (brackets hash the study name and trial number). It prints
the epochs the pruner would have spent, whether the sweep's best trial survives, and the first
trial whose TPE "below" set (the trials TPE counts as best, with Optuna's ranking of pruned
trials) differs from the full sweep's: up to there, a hyperband sweep with the same sampler
seed proposes the same configurations. A cheap way to choose pruner settings on a finished sweep.

    python scripts/replay_hyperband.py outputs/bench_sweep/*/bayes_s* --min-resource 3 --reduction-factor 4
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
from pathlib import Path


def curves(sweep: Path) -> list[list[float]]:
    """Per-epoch validation losses of every job, in job (= trial) order."""
    runs = sorted(sweep.glob("*/run.json"), key=lambda p: int(p.parent.name))
    return [[epoch["val_loss"] for epoch in json.loads(p.read_text())["history"]] for p in runs]


def replay(losses: list[list[float]], study_name: str, min_resource: int, reduction_factor: int):
    """Epochs spent, whether the best trial is kept, and the first trial sampled differently."""
    import optuna
    from optuna.samplers._tpe.sampler import _split_trials, default_gamma
    from optuna.trial import TrialState

    max_resource = max(map(len, losses))
    study = optuna.create_study(
        study_name=study_name,
        pruner=optuna.pruners.HyperbandPruner(
            min_resource=min_resource, max_resource=max_resource, reduction_factor=reduction_factor
        ),
    )
    epochs, diverged = 0, None
    for number, curve in enumerate(losses):
        trial = study.ask()
        for step, value in enumerate(curve, 1):
            trial.report(value, step)
            if step < len(curve) and trial.should_prune():
                study.tell(trial, state=TrialState.PRUNED)
                break
        else:
            study.tell(trial, min(curve))
        epochs += step
        finished = study.get_trials(deepcopy=False)
        n_below = default_gamma(len(finished))
        below, _ = _split_trials(study, finished, n_below)
        full = sorted(range(number + 1), key=lambda i: min(losses[i]))[:n_below]
        if diverged is None and number + 1 >= 5 and {t.number for t in below} != set(full):
            diverged = number + 1  # trial number of the first proposal that can differ
    best = min(range(len(losses)), key=lambda i: min(losses[i]))
    kept = study.trials[best].state == TrialState.COMPLETE
    return epochs / sum(map(len, losses)), kept, diverged


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("sweeps", type=Path, nargs="+", help="finished sweep directories")
    parser.add_argument("--min-resource", type=int, default=3)
    parser.add_argument("--reduction-factor", type=int, default=4)
    parser.add_argument(
        "--study-name",
        default="bench_hyperband_s{seed}",
        help="study name of the replayed sweep; {seed} is the number after '_s' "
        "in the directory name (bench_sweep.py's names)",
    )
    args = parser.parse_args(argv)
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    ratios, kept_count, divergences = [], 0, []
    for sweep in args.sweeps:
        losses = curves(sweep)
        if not losses:
            print(f"{sweep}: no run.json found, skipped", file=sys.stderr)
            continue
        seed = sweep.name.rpartition("_s")[2]
        name = args.study_name.format(seed=seed)
        ratio, kept, diverged = replay(losses, name, args.min_resource, args.reduction_factor)
        ratios.append(ratio)
        kept_count += kept
        divergences.append(diverged)
        print(
            f"{sweep}: epochs {ratio:.2f} of the full sweep, best trial {'kept' if kept else 'PRUNED'}, "
            f"first differing proposal: {'none' if diverged is None else f'trial {diverged}'}"
        )
    if not ratios:
        return 1
    never = sum(d is None for d in divergences)
    print(
        f"\nm={args.min_resource} r={args.reduction_factor}: epochs {statistics.mean(ratios):.3f} of "
        f"the full sweeps, best trial kept in {kept_count}/{len(ratios)}, same proposals throughout "
        f"in {never}/{len(ratios)}"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
