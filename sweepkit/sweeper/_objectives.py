"""A sweep's objectives: their directions, and the values a task returns for them.

This module imports neither optuna nor torch, so a job's callback can use it::

    from sweepkit.sweeper import named_objectives

    named_objectives(config.hydra.sweeper, job_return.return_value)
    # [Objective(name='val_loss', direction='minimize', value=0.21),
    #  Objective(name='n_params', direction='minimize', value=1574.0)]
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, NamedTuple, Optional, Sequence

from omegaconf import OmegaConf

from sweepkit._settings import DIRECTION_OF
from sweepkit.errors import BadReturn, SweepConfigError


class Objective(NamedTuple):
    name: str  # a metric name, or value0, value1, ... when the sweep names none
    direction: str  # "minimize" or "maximize"
    value: float


def directions_of(direction: Any) -> list[str]:
    """``hydra.sweeper.direction`` (one or a list; min/max allowed) as minimize/maximize."""
    if OmegaConf.is_config(direction):
        direction = OmegaConf.to_container(direction, resolve=True)
    given = direction if isinstance(direction, (list, tuple)) else [direction]
    directions = [DIRECTION_OF.get(getattr(d, "name", str(d)).lower()) for d in given]
    if not given or None in directions:
        raise SweepConfigError(
            f"hydra.sweeper.direction={direction!r}: use minimize or maximize, or a "
            "list of them, one per objective (e.g. [minimize, maximize])"
        )
    return directions  # type: ignore[return-value]


def objective_values(
    value: Any, n: int, names: Optional[Sequence[str]], trial: Optional[int] = None
) -> tuple[list[float], list[str] | None]:
    """The task's return as one float per objective, and the metric names read from it.

    A task returns a number (one objective), a tuple or list (in the order of ``direction``),
    or a dict keyed by metric names (``metric_names``, or its own keys when those are unset).
    """
    at = f" for trial {trial}" if trial is not None else ""
    if OmegaConf.is_config(value):
        value = OmegaConf.to_container(value, resolve=True)
    found = None
    if isinstance(value, Mapping):
        keys = [str(k) for k in value]
        if names is None:
            if len(keys) != n:
                raise BadReturn(
                    f"returned {len(keys)} metrics ({', '.join(keys)}){at} for {n} objective(s): set "
                    f"hydra.sweeper.metric_names to the {n} to optimise, in the order of "
                    "hydra.sweeper.direction"
                )
            names = found = keys
        missing = [m for m in names if m not in value]
        if missing:
            raise BadReturn(
                f"returned no {', '.join(map(repr, missing))} (it returned {', '.join(keys)}){at}: fix "
                "hydra.sweeper.metric_names or what the task returns"
            )
        items = [value[m] for m in names]
    elif n == 1:
        items = [value]
    elif hasattr(value, "__iter__") and not isinstance(value, (str, bytes)):
        items = list(value)  # a tuple, list, numpy array, ...
    else:
        raise BadReturn(
            f"returned {value!r} ({type(value).__name__}){at}; with {n} objectives the task must return "
            "a tuple or list of numbers, or a dict keyed by the metric names"
        )
    if len(items) != n:
        raise BadReturn(
            f"returned {len(items)} value(s) {items!r}{at} but hydra.sweeper.direction has {n}: make "
            "them match (e.g. hydra.sweeper.direction=[minimize,minimize] for two)"
        )
    values = []
    for item in items:
        try:
            if isinstance(item, bool) or item is None:
                raise TypeError
            values.append(float(item))
        except (TypeError, ValueError):
            raise BadReturn(
                f"returned {value!r} ({type(value).__name__}){at}; a sweep needs it to return the "
                "objective as a number (float)" + (" per objective" if n > 1 else "")
            ) from None
    return values, found


def named_objectives(sweeper: Any, value: Any) -> list[Objective]:
    """Each objective of a sweep with the value a task returned for it.

    ``sweeper`` is the job's ``hydra.sweeper`` config (``direction``, ``metric_names``);
    names come from ``metric_names``, else from the keys of a returned dict, else they are
    ``value0``, ``value1``, ... Raises :class:`BadReturn` for a value that does not fit.
    """
    directions = directions_of(sweeper.get("direction", "minimize"))
    names = sweeper.get("metric_names")
    names = [str(n) for n in names] if names is not None else None
    values, found = objective_values(value, len(directions), names)
    names = names or found or [f"value{i}" for i in range(len(directions))]
    return [Objective(*item) for item in zip(names, directions, values)]
