"""Build Optuna samplers and pruners from their ``_target_`` configs, with clear errors."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any, Mapping

from omegaconf import DictConfig, OmegaConf

from sweepkit.sweeper._search_space import SearchSpace, SweepConfigError, grid_values
from sweepkit.sweeper.config import PRUNERS, SAMPLERS

if TYPE_CHECKING:
    from optuna.pruners import BasePruner
    from optuna.samplers import BaseSampler

_EXTRAS = {"CmaEsSampler": "cmaes", "GPSampler": "scipy and torch", "QMCSampler": "scipy"}


def as_dict(node: Any) -> dict | None:
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

    names = ", ".join(known)
    if not isinstance(target, str) or not target:
        raise SweepConfigError(f"the {kind} config needs a _target_ (one of {names})")
    module_name, _, cls_name = target.rpartition(".")
    try:
        return getattr(importlib.import_module(module_name or module), cls_name)
    except (ImportError, AttributeError):
        raise SweepConfigError(
            f"unknown {kind} {target!r}: pick hydra/sweeper/{kind}=<name> with one of {names}, "
            f"or give the _target_ of an Optuna {kind} class (e.g. {module}.<Name>)"
        ) from None


def build_sampler(config: Any, space: SearchSpace) -> "BaseSampler":
    """Instantiate the sampler; a grid sampler gets the discrete search space."""
    from optuna.samplers import GridSampler

    kwargs = as_dict(config) or {"_target_": "optuna.samplers.TPESampler"}
    cls = _locate("sampler", kwargs.pop("_target_", None), "optuna.samplers", SAMPLERS)
    if cls is GridSampler:
        grid = {name: grid_values(name, dist) for name, dist in space.distributions.items()}
        kwargs["search_space"] = grid
    return _call("sampler", cls, kwargs)


def build_pruner(config: Any) -> "BasePruner":
    """Instantiate the pruner (``None`` means no pruning)."""
    from optuna.pruners import HyperbandPruner

    kwargs = as_dict(config) or {"_target_": "optuna.pruners.NopPruner"}
    cls = _locate("pruner", kwargs.pop("_target_", None), "optuna.pruners", PRUNERS)
    shared_history = kwargs.pop("shared_history", True)  # as HyperbandPrunerConfig
    if cls is HyperbandPruner:
        from sweepkit.sweeper._hyperband import SharedHistoryHyperband, resolve_min_resource

        if shared_history:  # resolves min_resource itself, and learns max_resource: auto
            cls = SharedHistoryHyperband
        else:
            kwargs = resolve_min_resource(kwargs)
    return _call("pruner", cls, kwargs)


def _call(kind: str, cls: type, kwargs: dict) -> Any:
    try:
        return cls(**kwargs)
    except ImportError as err:
        extra = _EXTRAS.get(cls.__name__, "its optional dependencies")
        raise SweepConfigError(
            f"the {kind} {cls.__name__} needs {extra} installed ({err}); install it or pick "
            f"another {kind}"
        ) from None
    except (TypeError, ValueError) as err:
        raise SweepConfigError(f"invalid {kind} settings for {cls.__name__} {kwargs}: {err}") from None
