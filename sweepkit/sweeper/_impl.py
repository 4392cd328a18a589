"""The sweep loop: ask Optuna for trials, launch them as Hydra jobs, tell Optuna the outcome.

A trial's job number is its trial number, so a job finds its trial (see ``sweepkit.pruning``)
from its own Hydra config. Two loops share :meth:`SweepkitSweeperImpl.propose` and
:meth:`SweepkitSweeperImpl.finish`:

- asynchronous (``async_trials=true`` with a parallel launcher): ``n_jobs`` trials stay in
  flight, each launched alone in its own thread; a new trial is asked as soon as any ends
  (see ``_async.py``);
- batch-synchronous: ``n_jobs`` trials are proposed, launched together and told (the basic
  launcher, unknown launchers, or ``async_trials=false``).
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Optional, Sequence

import optuna
from hydra.core.override_parser.overrides_parser import OverridesParser
from hydra.core.plugins import Plugins
from hydra.core.utils import JobReturn, JobStatus
from hydra.plugins.sweeper import Sweeper
from hydra.types import HydraContext, TaskFunction
from hydra.utils import get_method
from omegaconf import DictConfig, OmegaConf
from optuna.trial import FrozenTrial, Trial, TrialState

from sweepkit.sweeper import _report
from sweepkit.sweeper._algorithms import as_dict, build_pruner, build_sampler
from sweepkit.sweeper._pruned import PRUNED_TRIALS, estimate_pruned
from sweepkit.sweeper._search_space import (
    SearchSpace,
    SweepConfigError,
    check_keys,
    grid_values,
    parse_search_space,
)
from sweepkit.sweeper._sweep_dir import (
    check_callback_mode,
    hold_driver_lock,
    release_driver_lock,
    resolve_study_name,
)
from sweepkit.sweeper._storage import (
    default_storage_url,
    default_study_name,
    open_storage,
    redact,
)

log = logging.getLogger("sweepkit.sweeper")

_DIRECTIONS = {"minimize": "minimize", "min": "minimize", "maximize": "maximize", "max": "maximize"}
_MAX_REJECTIONS = 100
_MISSING = object()


class SweepAborted(RuntimeError):
    """Too many trials failed: the sweep stops (the study stays consistent and resumable)."""


@dataclass
class Proposal:
    """One asked trial and the overrides that run it as a job."""

    trial: Trial
    overrides: list[str]

    @property
    def number(self) -> int:
        return self.trial.number


@dataclass
class _Tally:
    launched: int = 0
    failed: int = 0
    last_error: str = ""
    bad_returns: list[str] = field(default_factory=list)


def suggest(trial: Trial, name: str, distribution: Any) -> Any:
    """Sample ``name`` from ``distribution`` through the public Trial API."""
    from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

    if isinstance(distribution, FloatDistribution):
        return trial.suggest_float(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    if isinstance(distribution, IntDistribution):
        return trial.suggest_int(
            name, distribution.low, distribution.high, step=distribution.step, log=distribution.log
        )
    if isinstance(distribution, CategoricalDistribution):
        return trial.suggest_categorical(name, distribution.choices)
    raise SweepConfigError(f"unsupported distribution for {name!r}: {distribution}")


def _trial_handle(study: optuna.Study, frozen: FrozenTrial) -> Trial:
    return Trial(study, frozen._trial_id)


class SweepkitSweeperImpl(Sweeper):
    def __init__(
        self,
        sampler: Any,
        pruner: Any,
        direction: str,
        storage: Optional[str],
        study_name: Optional[str],
        n_trials: int,
        n_jobs: int,
        max_failure_rate: float,
        params: Optional[Any],
        custom_search_space: Optional[str],
        ordered_params: Sequence[Sequence[str]],
        resume: Any,
        async_trials: bool = True,
        pruned_trials: str = "estimate",
    ) -> None:
        self.sampler_config = as_dict(sampler)
        self.pruner_config = as_dict(pruner)
        self.direction = direction
        self.storage = storage
        self.study_name = study_name
        self.n_trials = n_trials
        self.n_jobs = n_jobs
        self.max_failure_rate = max_failure_rate
        self.params = as_dict(params) or {}
        self.custom_search_space = custom_search_space
        self.ordered_params = [list(pair) for pair in (ordered_params or [])]
        self.retry_failed = bool((as_dict(resume) or {}).get("retry_failed", False))
        self.async_trials = async_trials
        self.pruned_trials = pruned_trials
        self.config: Optional[DictConfig] = None
        self.launcher: Any = None
        self.space = SearchSpace()
        self.tally = _Tally()

    def setup(
        self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig
    ) -> None:
        self.config = config
        self.hydra_context = hydra_context
        self.launcher = Plugins.instance().instantiate_launcher(
            config=config, hydra_context=hydra_context, task_function=task_function
        )
        self.sweep_dir = Path(str(config.hydra.sweep.dir))

    # ---------------------------------------------------------------- preparation
    def prepare(self, arguments: Sequence[str]) -> optuna.Study:
        """Validate everything and open (or resume) the study; no job runs before this ends."""
        assert self.config is not None, "setup() must run first"
        direction = self._check_settings()
        self.space = parse_search_space(self.params, arguments)
        check_keys(self.space, self.config)
        self.extender: Optional[Callable[[DictConfig, Trial], None]] = None
        if self.custom_search_space:
            try:
                self.extender = get_method(self.custom_search_space)
            except Exception as err:
                raise SweepConfigError(
                    f"cannot load custom_search_space {self.custom_search_space!r}: {err}"
                ) from None
        pruner = build_pruner(self.pruner_config)
        sampler = build_sampler(self.sampler_config, self.space)
        sampler_name = type(sampler).__name__
        if self.pruned_trials == "estimate":
            sampler = estimate_pruned(sampler)
        if isinstance(sampler, optuna.samplers.GridSampler):
            size = math.prod(len(grid_values(k, d)) for k, d in self.space.distributions.items())
            if size < self.n_trials:
                log.info(f"Grid of {size} points: n_trials lowered from {self.n_trials}")
                self.n_trials = size

        check_callback_mode(self.config, direction)
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        self.driver_lock = hold_driver_lock(self.sweep_dir)  # one live driver per sweep dir
        self.storage_url = self.storage or default_storage_url(self.sweep_dir)
        self.resolved_study_name = resolve_study_name(self.sweep_dir, self.study_name)
        storage = open_storage(self.storage_url)
        try:
            study = optuna.create_study(
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                study_name=self.resolved_study_name,
                direction=direction,
                load_if_exists=True,
            )
        except Exception as err:
            raise SweepConfigError(
                f"cannot create or load study {self.resolved_study_name!r} in "
                f"{redact(self.storage_url)!r}: {type(err).__name__}: {err}"
            ) from None
        if study.direction.name.lower() != direction:
            raise SweepConfigError(
                f"study {study.study_name!r} exists with direction "
                f"{study.direction.name.lower()}, but hydra.sweeper.direction={self.direction!r}"
            )
        self._recover_interrupted(study)
        OmegaConf.save(self.config, self.sweep_dir / "multirun.yaml")
        log.info(
            f"Study {study.study_name!r} in {redact(self.storage_url)}: "
            f"sampler={sampler_name} pruner={type(pruner).__name__} "
            f"pruned_trials={self.pruned_trials} "
            f"direction={direction} n_trials={self.n_trials} n_jobs={self.n_jobs}"
        )
        for name, dist in self.space.distributions.items():
            log.info(f"  {name}: {dist}")
        return study

    def _check_settings(self) -> str:
        direction = _DIRECTIONS.get(str(self.direction).lower())
        if direction is None:
            raise SweepConfigError(
                f"hydra.sweeper.direction={self.direction!r}: use minimize or maximize"
            )
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise SweepConfigError(
                f"hydra.sweeper.n_trials={self.n_trials!r}: use an integer >= 1 (the sweep's "
                "total number of trials; a resumed sweep runs what is left of it)")
        if not isinstance(self.n_jobs, int) or self.n_jobs < 1:
            raise SweepConfigError(f"hydra.sweeper.n_jobs={self.n_jobs!r}: use an integer >= 1")
        if self.pruned_trials not in PRUNED_TRIALS:
            raise SweepConfigError(
                f"hydra.sweeper.pruned_trials={self.pruned_trials!r}: use one of "
                + ", ".join(PRUNED_TRIALS)
            )
        if not 0.0 <= float(self.max_failure_rate) <= 1.0:
            raise SweepConfigError(
                f"hydra.sweeper.max_failure_rate={self.max_failure_rate!r}: use a value in [0, 1]"
            )
        return direction

    def _recover_interrupted(self, study: optuna.Study) -> None:
        """Trials left RUNNING by a sweep that died.

        A job that finished after the sweeper stopped (it ran on, e.g. on a cluster) left its
        outcome in ``<sweep dir>/<trial>/run.json``: the trial is told that. The others are
        marked FAIL, and re-queued with ``resume.retry_failed``.
        """
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            if not (self.sweep_dir / str(frozen.number)).exists():  # asked, never launched
                _trial_handle(study, frozen).set_user_attr(_report.NEVER_LAUNCHED_ATTR, True)
                study.tell(frozen.number, state=TrialState.FAIL)
                study.enqueue_trial(frozen.params, user_attrs={"sweepkit_retry_of": frozen.number})
                log.warning(f"Trial {frozen.number} was proposed but never launched when the "
                            "sweep stopped: its parameters are queued again (not counted)")
                continue
            outcome = _report.job_outcome(self.sweep_dir / str(frozen.number))
            if outcome is not None:
                state, value = outcome
                study.tell(frozen.number, value, state=state)
                log.info(f"Trial {frozen.number} finished after the sweep stopped: {state.name}")
                continue
            handle = _trial_handle(study, frozen)
            if self.retry_failed:
                handle.set_user_attr(_report.RETRIED_ATTR, True)
            study.tell(frozen.number, state=TrialState.FAIL)
            action = "re-queued" if self.retry_failed else "not retried (resume.retry_failed=false)"
            log.warning(f"Trial {frozen.number} was running when the sweep stopped: failed, {action}")
            if self.retry_failed:
                study.enqueue_trial(
                    frozen.params, user_attrs={"sweepkit_retry_of": frozen.number}
                )

    # ---------------------------------------------------------------- the loop
    def sweep(self, arguments: list[str]) -> None:
        try:
            self._sweep(arguments)
        finally:
            release_driver_lock(getattr(self, "driver_lock", None))

    def _sweep(self, arguments: list[str]) -> None:
        study = self.prepare(arguments)
        mode = self.loop_mode()
        from sweepkit.sweeper._slurm import install_squeue_fallback, is_slurm_launcher

        if is_slurm_launcher(self.launcher):
            install_squeue_fallback()  # a job SLURM killed fails its trial instead of hanging
        log.info(f"Trials run {mode} ({type(self.launcher).__name__}, n_jobs={self.n_jobs})")
        if mode == "asynchronously":
            from sweepkit.sweeper._async import run_async

            run_async(self, study)
        else:
            self.run_batches(study)
        _report.write_results(study, self.sweep_dir, redact(self.storage_url))

    def loop_mode(self) -> str:
        """"asynchronously" with a thread-safe parallel launcher, else "in batches"."""
        from sweepkit.sweeper._async import is_parallel_launcher

        if self.async_trials and self.n_jobs > 1 and is_parallel_launcher(self.launcher):
            return "asynchronously"
        return "in batches"

    def run_batches(self, study: optuna.Study) -> None:
        """Batch-synchronous loop: propose n_jobs trials, launch them together, tell, repeat."""
        while (batch_size := min(self.n_jobs, self.remaining(study))) > 0:
            proposals = [self.propose(study) for _ in range(batch_size)]
            returns = self.launch(proposals)
            trials = {t.number: t for t in study.get_trials(deepcopy=False)}
            for proposal, job_return in zip(proposals, returns):
                self.finish(study, proposal, job_return, trials[proposal.number])
            _report.log_progress(study, self.sweep_dir, self.n_trials)
            self.check_failures()

    def remaining(self, study: optuna.Study) -> int:
        """Trials left in the budget: finished trials count, except rejected or retried ones."""
        used = 0
        for trial in study.get_trials(deepcopy=False):
            if trial.state.is_finished() and not any(
                attr in trial.user_attrs for attr in _report.UNCOUNTED_ATTRS
            ):
                used += 1
        return max(0, self.n_trials - used)

    def propose(self, study: optuna.Study) -> Proposal:
        """Ask a trial that satisfies the ordered pairs; rejected proposals are told FAIL."""
        for _ in range(_MAX_REJECTIONS):
            trial = study.ask()
            values = {name: suggest(trial, name, d) for name, d in self.space.distributions.items()}
            if self.extender is not None:
                self.extender(self.config, trial)
                values.update({k: v for k, v in trial.params.items() if k not in values})
            applied, reason = self._order_pairs(values)
            if reason is None:
                if applied != values:
                    trial.set_user_attr(
                        _report.APPLIED_ATTR, {k: v for k, v in applied.items() if values[k] != v}
                    )
                return Proposal(trial, self._overrides(applied))
            trial.set_user_attr(_report.REJECTED_ATTR, reason)
            study.tell(trial, state=TrialState.FAIL)
            log.warning(f"Trial {trial.number} rejected before launch: {reason}")
        raise SweepConfigError(
            f"{_MAX_REJECTIONS} proposals in a row broke hydra.sweeper.ordered_params "
            f"{self.ordered_params}: make the ranges of each pair compatible"
        )

    def _order_pairs(self, values: dict[str, Any]) -> tuple[dict[str, Any], Optional[str]]:
        applied = dict(values)
        for low_key, high_key in self.ordered_params:
            if low_key not in values and high_key not in values:
                continue
            low, high = self._value_of(low_key, applied), self._value_of(high_key, applied)
            if not all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in (low, high)):
                continue
            if low >= high and low_key in values and high_key in values:
                applied[low_key], applied[high_key] = high, low
                low, high = high, low
            if low >= high:
                return applied, f"{low_key}={low} must be below {high_key}={high}"
        return applied, None

    def _value_of(self, key: str, sampled: dict[str, Any]) -> Any:
        if key in sampled:
            return sampled[key]
        if key in self.space.fixed:
            return OverridesParser.create().parse_override(self.space.fixed[key]).value()
        assert self.config is not None
        return OmegaConf.select(self.config, key, default=_MISSING, throw_on_missing=False)

    def _overrides(self, values: dict[str, Any]) -> list[str]:
        overrides = list(self.space.fixed.values())
        overrides += [self.space.override(name, value) for name, value in values.items()]
        if self.storage is None:
            overrides.append(f"hydra.sweeper.storage={_quote(self.storage_url)}")
        if self.study_name is None:
            overrides.append(f"hydra.sweeper.study_name={_quote(self.resolved_study_name)}")
        return overrides

    def launch(self, proposals: Sequence[Proposal]) -> list[JobReturn]:
        """Launch the proposals; job number = trial number (one launcher call per run of numbers)."""
        returns: list[JobReturn] = []
        group: list[Proposal] = []
        for proposal in sorted(proposals, key=lambda p: p.number):
            if group and proposal.number != group[-1].number + 1:
                returns += self._launch_group(group)
                group = []
            group.append(proposal)
        if group:
            returns += self._launch_group(group)
        order = {p.number: i for i, p in enumerate(sorted(proposals, key=lambda p: p.number))}
        return [returns[order[p.number]] for p in proposals]

    def _launch_group(self, group: list[Proposal]) -> list[JobReturn]:
        self.tally.launched += len(group)
        returns = self.launcher.launch([p.overrides for p in group], initial_job_idx=group[0].number)
        return list(returns)

    def finish(
        self, study: optuna.Study, proposal: Proposal, job_return: JobReturn, stored: FrozenTrial
    ) -> TrialState:
        """Tell Optuna how the trial's job ended: COMPLETE, PRUNED or FAIL."""
        number = proposal.number
        if job_return.status == JobStatus.FAILED:
            try:
                job_return.return_value
            except BaseException as err:  # the job's exception, re-raised by JobReturn
                return self._fail(study, proposal, f"trial {number} failed: {type(err).__name__}: {err}")
        value = job_return.return_value
        try:
            number_value = float(value)
            if isinstance(value, bool) or value is None:
                raise TypeError
        except (TypeError, ValueError):
            message = (
                f"the task function returned {value!r} ({type(value).__name__}) for trial {number}; "
                "a sweep needs it to return the objective as a number (float)"
            )
            self.tally.bad_returns.append(message)
            return self._fail(study, proposal, message)
        if _report.PRUNED_ATTR in stored.user_attrs:
            study.tell(proposal.trial, state=TrialState.PRUNED)
            return TrialState.PRUNED
        if not math.isfinite(number_value):
            return self._fail(study, proposal, f"trial {number} returned {number_value} (diverged)")
        study.tell(proposal.trial, number_value)
        return TrialState.COMPLETE

    def _fail(self, study: optuna.Study, proposal: Proposal, message: str) -> TrialState:
        study.tell(proposal.trial, state=TrialState.FAIL)
        self.tally.failed += 1
        self.tally.last_error = message
        log.warning(message)
        return TrialState.FAIL

    def check_failures(self) -> None:
        """Stop the sweep on a non-number return or when failures exceed max_failure_rate."""
        if self.tally.bad_returns:
            raise SweepConfigError(self.tally.bad_returns[0])
        if self.tally.failed and self.tally.failed > self.max_failure_rate * self.tally.launched:
            raise SweepAborted(
                f"{self.tally.failed} of {self.tally.launched} trials failed, more than "
                f"hydra.sweeper.max_failure_rate={self.max_failure_rate}; last: "
                f"{self.tally.last_error}. The study is saved: fix the cause and resume with "
                f"hydra.sweep.dir={self.sweep_dir}"
            )


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
