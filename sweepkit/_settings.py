"""How a sweep's direction is spelled, and what the sweeper's config says about it.

Optuna speaks of ``minimize``/``maximize``, the top-k manifest of ``min``/``max``; both spellings
are accepted wherever a user writes one, and these two maps are the only translation.
"""

from __future__ import annotations

from typing import Any

from omegaconf import OmegaConf

#: ``min``/``minimize`` -> ``min``; ``max``/``maximize`` -> ``max``.
MODE_OF = {"min": "min", "minimize": "min", "max": "max", "maximize": "max"}
#: ``min``/``minimize`` -> ``minimize``; ``max``/``maximize`` -> ``maximize``.
DIRECTION_OF = {"min": "minimize", "minimize": "minimize", "max": "maximize", "maximize": "maximize"}


def plain(value: Any) -> Any:
    """A config value as plain Python (a ListConfig becomes a list)."""
    return OmegaConf.to_container(value, resolve=True) if OmegaConf.is_config(value) else value


def direction_modes(hydra_cfg: Any) -> list[str] | None:
    """``min``/``max`` for each of ``hydra.sweeper.direction`` (``hydra_cfg`` is the ``hydra``
    node); None when it has none, or one that is not a direction."""
    try:
        direction = plain(OmegaConf.select(hydra_cfg, "sweeper.direction")) if hydra_cfg else None
    except Exception:  # an interpolation that does not resolve here
        return None
    modes = [MODE_OF.get(str(d)) for d in (direction if isinstance(direction, list) else [direction])]
    return None if not modes or None in modes else [m for m in modes if m is not None]


def sweeper_metric_names(hydra_cfg: Any, modes: list[str] | None, value: Any) -> list[str] | None:
    """The metric names of a sweep with several objectives: ``hydra.sweeper.metric_names``,
    else the keys of the dict the job returned (``value``), else ``value0``, ``value1``, ...;
    None for a sweep with one objective."""
    if not modes or len(modes) < 2:
        return None
    try:
        names = plain(OmegaConf.select(hydra_cfg, "sweeper.metric_names"))
    except Exception:
        names = None
    if names:
        return [str(n) for n in names]
    value = plain(value)
    if isinstance(value, dict) and len(value) == len(modes):
        return [str(k) for k in value]
    return [f"value{i}" for i in range(len(modes))]
