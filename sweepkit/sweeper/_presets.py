"""Sweeper presets and the top-k callback config, shipped with the package (Hydra ConfigStore).

After ``pip install sweepkit`` any Hydra app selects them by name, with no file of its own:

- ``hydra/sweeper``: ``sweepkit_hyperband`` (TPE + Hyperband pruning), ``sweepkit_bayes``
  (TPE, no pruning), ``sweepkit_random`` (random search), ``sweepkit_grid`` (Hydra's basic
  sweeper over the command line's comma lists).
- ``hydra/callbacks``: ``sweepkit_topk`` (the global top-k manifest, ``sweepkit.hooks.TopKCallback``
  as ``hydra.callbacks.topk``).

In a primary config or an ``hparams_search``-style file, one line::

    defaults:
      - override /hydra/sweeper: sweepkit_hyperband

The Optuna presets (hyperband, bayes, random) also keep the sweep's global top-k manifest: the
sweeper's config adds ``TopKCallback`` to ``hydra.callbacks`` (as ``sweepkit_sweeper_topk``,
which stands down when ``hydra.callbacks`` configures one of its own), built from
``hydra.sweeper.topk`` (``hydra.sweeper.topk.top_k=5`` keeps 5, ``hydra.sweeper.topk=null``
switches it off).
``sweepkit_grid`` runs Hydra's basic sweeper, so with it select the callback as well
(``override /hydra/callbacks: sweepkit_topk``).

No preset interpolates an app's keys: the direction defaults to ``minimize`` (set
``hydra.sweeper.direction=maximize``), Hyperband learns a full trial's length from the first
trial that completes (``max_resource: auto``), and the callback takes its metric and mode from
the runs and the sweeper. Every value can be overridden as usual
(``hydra.sweeper.n_trials=50``, ``hydra.sweeper.pruner.max_resource=27``).
"""

from __future__ import annotations

import logging
from typing import Any

from hydra.core.config_store import ConfigStore
from omegaconf import DictConfig, OmegaConf, open_dict, read_write

from sweepkit.sweeper.config import SWEEPER_TARGET

log = logging.getLogger("sweepkit.sweeper")

# Shared by the Optuna presets: 20 trials, trials in flight follow the launcher's n_jobs, the
# sweep stops once more than a quarter of its trials failed.
_COMMON: dict[str, Any] = {
    "direction": "minimize",
    "n_trials": 20,
    "n_jobs": "${oc.select:hydra.launcher.n_jobs,1}",
    "max_failure_rate": 0.25,
    # the top-k manifest, on by default (hydra.sweeper.topk=null switches it off); the same
    # settings as the hydra/callbacks=sweepkit_topk config, which takes precedence when selected
    "topk": {"top_k": 3, "metric_name": None, "mode": None, "checkpoint": "checkpoints/*.ckpt"},
}

PRESETS: dict[str, dict[str, Any]] = {
    # TPE with Hyperband early stopping (the default of the demo app's `-m`).
    "sweepkit_hyperband": {
        "defaults": [
            "sweepkit",
            "_self_",
            {"override sampler": "sweepkit_tpe"},
            {"override pruner": "sweepkit_hyperband"},
        ],
        **_COMMON,
        "pruned_trials": "estimate",  # TPE ranks a pruned trial by its estimated final value
        # the sampler's and pruner's settings are their nodes' defaults (sweepkit_tpe: 5 random
        # trials first; sweepkit_hyperband: rungs from a ninth of a full trial, keep a quarter),
        # so hydra/sweeper/sampler=... or hydra/sweeper/pruner=... swaps one whole
    },
    # Bayesian search (TPE) without early stopping: every trial trains all epochs.
    "sweepkit_bayes": {
        "defaults": ["sweepkit", "_self_", {"override sampler": "sweepkit_tpe"}, {"override pruner": "none"}],
        **_COMMON,
    },
    # Random search without early stopping.
    "sweepkit_random": {
        "defaults": ["sweepkit", "_self_", {"override sampler": "random"}, {"override pruner": "none"}],
        **_COMMON,
    },
    # Hydra's basic sweeper: the full grid of the command line's comma lists
    # (model.width=32,64 lr=1e-3,3e-3); a search space of intervals does not apply.
    "sweepkit_grid": {"defaults": ["basic", "_self_"], "params": None},
}

#: The presets that run sweepkit's own sweeper (and so install the top-k manifest).
OPTUNA_PRESETS = ("sweepkit_hyperband", "sweepkit_bayes", "sweepkit_random")

TOPK_CALLBACK: dict[str, Any] = {
    "topk": {
        "_target_": "sweepkit.hooks.TopKCallback",
        "top_k": 3,
        # null: the metric the runs record (run.json), else the job's return value ("objective")
        "metric_name": None,
        # null: from hydra.sweeper.direction (or the runs' records), else min
        "mode": None,
        # where a job without run.json leaves its checkpoint (a glob in the job dir)
        "checkpoint": "checkpoints/*.ckpt",
        "enabled": True,
    }
}


def register_presets() -> None:
    """Store the presets and the callback config (idempotent)."""
    store = ConfigStore.instance()
    for name, node in PRESETS.items():
        store.store(group="hydra/sweeper", name=name, node=node, provider="sweepkit")
    store.store(
        group="hydra/callbacks",
        name="sweepkit_topk",
        node=TOPK_CALLBACK,
        package="hydra.callbacks",
        provider="sweepkit",
    )


#: The stock plugin's class, which lightning-hydra-template's hparams_search files name.
STOCK_TARGET = "hydra_plugins.hydra_optuna_sweeper.optuna_sweeper.OptunaSweeper"


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


register_presets()
