"""The plugin class Hydra instantiates for ``hydra/sweeper=sweepkit`` (a thin shim)."""

import logging
import os
import sys
from typing import Any, List, Optional

from hydra.core.plugins import Plugins
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from sweepkit.sweeper._presets import OPTUNA_PRESETS, register_presets
from sweepkit.sweeper.config import SWEEPER_TARGET, register_configs

register_configs()
register_presets()

log = logging.getLogger("sweepkit.sweeper")

#: The stock plugin's class, which lightning-hydra-template's hparams_search files name.
STOCK_TARGET = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"


class SweepkitSweeper(Sweeper):
    """Optuna sweeper with pruning and a resumable study; see ``sweepkit.sweeper``."""

    def __init__(self, topk: Any = None, **settings: Any) -> None:
        from sweepkit.sweeper._impl import SweepkitSweeperImpl  # optuna loads only for a sweep

        self.topk = topk
        self.sweeper = SweepkitSweeperImpl(**settings)

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
        from sweepkit.hooks import install_topk

        install_topk(self.topk, hydra_context.callbacks, config)
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Optional[Any]:
        """Run the sweep. A configuration error or Ctrl-C ends it with one line on stderr, not
        a traceback (``HYDRA_FULL_ERROR=1`` shows the traceback)."""
        from sweepkit.sweeper._search_space import SweepConfigError

        try:
            return self.sweeper.sweep(arguments)
        except (SweepConfigError, KeyboardInterrupt) as err:
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


def use_chosen_preset(config: DictConfig) -> None:
    """A config that selects a sweepkit preset but still names the stock plugin's class in
    ``hydra.sweeper._target_`` (the line every stock ``hparams_search`` file has) runs sweepkit's
    sweeper, with a warning saying which line to delete."""
    choice = OmegaConf.select(config, "hydra.runtime.choices", default=None) or {}
    chosen = choice.get("hydra/sweeper")
    target = OmegaConf.select(config, "hydra.sweeper._target_", default=None)
    if target != STOCK_TARGET or chosen not in OPTUNA_PRESETS + ("sweepkit",):
        return
    log.warning(
        "hydra/sweeper=%s is sweepkit's, but hydra.sweeper._target_ names the stock "
        "OptunaSweeper; running sweepkit's sweeper. Delete the line `_target_: %s` "
        "to silence this.",
        chosen,
        STOCK_TARGET,
    )
    with read_write(config.hydra.sweeper), open_dict(config.hydra.sweeper):
        config.hydra.sweeper._target_ = SWEEPER_TARGET


def _patch_sweeper_choice() -> None:
    original = Plugins.instantiate_sweeper
    if getattr(original, "_sweepkit", False):
        return

    def instantiate_sweeper(
        self: Plugins, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> Sweeper:
        use_chosen_preset(config)
        return original(self, hydra_context=hydra_context, task_function=task_function, config=config)

    instantiate_sweeper._sweepkit = True  # type: ignore[attr-defined]
    Plugins.instantiate_sweeper = instantiate_sweeper  # type: ignore[method-assign]


_patch_sweeper_choice()
