"""Structured configs of the sweepkit sweeper, registered in Hydra's ConfigStore.

Groups (selectable from the command line or a defaults list):

- ``hydra/sweeper``: ``sweepkit``
- ``hydra/sweeper/sampler``: ``sweepkit_tpe`` (default), ``tpe``, ``random``, ``cmaes``,
  ``sweepkit_cmaes``, ``gp``, ``grid``, ``qmc``, ``nsgaii``, ``sweepkit_nsgaii``, ``nsgaiii`` (and the
  stock plugin's ``motpe``, which says it was removed)
- ``hydra/sweeper/pruner``: ``none`` (default), ``hyperband``, ``sweepkit_hyperband``,
  ``successive_halving``, ``median``

The names the stock Optuna sweeper plugin registers too (``tpe``, ``random``, ``cmaes``,
``nsgaii``, ``motpe``, ``hyperband``) have exactly the stock plugin's fields and defaults, so a
config composes the same whichever of the two plugins Hydra imports last; sweepkit's fuller
nodes carry a ``sweepkit_`` prefix and are what its presets select.

Sampler and pruner nodes use Hydra's ``_target_`` style, as the stock Optuna sweeper does, so
``hydra.sweeper.sampler.seed=123`` or ``hydra.sweeper.pruner.reduction_factor=2`` work.
This module imports neither optuna nor torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Dict, List, Optional

from hydra.core.config_store import ConfigStore

SWEEPER_TARGET = "hydra_plugins.sweepkit_sweeper.sweepkit_sweeper.SweepkitSweeper"
#: The ``hydra/callbacks`` config the sweeper's config adds: the top-k callback of ``hydra.sweeper.topk``.
SWEEPER_TOPK = "sweepkit_sweeper_topk"
_TOPK_SETTINGS = "${oc.select:hydra.sweeper.topk,null}"


@dataclass
class SamplerConfig:
    _target_: str = "optuna.samplers.TPESampler"
    seed: Optional[int] = None


# The stock plugin's nodes, field for field and default for default (hydra-optuna-sweeper's
# config.py): registered under the stock names.


@dataclass
class StockTPESamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.TPESampler"
    consider_prior: bool = True
    prior_weight: float = 1.0
    consider_magic_clip: bool = True
    consider_endpoints: bool = False
    n_startup_trials: int = 10
    n_ei_candidates: int = 24
    multivariate: bool = False
    warn_independent_sampling: bool = True


@dataclass
class StockCmaEsSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.CmaEsSampler"
    x0: Optional[Dict[str, Any]] = None
    sigma0: Optional[float] = None
    independent_sampler: Optional[Any] = None
    warn_independent_sampling: bool = True
    consider_pruned_trials: bool = False
    restart_strategy: Optional[Any] = None
    inc_popsize: int = 2
    use_separable_cma: bool = False
    source_trials: Optional[Any] = None


@dataclass
class StockNSGAIISamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.NSGAIISampler"
    population_size: int = 50
    mutation_prob: Optional[float] = None
    crossover_prob: float = 0.9
    swapping_prob: float = 0.5
    constraints_func: Optional[Any] = None


@dataclass
class StockMOTPESamplerConfig(SamplerConfig):
    # removed in Optuna 4.0: building it says what to use instead (_algorithms.motpe_removed)
    _target_: str = "optuna.samplers.MOTPESampler"
    consider_prior: bool = True
    prior_weight: float = 1.0
    consider_magic_clip: bool = True
    consider_endpoints: bool = False
    n_startup_trials: int = 10
    n_ehvi_candidates: int = 24


@dataclass
class StockHyperbandPrunerConfig:
    _target_: str = "optuna.pruners.HyperbandPruner"
    min_resource: int = 1
    max_resource: str = "auto"  # Union[str, int]
    reduction_factor: int = 3
    bootstrap_count: int = 0


# sweepkit's nodes: every argument of the current Optuna class; a key left null takes Optuna's
# default. A value that is a config with a ``_target_`` (for example
# ``independent_sampler: {_target_: optuna.samplers.RandomSampler}``) is instantiated.


@dataclass
class TPESamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.TPESampler"
    consider_prior: Optional[bool] = None
    prior_weight: Optional[float] = None
    consider_magic_clip: Optional[bool] = None
    consider_endpoints: Optional[bool] = None
    n_startup_trials: int = 5  # sweepkit's choice (Optuna's is 10): TPE starts after 5 random trials
    n_ei_candidates: int = 24
    # null: Optuna's choice, the multivariate TPE for one objective (independent for several);
    # measured against the independent TPE on published tables in docs/benchmarks.md
    multivariate: Optional[bool] = None
    group: bool = False
    warn_independent_sampling: Optional[bool] = None
    constant_liar: bool = True
    constraints_func: Optional[Any] = None


@dataclass
class RandomSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.RandomSampler"


@dataclass
class CmaEsSamplerConfig(StockCmaEsSamplerConfig):
    """The stock node plus the current CmaEsSampler's arguments (``sweepkit_cmaes``)."""

    n_startup_trials: int = 1
    popsize: Optional[int] = None
    with_margin: bool = False
    lr_adapt: bool = False


