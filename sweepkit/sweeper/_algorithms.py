"""Build Optuna samplers and pruners from their ``_target_`` configs, with clear errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping, NoReturn

from omegaconf import DictConfig, OmegaConf

from sweepkit.errors import SweepConfigError
from sweepkit.sweeper._search_space import SearchSpace
from sweepkit.sweeper.config import PRUNERS, SAMPLERS

if TYPE_CHECKING:
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler

_EXTRAS = {
    "CmaEsSampler": "cmaes (pip install 'sweepkit[samplers]')",
    "GPSampler": "scipy and torch (pip install 'sweepkit[samplers]')",
    "QMCSampler": "scipy (pip install 'sweepkit[samplers]')",
}


def as_dict(node: Any) -> dict[str, Any] | None:
    """A plain resolved dict from a config node, or None."""
    if node is None:
        return None
    if isinstance(node, DictConfig):
        return OmegaConf.to_container(node, resolve=True)  # type: ignore[return-value]
    if isinstance(node, Mapping):
        return dict(node)
    raise SweepConfigError(f"expected a config with a _target_, got {node!r}")


def _locate(kind: str, target: Any, module: str, known: Mapping[str, type]) -> type:
    import importlib

    names = ", ".join(name for name in known if name != "motpe")
    if not isinstance(target, str) or not target:
        raise SweepConfigError(f"the {kind} config needs a _target_ (one of {names})")
    module_name, _, cls_name = target.rpartition(".")
    try:
        cls: type = getattr(importlib.import_module(module_name or module), cls_name)
        return cls
    except (ImportError, AttributeError):
        raise SweepConfigError(
            f"unknown {kind} {target!r}: pick hydra/sweeper/{kind}=<name> with one of {names}, "
            f"or give the _target_ of an Optuna {kind} class (e.g. {module}.<Name>)"
        ) from None


def motpe_removed() -> NoReturn:
    """The stock plugin's ``motpe`` sampler: gone with Optuna 4.0 (a clear error)."""
    raise SweepConfigError(
        "the 'motpe' sampler was removed in Optuna 4.0: use hydra/sweeper/sampler=tpe, which "
        "handles several objectives (or nsgaii / nsgaiii)"
    )


#: Stock-node defaults that are Optuna's own behaviour for arguments Optuna now deprecates:
#: left out, so a stock ``tpe`` or ``cmaes`` node builds its sampler without FutureWarnings.
_SAME_AS_OPTUNA = {
    "consider_prior": True,
    "prior_weight": 1.0,
    "consider_magic_clip": True,
    "consider_endpoints": False,
    "warn_independent_sampling": True,
    "inc_popsize": 2,
}


def sampler_kwargs(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Stock-style sampler arguments made ready for the class.

    A null value means Optuna's default (so does a stock default in ``_SAME_AS_OPTUNA``); a config with a
    ``_target_`` (``independent_sampler``, ``crossover``, ...) is instantiated as Hydra would;
    a ``*_func`` given as a dotted path names a function.
    """
    from hydra.utils import get_method, instantiate

    ready = {}
    for key, value in kwargs.items():
        if value is None or (key in _SAME_AS_OPTUNA and _SAME_AS_OPTUNA[key] == value):
            continue
        if isinstance(value, Mapping) and "_target_" in value:
            try:
                value = instantiate(value, _convert_="all")
            except Exception as err:
                raise SweepConfigError(f"cannot instantiate the sampler's {key} {value!r}: {err}") from None
        elif key.endswith("_func") and isinstance(value, str):
            try:
                value = get_method(value)
            except Exception as err:
                raise SweepConfigError(f"cannot load the sampler's {key} {value!r}: {err}") from None
        ready[key] = value
    return ready


def build_sampler(config: Any, space: SearchSpace, trials_before: int = 0) -> "BaseSampler":
    """Instantiate the sampler; a grid sampler gets the discrete search space.

    ``trials_before``: trials the (resumed) study holds already. A seeded sampler then gets a
    seed derived from its seed and that count, so its random draws continue instead of replaying
    the first trials' (the same resume point gives the same draws).
    """
    from optuna.samplers import GridSampler

    kwargs = as_dict(config) or {"_target_": "optuna.samplers.TPESampler"}
    if str(kwargs.get("_target_")).endswith("MOTPESampler"):
        motpe_removed()
    cls = _locate("sampler", kwargs.pop("_target_", None), "optuna.samplers", SAMPLERS)
    kwargs.pop("_partial_", None)  # the grid's search space comes from the sweep's params
    kwargs = sampler_kwargs(kwargs)
    if trials_before and is_seeded(kwargs):
        kwargs["seed"] = (kwargs["seed"] * 1_000_003 + trials_before) % 2**32
    if cls is GridSampler:
        kwargs["search_space"] = {name: space.grid_values(name) for name in space.distributions}
    sampler: BaseSampler = _call("sampler", cls, kwargs)
    return sampler


def is_seeded(config: Any) -> bool:
    """Whether a sampler config sets an integer ``seed``."""
    seed = (as_dict(config) or {}).get("seed")
    return isinstance(seed, int) and not isinstance(seed, bool)


def build_pruner(config: Any) -> "BasePruner":
    """Instantiate the pruner (``None`` means no pruning)."""
    from optuna.pruners import HyperbandPruner, NopPruner

    kwargs = as_dict(config) or {"_target_": "optuna.pruners.NopPruner"}
    cls = _locate("pruner", kwargs.pop("_target_", None), "optuna.pruners", PRUNERS)
    shared_history = kwargs.pop("shared_history", True)  # as HyperbandPrunerConfig
    if cls is NopPruner:  # a pruner switched off by its _target_ (its other settings unused)
        kwargs = {}
    if cls is HyperbandPruner:
        from sweepkit.sweeper._hyperband import SharedHistoryHyperband, resolve_min_resource

        if shared_history:  # resolves min_resource itself, and learns max_resource: auto
            cls = SharedHistoryHyperband
        else:
            kwargs = resolve_min_resource(kwargs)
    pruner: BasePruner = _call("pruner", cls, kwargs)
    return pruner


def _call(kind: str, cls: type, kwargs: dict[str, Any]) -> Any:
    try:
        return cls(**kwargs)
    except SweepConfigError:
        raise
    except ImportError as err:
        extra = _EXTRAS.get(cls.__name__, "its optional dependencies")
        raise SweepConfigError(
            f"the {kind} {cls.__name__} needs {extra} installed ({err}); install it or pick another {kind}"
        ) from None
    except (TypeError, ValueError) as err:
        raise SweepConfigError(f"invalid {kind} settings for {cls.__name__} {kwargs}: {err}") from None
