"""A sweep's settings (its metrics, their modes, ``top_k``) and where each comes from.

:func:`resolve_settings` is the one place that decides them, for the hooks, the Lightning
callback and the CLI alike. Optuna speaks of ``minimize``/``maximize``, the top-k manifest of
``min``/``max``; both spellings are accepted wherever a user writes one, and ``MODE_OF`` and
``DIRECTION_OF`` are the only translation.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Iterable, Mapping

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


#: A new sweep's defaults (the manifest's): its metric, mode and number of checkpoints kept.
DEFAULT_METRIC, DEFAULT_MODE, DEFAULT_TOP_K = "val_loss", "min", 3


@dataclass(frozen=True)
class Settings:
    """What a sweep ranks by: its metrics, one mode each, and how many checkpoints it keeps."""

    names: tuple[str, ...] = (DEFAULT_METRIC,)
    modes: tuple[str, ...] = (DEFAULT_MODE,)
    top_k: int = DEFAULT_TOP_K

    def __post_init__(self) -> None:
        if len(self.modes) == 1 and len(self.names) > 1:
            object.__setattr__(self, "modes", self.modes * len(self.names))
        if len(self.modes) != len(self.names):
            raise ValueError(
                f"mode {list(self.modes)!r} has {len(self.modes)} entries for {len(self.names)} metrics "
                f"{list(self.names)!r}: give one mode, or one per metric"
            )

    @property
    def metric_name(self) -> str:
        return self.names[0]

    @property
    def mode(self) -> str:
        return self.modes[0]

    @property
    def pareto(self) -> bool:
        return len(self.names) > 1

    def kept_by(self) -> str:
        """What keeps a checkpoint, in words: ``in top 3`` or ``on the front (top 3)``."""
        return f"on the front (top {self.top_k})" if self.pareto else f"in top {self.top_k}"


def resolve_settings(
    *,
    explicit: Mapping[str, Any] | None = None,
    stored: Mapping[str, Any] | None = None,
    config: Mapping[str, Any] | None = None,
    sweeper: Any = None,
    records: Iterable[Mapping[str, Any]] = (),
    value: Any = None,
    default_metric: str = "objective",
) -> Settings:
    """Each setting from the first source that has it, in this order:

    1. ``explicit``: what a caller set (``metric_name``, ``mode``, ``top_k``; a name or mode may
       be a list);
    2. ``stored``: the sweep's own (``.sweepkit/settings.json`` or its manifest, with
       ``objectives`` for several metrics): once a job registered, nothing else changes them;
    3. ``config``: the top-k callback's node of the sweep's composed config (same fields);
    4. ``sweeper``: Hydra's ``hydra`` node (its sweeper's ``direction`` and ``metric_names``),
       with ``value``, the job's return value, naming several metrics by its keys;
    5. ``records``: the first run record that names a ``metric_name`` / ``mode``;
    6. the defaults: ``default_metric`` (``objective``: a job's return value), ``min``, 3.

    A source's modes count only with its own metrics (or where it names none). One mode stands
    for every metric; a list of modes of another length than the names keeps its first; what is
    not a direction reads as ``min`` (callers check what users write).
    """
    layers = [dict(explicit or {}), _stored_layer(stored or {}), dict(config or {})]
    if isinstance(sweeper, Mapping) and not OmegaConf.is_config(sweeper):
        sweeper = OmegaConf.create(dict(sweeper))
    directions = direction_modes(sweeper)
    layers.append({"metric_name": sweeper_metric_names(sweeper, directions, value), "mode": directions})
    layers += [{k: r.get(k) for k in ("metric_name", "mode")} for r in records]
    names = _first(layers, "metric_name") or [default_metric]
    # a source's modes belong to its own metrics: they count only where it names none or these
    own = [layer for layer in layers if _first([layer], "metric_name") in (None, names)]
    modes = [MODE_OF.get(str(m), DEFAULT_MODE) for m in (_first(own, "mode") or [DEFAULT_MODE])]
    if len(modes) != len(names):
        modes = modes[:1] * len(names)
    top_k = next((int(layer["top_k"]) for layer in layers if _is_top_k(layer.get("top_k"))), DEFAULT_TOP_K)
    return Settings(tuple(str(n) for n in names), tuple(modes), top_k)


def _stored_layer(stored: Mapping[str, Any]) -> dict[str, Any]:
    objectives = stored.get("objectives")
    layer = dict(stored)
    if objectives:
        layer["metric_name"] = [o["name"] for o in objectives]
        layer["mode"] = [o["mode"] for o in objectives]
    return layer


def _first(layers: list[dict[str, Any]], key: str) -> list[Any] | None:
    for layer in layers:
        value = plain(layer.get(key))
        if isinstance(value, str) and "${" in value:
            continue  # an interpolation a reader of the saved config cannot resolve
        if value is not None and value != [] and value != "":
            return list(value) if isinstance(value, (list, tuple)) else [value]
    return None


def _is_top_k(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value >= 1
