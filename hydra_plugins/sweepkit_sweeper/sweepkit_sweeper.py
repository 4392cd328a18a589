"""The plugin class Hydra instantiates for ``hydra/sweeper=sweepkit`` (a thin shim)."""

from typing import Any, List, Optional

from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from omegaconf import DictConfig

from sweepkit.sweeper._presets import register_presets
from sweepkit.sweeper.config import register_configs

register_configs()
register_presets()


class SweepkitSweeper(Sweeper):
    """Optuna sweeper with pruning and a resumable study; see ``sweepkit.sweeper``."""

    def __init__(self, **settings: Any) -> None:
        from sweepkit.sweeper._impl import SweepkitSweeperImpl  # optuna loads only for a sweep

        self.sweeper = SweepkitSweeperImpl(**settings)

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.sweeper.setup(hydra_context=hydra_context, task_function=task_function, config=config)

    def sweep(self, arguments: List[str]) -> Optional[Any]:
        return self.sweeper.sweep(arguments)