@dataclass
class NSGAIISamplerConfig(StockNSGAIISamplerConfig):
    """The stock node plus a crossover operator (``sweepkit_nsgaii``)."""

    crossover: Optional[Any] = None


@dataclass
class NSGAIIISamplerConfig(NSGAIISamplerConfig):
    _target_: str = "optuna.samplers.NSGAIIISampler"
    reference_points: Optional[Any] = None
    dividing_parameter: int = 3


@dataclass
class GPSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.GPSampler"
    independent_sampler: Optional[Any] = None
    n_startup_trials: int = 10
    deterministic_objective: bool = False
    constraints_func: Optional[Any] = None
    warn_independent_sampling: bool = True


@dataclass
class GridSamplerConfig(SamplerConfig):
    """Optuna's grid over the discrete search space (choices, ranges, stepped intervals)."""

    _target_: str = "optuna.samplers.GridSampler"
    # as in the stock plugin: the search space is filled in from hydra.sweeper.params
    _partial_: bool = True


@dataclass
class QMCSamplerConfig(SamplerConfig):
    _target_: str = "optuna.samplers.QMCSampler"
    qmc_type: str = "sobol"
    scramble: bool = False
    independent_sampler: Optional[Any] = None
    warn_asynchronous_seeding: bool = True
    warn_independent_sampling: bool = True


@dataclass
class NoPrunerConfig:
    _target_: str = "optuna.pruners.NopPruner"


@dataclass
class HyperbandPrunerConfig:
    """sweepkit's Hyperband (``sweepkit_hyperband``): its defaults are the hyperband preset's."""

    _target_: str = "optuna.pruners.HyperbandPruner"
    # epochs before the first rung, or "auto": a ninth of max_resource, at least 2 from 10 epochs
    min_resource: Any = "auto"
    # an int (the number of epochs a full trial trains) or "auto": learned from the first
    # complete trial
    max_resource: Any = "auto"
    reduction_factor: int = 4  # a rung keeps the best quarter
    bootstrap_count: int = 0
    # true: the sampler learns from the trials of every bracket (as BOHB does); false: only
    # from the new trial's own bracket (Optuna's default, which starves TPE on small budgets)
    shared_history: bool = True


@dataclass
class SuccessiveHalvingPrunerConfig:
    _target_: str = "optuna.pruners.SuccessiveHalvingPruner"
    min_resource: Any = "auto"
    reduction_factor: int = 4
    min_early_stopping_rate: int = 0
    bootstrap_count: int = 0


@dataclass
class MedianPrunerConfig:
    _target_: str = "optuna.pruners.MedianPruner"
    n_startup_trials: int = 5
    n_warmup_steps: int = 0
    interval_steps: int = 1
    n_min_trials: int = 1


@dataclass
class ResumeConfig:
    # re-queue (with the same parameters) trials that were running when a sweep died
    retry_failed: bool = False


