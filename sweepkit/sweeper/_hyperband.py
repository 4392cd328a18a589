"""Hyperband pruning whose sampler learns from every bracket."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from optuna.pruners import BasePruner, HyperbandPruner
from optuna.trial import TrialState

from sweepkit.errors import SweepConfigError

if TYPE_CHECKING:
    from optuna.study import Study
    from optuna.trial import FrozenTrial


class SharedHistoryHyperband(BasePruner):
    """Optuna's :class:`~optuna.pruners.HyperbandPruner`, but the sampler sees all trials.

    Pruning is unchanged: each trial falls in one bracket and is compared only with the
    trials of that bracket (successive halving at ``min_resource * reduction_factor**k``).
    What changes is sampling. When a study's pruner *is* a ``HyperbandPruner``, Optuna hands
    the sampler only the trials of the new trial's bracket, so with a few dozen trials over
    3-4 brackets TPE rarely gets past its random start-up trials. Wrapped, the pruner is no
    longer recognised and the sampler learns from the whole history, pruned trials ranked by
    how far they got, as BOHB does.

    Takes the keyword arguments of ``HyperbandPruner``. With ``max_resource: auto`` and
    ``min_resource: auto`` both are learned from the reports: nothing is pruned until a trial
    completes, then ``max_resource`` is its last reported step + 1 (as Optuna's ``auto``) and
    ``min_resource`` a ninth of it, so no app key has to be interpolated into the preset.
    """

    def __init__(self, **kwargs: Any) -> None:
        self.kwargs = kwargs
        self.hyperband: HyperbandPruner | None = None
        if kwargs.get("min_resource") == "auto" and kwargs.get("max_resource") == "auto":
            HyperbandPruner(**{**kwargs, "min_resource": 1, "max_resource": 9})  # check the rest now
        else:
            self.hyperband = HyperbandPruner(**resolve_min_resource(kwargs))

    def prune(self, study: "Study", trial: "FrozenTrial") -> bool:
        if self.hyperband is None:
            steps = [
                t.last_step
                for t in study.get_trials(deepcopy=False, states=(TrialState.COMPLETE,))
                if t.last_step is not None
            ]
            if not steps:
                return False  # learn the budget from the first complete trial
            self.hyperband = HyperbandPruner(**resolve_min_resource({**self.kwargs, "max_resource": max(steps) + 1}))
        return self.hyperband.prune(study, trial)


def resolve_min_resource(kwargs: dict[str, Any]) -> dict[str, Any]:
    """Replace ``min_resource: auto`` by a ninth of ``max_resource``, and never the first epoch
    of a trial of 10 or more: ``max(2 if max_resource >= 10 else 1, max_resource // 9)``.

    The first rung then comes after about a ninth of a full trial rather than always after
    its first epoch, where a fast-starting configuration (a high learning rate) beats one that
    ends better; with ``reduction_factor: 4`` that makes two brackets, rungs at a ninth and at
    four ninths. Needs an integer ``max_resource``. (Measured in ``docs/benchmarks.md``: on the
    12-epoch Wind curves a first rung at epoch 2 instead of 1 finds the best configuration.)
    """
    if kwargs.get("min_resource") != "auto":
        return kwargs
    max_resource = kwargs.get("max_resource")
    if not isinstance(max_resource, int) or isinstance(max_resource, bool) or max_resource < 1:
        raise SweepConfigError(
            f"hyperband min_resource=auto needs an integer max_resource (the epochs of a full "
            f"trial), got max_resource={max_resource!r}; set it, e.g. "
            f"hydra.sweeper.pruner.max_resource=27 (max_resource=auto works with "
            f"shared_history=true)"
        )
    return {**kwargs, "min_resource": max(2 if max_resource >= 10 else 1, max_resource // 9)}
