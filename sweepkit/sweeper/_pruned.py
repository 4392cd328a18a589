"""What the sampler sees of a pruned trial: an estimate of the value it would have ended with."""

from __future__ import annotations

import bisect
import copy
import math
import statistics
from typing import TYPE_CHECKING, Any, Container, Sequence, cast

from optuna.samplers import BaseSampler, TPESampler
from optuna.study import StudyDirection
from optuna.trial import FrozenTrial, TrialState

if TYPE_CHECKING:
    from optuna.distributions import BaseDistribution
    from optuna.study import Study

PRUNED_TRIALS = ("estimate", "below_complete")


class EstimatingSampler(BaseSampler):
    """A sampler that sees each pruned trial as complete, with an estimated final value.

    Optuna's TPE ranks every pruned trial below every complete one. Under Hyperband most
    trials are pruned, many at the first rung by a narrow margin against whichever trials
    reached it first, so a configuration that would have ended best is filed with the bad ones
    and steers sampling away from its own region. Here a pruned trial's value is its best
    reported value up to the step where it stopped, plus the median change that complete
    trials made after that step; the sampler then ranks all trials on one scale. A pruned
    trial with no report, or with no complete trial to compare with, keeps Optuna's handling.
    Only the sampler's view changes: the study, the pruner and the results are untouched.
    """

    def __init__(self, base: BaseSampler) -> None:
        self.base = base
        # for the current (study, number of complete trials): the median gain after each
        # pruning step, and what the sampler is shown of each pruned trial, by trial id
        self._key: tuple[int, int] | None = None
        self._gains: dict[int, float | None] = {}
        self._shown: dict[int, FrozenTrial] = {}

    def infer_relative_search_space(self, study: "Study", trial: FrozenTrial) -> dict[str, "BaseDistribution"]:
        return self.base.infer_relative_search_space(self._view(study), trial)

    def sample_relative(
        self, study: "Study", trial: FrozenTrial, search_space: dict[str, "BaseDistribution"]
    ) -> dict[str, Any]:
        return self.base.sample_relative(self._view(study), trial, search_space)

    def sample_independent(
        self, study: "Study", trial: FrozenTrial, param_name: str, param_distribution: "BaseDistribution"
    ) -> Any:
        return self.base.sample_independent(self._view(study), trial, param_name, param_distribution)

    def before_trial(self, study: "Study", trial: FrozenTrial) -> None:
        self.base.before_trial(study, trial)

    def after_trial(
        self, study: "Study", trial: FrozenTrial, state: TrialState, values: Sequence[float] | None
    ) -> None:
        self.base.after_trial(study, trial, state, values)

    def reseed_rng(self) -> None:
        self.base.reseed_rng()

    def _view(self, study: "Study") -> "Study":
        return cast("Study", _EstimatedStudy(study, self))  # a stand-in for what TPE reads

    def estimated(self, study: "Study", trials: list[FrozenTrial]) -> list[FrozenTrial]:
        """``trials`` with every pruned trial that can be estimated shown as complete."""
        sign = 1.0 if study.direction == StudyDirection.MINIMIZE else -1.0
        complete = [t for t in trials if t.state == TrialState.COMPLETE and t.value is not None]
        key = (study._study_id, len(complete))  # complete trials only accumulate
        if key != self._key:
            self._key, self._gains, self._shown = key, {}, {}
        curves = None
        shown = []
        for trial in trials:
            if trial.state != TrialState.PRUNED:
                shown.append(trial)
                continue
            if trial._trial_id not in self._shown:  # a finished trial never changes
                steps, bests = _best_curve(trial, sign)
                if steps and steps[-1] not in self._gains:
                    curves = curves if curves is not None else [_best_curve(t, sign) for t in complete]
                    self._gains[steps[-1]] = _median_gain(complete, curves, steps[-1], sign)
                gain = self._gains[steps[-1]] if steps else None
                view = trial
                if gain is not None:
                    view = copy.copy(trial)
                    view.state = TrialState.COMPLETE
                    view.value = sign * bests[-1] + gain
                self._shown[trial._trial_id] = view
            shown.append(self._shown[trial._trial_id])
        return shown


class _EstimatedStudy:
    """The study as the wrapped TPE sampler sees it: its trials, pruned ones estimated.

    Only what Optuna's TPE sampler and its search spaces read of a study is offered (Optuna's
    private ``Study._get_trials`` among it; ``tests/test_sweeper.py`` checks its signature), so
    an Optuna that needs more fails loudly here instead of reading the unestimated study.
    """

    def __init__(self, study: "Study", sampler: EstimatingSampler) -> None:
        self._study = study
        self._sampler = sampler

    @property
    def _study_id(self) -> int:
        return self._study._study_id

    @property
    def _storage(self) -> Any:
        return self._study._storage

    @property
    def study_name(self) -> str:
        return self._study.study_name

    @property
    def direction(self) -> StudyDirection:
        return self._study.direction

    @property
    def directions(self) -> list[StudyDirection]:
        return self._study.directions

    def _is_multi_objective(self) -> bool:
        return self._study._is_multi_objective()

    def _get_trials(
        self, deepcopy: bool = True, states: Container[TrialState] | None = None, use_cache: bool = False
    ) -> list[FrozenTrial]:
        trials = self._study._get_trials(deepcopy=deepcopy, states=None, use_cache=use_cache)
        shown = self._sampler.estimated(self._study, trials)
        return [t for t in shown if states is None or t.state in states]

    def get_trials(self, deepcopy: bool = True, states: Container[TrialState] | None = None) -> list[FrozenTrial]:
        return self._get_trials(deepcopy=deepcopy, states=states)

    @property
    def trials(self) -> list[FrozenTrial]:
        return self.get_trials()


def _best_curve(trial: FrozenTrial, sign: float) -> tuple[list[int], list[float]]:
    """Steps and the best value so far at each, in the sign-adjusted (smaller is better) scale."""
    steps, bests, best = [], [], math.inf
    for step, value in sorted(trial.intermediate_values.items()):
        if math.isfinite(value):
            best = min(best, sign * value)
            steps.append(step)
            bests.append(best)
    return steps, bests


def _median_gain(
    complete: list[FrozenTrial], curves: list[tuple[list[int], list[float]]], step: int, sign: float
) -> float | None:
    """Median of (final value - best value up to ``step``) over the complete trials, or None."""
    gains = []
    for trial, (steps, bests) in zip(complete, curves):
        i = bisect.bisect_right(steps, step) - 1
        if i >= 0 and trial.value is not None:
            gains.append(trial.value - sign * bests[i])
    return statistics.median(gains) if gains else None


def estimate_pruned(sampler: BaseSampler) -> BaseSampler:
    """Wrap a TPE sampler in :class:`EstimatingSampler`; other samplers are returned as they are."""
    return EstimatingSampler(sampler) if isinstance(sampler, TPESampler) else sampler
