"""The ``sweepkit`` command: summarize, analyze, compare, list, export, cleanup, monitor,
verify and report. Each subcommand loads its module only when it runs, so ``sweepkit --help``
stays fast and never imports torch, wandb, optuna or numpy."""

from __future__ import annotations

import sys

from sweepkit.cli._app import build_parser, main

__all__ = ["build_parser", "main"]

if __name__ == "__main__":
    sys.exit(main())
