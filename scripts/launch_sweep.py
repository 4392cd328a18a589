#!/usr/bin/env python
"""Start a sweep the short way: ``launch_sweep.py MODEL --dataset NAME [--enhanced] [--count N]``.

It runs the same Hydra multirun as ``python train.py -m model=MODEL dataset=NAME sweeper=...``:
``--enhanced`` picks Bayesian search with Hyperband pruning (``sweeper=hyperband``), otherwise
plain Bayesian search (``sweeper=bayes``); ``--count`` sets the trial budget. Further arguments
are passed on as overrides. ``--dry-run`` prints the composed sweeper config and the parsed
search space, and runs nothing.
"""

from __future__ import annotations

import argparse
import shlex
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def parse_args(argv: list[str] | None) -> tuple[argparse.Namespace, list[str]]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("model", help="model config name (conf/model/), e.g. s5 or dmixer")
    parser.add_argument("--dataset", required=True, help="dataset config name, e.g. Solar or Wind")
    parser.add_argument("--enhanced", action="store_true", help="Hyperband early stopping")
    parser.add_argument("--count", type=int, default=None, help="number of trials (total budget)")
    parser.add_argument("--dry-run", action="store_true", help="print the sweep, run nothing")
    args, extra = parser.parse_known_args(argv)
    if args.count is not None and args.count < 1:
        parser.error(f"--count must be at least 1, got {args.count}")
    unknown = [arg for arg in extra if arg.startswith("-")]
    if unknown:
        parser.error(f"unknown option(s) {' '.join(unknown)}; overrides look like key=value")
    return args, extra


def sweep_overrides(args: argparse.Namespace, extra: list[str]) -> list[str]:
    overrides = [
        f"model={args.model}",
        f"dataset={args.dataset}",
        f"sweeper={'hyperband' if args.enhanced else 'bayes'}",
    ]
    if args.count is not None:
        overrides.append(f"hydra.sweeper.n_trials={args.count}")
    return overrides + extra


def dry_run(overrides: list[str]) -> int:
    """Compose the sweep's config and print the sweeper settings and the search space."""
    sys.path.insert(0, str(REPO))  # hydra_plugins/ and sweepkit/ of this checkout
    from hydra import compose, initialize_config_dir
    from hydra.core.override_parser.overrides_parser import OverridesParser
    from omegaconf import OmegaConf

    from sweepkit.forecast import resolvers
    from sweepkit.sweeper import SWEEPER_TARGET, SweepConfigError, parse_search_space
    from sweepkit.sweeper._search_space import check_keys

    resolvers.register()  # as train.py does: the sweep follows `objective`

    parsed = OverridesParser.create().parse_overrides(overrides)
    fixed = [o.input_line for o in parsed if not o.is_sweep_override()]
    sweeps = [o.input_line for o in parsed if o.is_sweep_override()]
    try:
        with initialize_config_dir(config_dir=str(REPO / "conf"), version_base=None):
            cfg = compose("config", overrides=fixed, return_hydra_config=True)
        sweeper = cfg.hydra.sweeper
        print(f"Sweeper (hydra.sweeper):\n{OmegaConf.to_yaml(sweeper, resolve=True)}")
        task = [o for o in fixed if not o.startswith("hydra.")]
        if sweeper.get("_target_") != SWEEPER_TARGET:
            print("Hydra's basic sweeper: one job per combination of the comma lists:")
            print("\n".join(f"  {s}" for s in sweeps) or "  (no lists: a single job)")
            return 0
        space = parse_search_space(OmegaConf.to_container(sweeper.params or {}), task + sweeps)
        check_keys(space, cfg)
    except (SweepConfigError, Exception) as err:  # composition errors come in several types
        print(f"error: {err}", file=sys.stderr)
        return 2
    print(f"Search space ({len(space.distributions)} parameters):")
    for name, distribution in space.distributions.items():
        print(f"  {name}: {distribution}")
    print("Fixed for every trial: " + (" ".join(space.fixed.values()) or "(none)"))
    return 0


def main(argv: list[str] | None = None) -> int:
    args, extra = parse_args(argv)
    overrides = sweep_overrides(args, extra)
    command = [sys.executable, str(REPO / "train.py"), "-m", *overrides]
    print("Command: " + shlex.join(["python", "train.py", "-m", *overrides]), flush=True)
    if args.dry_run:
        return dry_run(overrides)
    return subprocess.call(command)


if __name__ == "__main__":
    sys.exit(main())
