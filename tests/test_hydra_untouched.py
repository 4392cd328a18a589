"""Installing and importing sweepkit's plugin leaves Hydra as it was, and a config node that
sweepkit registers under a name the stock Optuna sweeper plugin also uses is the stock node, so
a config composes the same whichever of the two plugins Hydra imports last."""

from __future__ import annotations

import dataclasses
import json
import subprocess
import sys
import typing

import pytest
from hydra.core.config_store import ConfigStore
from omegaconf import OmegaConf

import sweepkit.sweeper  # noqa: F401  (registers the configs)

SNAPSHOT = """
import json, sys
import hydra.core.plugins, hydra.experimental.callback, hydra.core.utils
from hydra._internal import callbacks, hydra as internal_hydra
watched = {
    "Plugins": hydra.core.plugins.Plugins,
    "Callbacks": callbacks.Callbacks,
    "Callback": hydra.experimental.callback.Callback,
    "Hydra": internal_hydra.Hydra,
    "hydra.core.utils": hydra.core.utils,
}
def snapshot():
    return {f"{k}.{n}": id(v) for k, obj in watched.items() for n, v in vars(obj).items()}
before = snapshot()
import hydra_plugins.sweepkit_sweeper.sweepkit_sweeper, sweepkit.sweeper, sweepkit.hooks
hydra.core.plugins.Plugins.instance()  # Hydra's own plugin discovery imports every plugin
after = snapshot()
print(json.dumps(sorted(k for k in before.keys() | after.keys() if before.get(k) != after.get(k))))
"""


def test_importing_the_plugin_changes_no_attribute_of_hydra():
    out = subprocess.run([sys.executable, "-c", SNAPSHOT], capture_output=True, text=True, check=True).stdout
    assert json.loads(out) == []


# The stock plugin's nodes (hydra-optuna-sweeper's config.py), field: (type, default).
STOCK_SAMPLERS = {
    "tpe": {
        "_target_": (str, "optuna.samplers.TPESampler"),
        "seed": ("Optional[int]", None),
        "consider_prior": (bool, True),
        "prior_weight": (float, 1.0),
        "consider_magic_clip": (bool, True),
        "consider_endpoints": (bool, False),
        "n_startup_trials": (int, 10),
        "n_ei_candidates": (int, 24),
        "multivariate": (bool, False),
        "warn_independent_sampling": (bool, True),
    },
    "random": {"_target_": (str, "optuna.samplers.RandomSampler"), "seed": ("Optional[int]", None)},
    "cmaes": {
        "_target_": (str, "optuna.samplers.CmaEsSampler"),
        "seed": ("Optional[int]", None),
        "x0": ("Optional[Dict[str, Any]]", None),
        "sigma0": ("Optional[float]", None),
        "independent_sampler": ("Optional[Any]", None),
        "warn_independent_sampling": (bool, True),
        "consider_pruned_trials": (bool, False),
        "restart_strategy": ("Optional[Any]", None),
        "inc_popsize": (int, 2),
        "use_separable_cma": (bool, False),
        "source_trials": ("Optional[Any]", None),
    },
    "nsgaii": {
        "_target_": (str, "optuna.samplers.NSGAIISampler"),
        "seed": ("Optional[int]", None),
        "population_size": (int, 50),
        "mutation_prob": ("Optional[float]", None),
        "crossover_prob": (float, 0.9),
        "swapping_prob": (float, 0.5),
        "constraints_func": ("Optional[Any]", None),
    },
    "motpe": {
        "_target_": (str, "optuna.samplers.MOTPESampler"),
        "seed": ("Optional[int]", None),
        "consider_prior": (bool, True),
        "prior_weight": (float, 1.0),
        "consider_magic_clip": (bool, True),
        "consider_endpoints": (bool, False),
        "n_startup_trials": (int, 10),
        "n_ehvi_candidates": (int, 24),
    },
}
STOCK_PRUNERS = {
    "hyperband": {
        "_target_": (str, "optuna.pruners.HyperbandPruner"),
        "min_resource": (int, 1),
        "max_resource": (str, "auto"),
        "reduction_factor": (int, 3),
        "bootstrap_count": (int, 0),
    }
}


def _fields(group: str, name: str) -> dict[str, tuple[object, object]]:
    node = ConfigStore.instance().load(f"{group}/{name}.yaml").node
    cls = OmegaConf.get_type(node)
    hints = typing.get_type_hints(cls)
    assert [f.name for f in dataclasses.fields(cls)] == list(OmegaConf.to_container(node))
    return {
        key: (hints[key] if isinstance(hints[key], type) else str(hints[key]).replace("typing.", ""), value)
        for key, value in OmegaConf.to_container(node).items()
    }


@pytest.mark.parametrize(
    "group, name, stock",
    [("hydra/sweeper/sampler", n, f) for n, f in STOCK_SAMPLERS.items()]
    + [("hydra/sweeper/pruner", n, f) for n, f in STOCK_PRUNERS.items()],
)
def test_a_node_under_a_stock_name_has_the_stock_fields_and_defaults(group, name, stock):
    assert _fields(group, name) == stock


def test_sweepkit_registers_no_other_stock_name():
    ours = {
        group: {name.removesuffix(".yaml") for name in ConfigStore.instance().list(group)}
        for group in ("hydra/sweeper", "hydra/sweeper/sampler", "hydra/sweeper/pruner")
    }
    assert "optuna" not in ours["hydra/sweeper"]
    assert set(STOCK_SAMPLERS) <= ours["hydra/sweeper/sampler"] and set(STOCK_PRUNERS) <= ours["hydra/sweeper/pruner"]
