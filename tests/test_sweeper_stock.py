"""Stock sampler settings in-process: every key of the stock plugin's sampler configs is
accepted with its stock meaning; nested ``_target_`` values are instantiated."""

from __future__ import annotations

import math
import warnings

import numpy as np
import optuna
import pytest
from omegaconf import OmegaConf

from sweepkit.errors import BadReturn
from sweepkit.sweeper import Objective, SweepConfigError, named_objectives, parse_search_space
from sweepkit.sweeper._algorithms import build_sampler
from sweepkit.sweeper._objectives import objective_values
from sweepkit.sweeper.config import SAMPLERS

# The keys and default values of the stock plugin's sampler configs (hydra-optuna-sweeper).
STOCK = {
    "tpe": (
        "TPESampler",
        dict(
            seed=None,
            consider_prior=True,
            prior_weight=1.0,
            consider_magic_clip=True,
            consider_endpoints=False,
            n_startup_trials=10,
            n_ei_candidates=24,
            multivariate=False,
            warn_independent_sampling=True,
        ),
    ),
    "random": ("RandomSampler", dict(seed=None)),
    "cmaes": (
        "CmaEsSampler",
        dict(
            seed=None,
            x0=None,
            sigma0=None,
            independent_sampler=None,
            warn_independent_sampling=True,
            consider_pruned_trials=False,
            restart_strategy=None,
            inc_popsize=2,
            use_separable_cma=False,
            source_trials=None,
        ),
    ),
    "nsgaii": (
        "NSGAIISampler",
        dict(
            seed=None,
            population_size=50,
            mutation_prob=None,
            crossover_prob=0.9,
            swapping_prob=0.5,
            constraints_func=None,
        ),
    ),
    "gp": (
        "GPSampler",
        dict(
            seed=None,
            independent_sampler=None,
            n_startup_trials=10,
            deterministic_objective=False,
            constraints_func=None,
            warn_independent_sampling=True,
        ),
    ),
    "qmc": (
        "QMCSampler",
        dict(
            seed=None,
            qmc_type="sobol",
            scramble=False,
            independent_sampler=None,
            warn_asynchronous_seeding=True,
            warn_independent_sampling=True,
        ),
    ),
    "grid": ("GridSampler", dict(_partial_=True)),
}
SPACE = parse_search_space({"x": "range(-1, 1)", "y": "choice(a, b)"})


def compose(name: str, **values) -> dict:
    node = OmegaConf.merge(OmegaConf.structured(SAMPLERS[name]), values)
    return OmegaConf.to_container(node)


@pytest.mark.parametrize("name", STOCK)
def test_every_stock_key_with_its_stock_default_builds_the_sampler(name):
    cls_name, stock_defaults = STOCK[name]
    missing = set(stock_defaults) - set(OmegaConf.structured(SAMPLERS[name]))
    assert not missing, f"stock keys missing from hydra/sweeper/sampler={name}: {missing}"
    sampler = build_sampler(compose(name, **stock_defaults), SPACE)
    assert type(sampler).__name__ == cls_name


@pytest.mark.parametrize("name", ["tpe", "cmaes"])
def test_a_stock_node_with_its_defaults_builds_without_optunas_deprecation_warnings(name):
    """The stock defaults of arguments Optuna now deprecates are Optuna's own behaviour: left out."""
    with warnings.catch_warnings():
        warnings.simplefilter("error", FutureWarning)
        build_sampler(compose(name), SPACE)


def test_stock_values_reach_the_sampler():
    tpe = build_sampler(compose("tpe", seed=3, consider_endpoints=True, prior_weight=2.0, n_startup_trials=4), SPACE)
    assert tpe._n_startup_trials == 4 and tpe._parzen_estimator_parameters.prior_weight == 2.0
    assert tpe._parzen_estimator_parameters.consider_endpoints is True
    nsga = build_sampler(compose("nsgaii", population_size=8, crossover_prob=0.5), SPACE)
    assert nsga._population_size == 8
    nsga3 = build_sampler(compose("nsgaiii", population_size=6, dividing_parameter=2), SPACE)
    assert type(nsga3).__name__ == "NSGAIIISampler" and nsga3._population_size == 6


