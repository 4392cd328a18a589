"""Forecasting models, looked up by ``model.name``.

Every model maps ``(batch, lookback, channels)`` to ``(batch, horizon, channels)``. A model may
define ``optimizer_groups(lr, weight_decay)`` to give the optimiser its own parameter groups.
"""

from __future__ import annotations

import inspect
from importlib import import_module
from typing import Any

from sweepkit.errors import ConfigError

MODELS = {
    "dmixer": "sweepkit.forecast.models.dmixer:DMixer",
    "s5": "sweepkit.forecast.models.s5:S5Forecaster",
    "linear": "sweepkit.forecast.models.linear:LinearForecaster",
}


_SHAPE = ("self", "n_features", "lookback", "horizon")  # set from the data, not from model.*


def model_class(model_cfg: Any) -> type:
    """The class a ``model`` config names (``model.name``)."""
    name = dict(model_cfg).get("name")
    if name not in MODELS:
        raise ConfigError(f"model.name={name!r} is not a model: choose one of {sorted(MODELS)} (model=<name>)")
    module, cls_name = MODELS[name].split(":")
    cls: type = getattr(import_module(module), cls_name)
    return cls


def check_model_config(model_cfg: Any) -> None:
    """Refuse, before any data loads, a ``model.*`` key the model does not take or a value of
    the wrong kind for an ``int``/``float``/``bool`` argument (one line naming the key, the value
    and the fix; ConfigError)."""
    cls = model_class(model_cfg)
    name = dict(model_cfg)["name"]
    params = inspect.signature(cls.__init__).parameters
    known = [p for p, v in params.items() if p not in _SHAPE and v.kind != v.VAR_KEYWORD]
    open_ended = any(v.kind == v.VAR_KEYWORD for v in params.values())  # S5's block options
    for key, value in dict(model_cfg).items():
        if key == "name" or (key not in params and open_ended):
            continue
        if key not in params or key in _SHAPE:
            raise ConfigError(f"model.{key} is not a setting of model {name}: use one of {', '.join(known)}")
        kind, default = str(params[key].annotation), params[key].default
        fits = {
            "int": lambda v: isinstance(v, int) and not isinstance(v, bool),
            "float": lambda v: isinstance(v, (int, float)) and not isinstance(v, bool),
            "bool": lambda v: isinstance(v, bool),
        }.get(kind)
        if fits is not None and not fits(value):
            what = {"int": "a whole number", "float": "a number", "bool": "true or false"}[kind]
            raise ConfigError(f"model.{key}={value!r} is not {what}: give one, e.g. model.{key}={default}")


def build_model(model_cfg: Any, n_features: int, lookback: int, horizon: int):
    """Instantiate the model a ``model`` config names; unknown names are a clear error."""
    cfg = dict(model_cfg)
    name = cfg.pop("name", None)
    cls = model_class(model_cfg)
    try:
        return cls(n_features=n_features, lookback=lookback, horizon=horizon, **cfg)
    except TypeError as exc:
        raise ValueError(f"bad hyperparameters for model {name!r}: {exc}") from exc