@dataclass
class SweepkitSweeperConf:
    _target_: str = SWEEPER_TARGET
    # the sweeper builds the sampler and pruner itself (clear errors, grid search space)
    _recursive_: bool = False
    # the sampler, the pruner, and the top-k callback in hydra.callbacks (built from topk below)
    defaults: List[Any] = field(
        default_factory=lambda: [
            "_self_",
            {"sampler": "sweepkit_tpe"},
            {"pruner": "none"},
            f"/hydra/callbacks/{SWEEPER_TOPK}",
        ]
    )

    sampler: Any = None
    pruner: Any = None
    # "minimize" | "maximize" (also "min" | "max"), or a list of them: one per objective
    direction: Any = "minimize"
    # names of the objectives, in the order of direction (a task may then return a dict keyed
    # by them); null: unnamed, or the keys of a returned dict
    metric_names: Optional[List[str]] = None
    # Optuna storage: null = a journal file <sweep dir>/optuna_journal.log; or an RDB URL
    # (sqlite:///..., postgresql://...), "journal:///path/file.log", "redis://...", or
    # "memory" (the stock plugin's null: in this process only, no pruning, no resume)
    storage: Optional[str] = None
    # null = derived from the sweep directory (stable, so a resumed sweep finds its study)
    study_name: Optional[str] = None
    # the budget of trials: with budget=total, finished trials of a resumed study included;
    # with budget=per_run (the stock plugin's rule), n_trials more each time the sweep runs
    n_trials: int = 20
    budget: str = "total"
    # seconds of this run after which no new trial starts (running ones finish and are told),
    # as Optuna's study.optimize(timeout=...); null = no time limit
    timeout: Optional[float] = None
    # trials running at once (with joblib / submitit launchers; the basic launcher runs one at a time)
    n_jobs: int = 1
    # true: start a new trial as soon as any running one ends; false: batches of n_jobs trials
    async_trials: bool = True
    # the sweep stops when more than this fraction of its trials failed, counted over the
    # sweep (failure_rate_scope=sweep) or over each batch of n_jobs trials (batch: stock)
    max_failure_rate: float = 0.0
    failure_rate_scope: str = "sweep"
    # a task that returns no number: true stops the sweep with an error naming the value;
    # false fails the trial and counts it against max_failure_rate (the stock plugin's rule)
    stop_on_bad_return: bool = True
    # a NaN or infinite value fails its trial; true: it counts against max_failure_rate;
    # false: it does not (the stock plugin's rule: Optuna fails the trial quietly)
    nan_counts_as_failure: bool = True
    # search space in the stock grammar: {key: "interval(0, 1)" | "choice(a, b)" | ...}
    params: Optional[Dict[str, Any]] = None
    # optional "module.function(cfg, trial)" that suggests extra parameters
    custom_search_space: Optional[str] = None
    # how TPE ranks pruned trials: "estimate" = on one scale with complete trials, by their best
    # value before pruning plus the median later gain of complete trials; "below_complete" =
    # Optuna's rule (every pruned trial below every complete one)
    pruned_trials: str = "estimate"
    # pairs [low, high] that must satisfy low < high (swapped when both sampled out of order);
    # none by default: an app's search space names its own, e.g. [[model.dt_min, model.dt_max]]
    ordered_params: List[List[str]] = field(default_factory=list)
    # trials to run before the sampler proposes any (Optuna's enqueue_trial): each entry a
    # mapping of searched keys to values (keys left out are sampled), or "defaults", the
    # composed config's values of the searched keys; a resumed sweep does not queue one again
    enqueue_trials: List[Any] = field(default_factory=list)
    resume: ResumeConfig = field(default_factory=ResumeConfig)
    # GPUs the trials in flight are spread over: null (no assignment), auto (the GPUs this
    # machine or $CUDA_VISIBLE_DEVICES offers) or a list of ids, e.g. [0, 1]; see _gpus.py
    gpus: Any = None
    # what a trial's job receives for its GPU ({gpu} = the id), e.g. ["trainer.device=cuda:{gpu}"]
    gpu_overrides: List[str] = field(default_factory=lambda: ["++hydra.job.env_set.CUDA_VISIBLE_DEVICES={gpu}"])
    # the global top-k manifest (sweepkit.hooks.TopKCallback, which this config adds to
    # hydra.callbacks as sweepkit_sweeper_topk; a TopKCallback configured there by the app wins):
    # null = off; the shipped presets set it on ({top_k: 3, ...}); hydra.sweeper.topk.top_k=5
    # keeps 5, hydra.sweeper.topk=null none
    topk: Any = None


#: The stock plugin's names, with its nodes.
STOCK_SAMPLERS: Dict[str, type] = {
    "tpe": StockTPESamplerConfig,
    "random": RandomSamplerConfig,
    "cmaes": StockCmaEsSamplerConfig,
    "nsgaii": StockNSGAIISamplerConfig,
    "motpe": StockMOTPESamplerConfig,
}
STOCK_PRUNERS: Dict[str, type] = {"hyperband": StockHyperbandPrunerConfig}

SAMPLERS: Dict[str, type] = {
    **STOCK_SAMPLERS,
    "sweepkit_tpe": TPESamplerConfig,
    "sweepkit_cmaes": CmaEsSamplerConfig,
    "sweepkit_nsgaii": NSGAIISamplerConfig,
    "gp": GPSamplerConfig,
    "grid": GridSamplerConfig,
    "qmc": QMCSamplerConfig,
    "nsgaiii": NSGAIIISamplerConfig,
}
PRUNERS: Dict[str, type] = {
    "none": NoPrunerConfig,
    **STOCK_PRUNERS,
    "sweepkit_hyperband": HyperbandPrunerConfig,
    "successive_halving": SuccessiveHalvingPrunerConfig,
    "median": MedianPrunerConfig,
}


def register_configs() -> None:
    """Store the sweeper, sampler and pruner configs (idempotent)."""
    store = ConfigStore.instance()
    store.store(group="hydra/sweeper", name="sweepkit", node=SweepkitSweeperConf, provider="sweepkit")
    store.store(
        group="hydra/callbacks",
        name=SWEEPER_TOPK,
        node={
            SWEEPER_TOPK: {
                "_target_": "sweepkit.hooks.sweeper_topk",
                "settings": "${oc.select:hydra.sweeper.topk,null}",
            }
        },
        package="hydra.callbacks",
        provider="sweepkit",
    )
    for name, node in SAMPLERS.items():
        store.store(group="hydra/sweeper/sampler", name=name, node=node, provider="sweepkit")
    for name, node in PRUNERS.items():
        store.store(group="hydra/sweeper/pruner", name=name, node=node, provider="sweepkit")


register_configs()