def test_a_nested_target_is_instantiated():
    nested = {"_target_": "optuna.samplers.RandomSampler", "seed": 5}
    for name in ("cmaes", "gp", "qmc"):
        sampler = build_sampler(compose(name, independent_sampler=nested), SPACE)
        assert isinstance(sampler._independent_sampler, optuna.samplers.RandomSampler)
    crossover = {"_target_": "optuna.samplers.nsgaii.UniformCrossover", "swapping_prob": 0.3}
    nsga = build_sampler(compose("sweepkit_nsgaii", crossover=crossover), SPACE)
    assert type(nsga._child_generation_strategy._crossover).__name__ == "UniformCrossover"


def test_a_constraints_function_by_dotted_path():
    sampler = build_sampler(compose("nsgaii", constraints_func="math.floor"), SPACE)
    assert sampler._constraints_func is math.floor


def test_a_nested_target_that_cannot_be_built_is_named():
    with pytest.raises(SweepConfigError, match="independent_sampler"):
        build_sampler(compose("cmaes", independent_sampler={"_target_": "optuna.samplers.Nope"}), SPACE)


def test_the_grid_enumerates_hydras_range_and_every_choice():
    grid = build_sampler(
        compose("grid"),
        parse_search_space(
            {"x": "range(-1.0, 1.0, step=1)", "n": "range(1, 4)", "z": "choice(foo, bar)", "k": "int(interval(1, 3))"}
        ),
    )
    assert grid._search_space == {"k": [1, 2, 3], "n": [1, 2, 3], "x": [-1.0, 0.0], "z": ["foo", "bar"]}


def test_removed_motpe_is_a_clear_error():
    with pytest.raises(SweepConfigError, match="removed in Optuna 4.0"):
        build_sampler(compose("motpe"), SPACE)


@pytest.mark.parametrize(
    "value, n, names, expected",
    [
        (1.5, 1, None, ([1.5], None)),
        ((1, 2), 2, None, ([1.0, 2.0], None)),
        ([1, 2, 3], 3, None, ([1.0, 2.0, 3.0], None)),
        ({"a": 1, "b": 2}, 2, None, ([1.0, 2.0], ["a", "b"])),
        ({"a": 1, "b": 2, "c": 3}, 2, ["c", "a"], ([3.0, 1.0], None)),
        ({"val_loss": 0.5}, 1, ["val_loss"], ([0.5], None)),
        (OmegaConf.create({"a": 1, "b": 2}), 2, None, ([1.0, 2.0], ["a", "b"])),
        (np.array([0.5, 2.0]), 2, None, ([0.5, 2.0], None)),
        (np.float32(0.5), 1, None, ([0.5], None)),
    ],
)
def test_returns_map_to_one_value_per_objective(value, n, names, expected):
    assert objective_values(value, n, names) == expected


@pytest.mark.parametrize(
    "value, n, names, fragment",
    [
        (1.5, 2, None, "with 2 objectives the task must return a tuple"),
        ((1, 2), 3, None, "returned 2 value(s) [1, 2] for trial 7 but hydra.sweeper.direction has 3"),
        ({"a": 1}, 2, ["a", "b"], "returned no 'b' (it returned a)"),
        ({"a": 1, "b": 2, "c": 3}, 2, None, "set hydra.sweeper.metric_names"),
        (("x", 2), 2, None, "as a number (float) per objective"),
        ("ab", 2, None, "with 2 objectives the task must return a tuple"),
        (None, 1, None, "as a number (float)"),
    ],
)
def test_bad_returns_name_the_fix(value, n, names, fragment):
    with pytest.raises(BadReturn) as err:
        objective_values(value, n, names, trial=7)
    assert fragment in str(err.value)


def test_named_objectives_for_a_jobs_callback():
    sweeper = OmegaConf.create({"direction": ["min", "maximize"], "metric_names": None})
    assert named_objectives(sweeper, {"val_loss": 0.5, "n_params": 10}) == [
        Objective("val_loss", "minimize", 0.5),
        Objective("n_params", "maximize", 10.0),
    ]
    assert named_objectives(sweeper, (0.5, 10)) == [
        Objective("value0", "minimize", 0.5),
        Objective("value1", "maximize", 10.0),
    ]
    named = OmegaConf.create({"direction": ["minimize", "minimize"], "metric_names": ["b", "a"]})
    assert [o.name for o in named_objectives(named, {"a": 1, "b": 2})] == ["b", "a"]
    assert named_objectives({"direction": "minimize"}, 0.25) == [Objective("value0", "minimize", 0.25)]
    with pytest.raises(SweepConfigError, match="one per objective"):
        named_objectives({"direction": ["up"]}, 1.0)
