"""The plugin class Hydra instantiates for ``hydra/sweeper=sweepkit`` (a thin shim).

Importing it registers sweepkit's configs in Hydra's ConfigStore (``sweepkit.sweeper``) and
changes nothing else in Hydra; the top-k callback reaches the jobs through ``hydra.callbacks``,
which the sweeper's config fills in.
"""

import os
import sys
from typing import Any, List, Optional

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

import sweepkit.sweeper  # noqa: F401  (registers sweepkit's configs in Hydra's ConfigStore)
from sweepkit.errors import SweepkitError


class SweepkitSweeper(Sweeper):
    """Optuna sweeper with pruning and a resumable study; see ``sweepkit.sweeper``."""

    def __init__(self, topk: Any = None, **settings: Any) -> None:
        """``topk`` is read by the top-k callback the config adds to ``hydra.callbacks``."""
        from sweepkit.sweeper._impl import SweepkitSweeperImpl  # optuna loads only for a sweep

        self.sweeper = SweepkitSweeperImpl(**settings)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Optional[Any]:
        """Run the sweep. One of sweepkit's errors (a setting, too many failed trials) or Ctrl-C
        ends it with one line on stderr, not a traceback (``HYDRA_FULL_ERROR=1`` shows it)."""
        try:
            return self.sweeper.sweep(arguments)
        except (SweepkitError, KeyboardInterrupt) as err:
            if os.environ.get("HYDRA_FULL_ERROR") == "1":
                raise
            if isinstance(err, KeyboardInterrupt):
                print(
                    "[sweepkit] interrupted (Ctrl-C): the sweep stopped; run the same command to resume it",
                    file=sys.stderr,
                )
                raise SystemExit(130) from None
            print(f"[sweepkit] ERROR: {err}", file=sys.stderr)
            raise SystemExit(1) from None
