"""``prune``: change how many checkpoints a sweep keeps (a dry run unless ``--live``).

Opening a sweep never changes its ``top_k``; this command is the explicit way to. A smaller
``--top-k`` deletes the checkpoints ranked below it, a larger one deletes nothing.
"""

from __future__ import annotations

import argparse

from sweepkit.cli._render import print_json, style
from sweepkit.cli._sweeps import latest_sweep
from sweepkit.errors import CliError


def run(args: argparse.Namespace) -> int:
    from sweepkit.manifest import ManifestError, SweepManager, SweepRunningError

    sweep = latest_sweep(args.path)
    manager = SweepManager(sweep.path, lock_timeout=30)
    try:
        with manager:
            plan = manager.set_top_k(args.top_k, apply=args.live)  # refuses a running sweep
    except SweepRunningError as exc:
        raise CliError(f"{sweep.name} is still running ({exc.activity}); change its top_k after it ends") from None
    except ManifestError as exc:
        raise CliError(str(exc)) from None
    if args.json:
        print_json({"sweep": sweep.name, "top_k": args.top_k, "live": args.live, "actions": plan})
        return 0
    print(style(f"Sweep {sweep.name}", "bold"))
    for action in plan:
        print(f"  {action}")
    if not args.live:
        print("  dry run: nothing changed; add --live to apply")
    return 0
