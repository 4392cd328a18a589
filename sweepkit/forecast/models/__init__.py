"""Forecasting models, looked up by ``model.name``.

Every model maps ``(batch, lookback, channels)`` to ``(batch, horizon, channels)``. A model may
define ``optimizer_groups(lr, weight_decay)`` to give the optimiser its own parameter groups.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

MODELS = {
    "dmixer": "sweepkit.forecast.models.dmixer:DMixer",
    "s5": "sweepkit.forecast.models.s5:S5Forecaster",
    "linear": "sweepkit.forecast.models.linear:LinearForecaster",
}


def build_model(model_cfg: Any, n_features: int, lookback: int, horizon: int):
    """Instantiate the model a ``model`` config names; unknown names are a clear error."""
    cfg = dict(model_cfg)
    name = cfg.pop("name", None)
    if name not in MODELS:
        raise ValueError(f"unknown model {name!r}; choose one of {sorted(MODELS)} (model=<name>)")
    module, cls_name = MODELS[name].split(":")
    cls = getattr(import_module(module), cls_name)
    try:
        return cls(n_features=n_features, lookback=lookback, horizon=horizon, **cfg)
    except TypeError as exc:
        raise ValueError(f"bad hyperparameters for model {name!r}: {exc}") from exc
