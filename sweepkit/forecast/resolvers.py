"""Config resolvers of the forecasting app: its sweep follows ``objective`` (one or a list).

``train.py`` registers them before Hydra composes the config (no torch is imported)::

    hydra.sweeper.direction: ${objective_directions:${objective},${sweepkit.mode}}
    hydra.sweeper.pruner._target_: ${objective_pruner:${objective},optuna.pruners.HyperbandPruner}

With ``objective=[val_loss,n_params]`` the sweep has two objectives (both minimised in the
sweepkit.mode) and no pruner: Optuna cannot prune a multi-objective study, so the app turns
Hyperband off for it, and the sweep's first line says ``pruner=NopPruner``.
"""

from __future__ import annotations

from typing import Any

from omegaconf import ListConfig, OmegaConf

from sweepkit._settings import DIRECTION_OF


def _several(objective: Any) -> bool:
    return isinstance(objective, (list, tuple, ListConfig)) and len(objective) > 1


def objective_directions(objective: Any, mode: str) -> Any:
    """``minimize`` (or ``maximize``) for one objective; a list of them for several."""
    direction = DIRECTION_OF.get(str(mode))
    if direction is None:
        raise ValueError(f"sweepkit.mode={mode!r}: use min or max")
    return [direction] * len(objective) if _several(objective) else direction


def objective_pruner(objective: Any, target: str) -> str:
    """The pruner ``target`` for one objective; Optuna's NopPruner for several."""
    return "optuna.pruners.NopPruner" if _several(objective) else target


def register() -> None:
    """Register the resolvers (idempotent)."""
    for name, fn in (("objective_directions", objective_directions), ("objective_pruner", objective_pruner)):
        if not OmegaConf.has_resolver(name):
            OmegaConf.register_new_resolver(name, fn)
