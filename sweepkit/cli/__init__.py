"""The ``sweepkit`` command: summarize, analyze, compare, list, export, cleanup, monitor,
verify, prune and report, plus the commands other packages add through the ``sweepkit.commands``
entry-point group. Each subcommand loads its module only when it runs, so ``sweepkit --help``
stays fast and never imports torch, wandb, optuna or numpy.

The names below are the API a command of another package uses (``docs/cli.md``); they load lazily.
"""

from __future__ import annotations

import sys
from importlib import import_module
from typing import Any

from sweepkit.cli._app import build_parser, main

_EXPORTS = {
    "CliError": "sweepkit.cli._sweeps",
    "Sweep": "sweepkit.cli._sweeps",
    "display_path": "sweepkit.cli._sweeps",
    "find_sweeps": "sweepkit.cli._sweeps",
    "write_file": "sweepkit.cli._render",
    "leaderboard_page": "sweepkit.cli._report",
    "leaderboard_path": "sweepkit.cli._report",
}

__all__ = ["build_parser", "main", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sweepkit.cli' has no attribute {name!r}")
    return getattr(import_module(module), name)


if __name__ == "__main__":
    sys.exit(main())
