"""sweepkit: Hydra sweeps with Bayesian search, Hyperband pruning and a global top-k manifest.

The public names are imported lazily, so ``import sweepkit`` stays cheap and never pulls in
torch, wandb, lightning or optuna. ``sweepkit.report(value, step)`` and
``sweepkit.should_prune()`` connect any training loop to the sweep's pruner.
"""

from __future__ import annotations

from importlib import import_module
from typing import Any

from sweepkit._version import __version__

_EXPORTS = {
    "SweepManager": "sweepkit.manifest",
    "BestModelTracker": "sweepkit.tracker",
    "current_trial": "sweepkit.pruning",
    "report": "sweepkit.pruning",
    "should_prune": "sweepkit.pruning",
}

__all__ = ["__version__", *_EXPORTS]


def __getattr__(name: str) -> Any:
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'sweepkit' has no attribute {name!r}")
    return getattr(import_module(module), name)
