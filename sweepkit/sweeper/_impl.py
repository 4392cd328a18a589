"""The sweeper: validate the settings, open the study, ask Optuna for trials and tell it outcomes.

The trials run through :class:`sweepkit.sweeper._loop.TrialRunner` (batches or asynchronous),
which calls back :meth:`SweepkitSweeperImpl.propose`, :meth:`~SweepkitSweeperImpl.finish`,
:meth:`~SweepkitSweeperImpl.remaining` and :meth:`~SweepkitSweeperImpl.progress`.
"""

from __future__ import annotations

import logging
import math
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

from sweepkit.errors import BadReturn, SweepAborted, SweepConfigError
from sweepkit.sweeper import _report
from sweepkit.sweeper._algorithms import as_dict, build_pruner, build_sampler, is_seeded
from sweepkit.sweeper._loop import Outcome, Proposal, TrialRunner, is_slurm_launcher
from sweepkit.sweeper._objectives import directions_of, objective_values
from sweepkit.sweeper._pruned import PRUNED_TRIALS, estimate_pruned
from sweepkit.sweeper._search_space import SearchSpace, check_keys, enqueued_params, parse_search_space
from sweepkit.sweeper._storage import (
    check_journal,
    default_storage_url,
    journal_path,
    open_storage,
    redact,
    warn_if_password,
)
from sweepkit.sweeper._sweep_dir import (
    check_callback_mode,
    hold_driver_lock,
    release_driver_lock,
    resolve_study_name,
    write_multirun_config,
)

log = logging.getLogger("sweepkit.sweeper")

_MAX_REJECTIONS = 100
MEMORY = "memory"  # hydra.sweeper.storage=memory: an in-memory study (the stock plugin's null)
BUDGETS = ("total", "per_run")
FAILURE_SCOPES = ("sweep", "batch")
_MISSING = object()
RETRY_OF_ATTR = "sweepkit_retry_of"  # a re-queued trial: the number of the trial it retries
SUBDIR_ATTR = "sweepkit_job_subdir"  # set when a trial runs in another trial's job dir
JOB_LOST_ATTR = "sweepkit_job_lost"  # the launcher lost the trial's job (killed, preempted): why
ENQUEUED_ATTR = "sweepkit_enqueued"  # a trial of hydra.sweeper.enqueue_trials: the parameters queued


__all__ = ["Proposal", "SweepAborted", "SweepkitSweeperImpl"]


def _suggest(trial: Trial, name: str, distribution: Any) -> Any:
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
        direction: Any,
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
        metric_names: Optional[Sequence[str]] = None,
        budget: str = "total",
        failure_rate_scope: str = "sweep",
        stop_on_bad_return: bool = True,
        nan_counts_as_failure: bool = True,
        gpus: Any = None,
        gpu_overrides: Optional[Sequence[str]] = None,
        timeout: Optional[float] = None,
        enqueue_trials: Optional[Sequence[Any]] = None,
    ) -> None:
        self.sampler_config = as_dict(sampler)
        self.pruner_config = as_dict(pruner)
        self.direction = (
            OmegaConf.to_container(direction, resolve=True) if OmegaConf.is_config(direction) else direction
        )
        self.metric_names = [str(m) for m in metric_names] if metric_names is not None else None
        self.budget = budget
        self.failure_rate_scope = failure_rate_scope
        self.stop_on_bad_return = stop_on_bad_return
        self.nan_counts_as_failure = nan_counts_as_failure
        self.directions: list[str] = []
        self.grid_sampler: Any = None
        self.storage = storage
        self.study_name = study_name
        self.n_trials = n_trials
        self.timeout = timeout
        self.n_jobs = n_jobs
        self.max_failure_rate = max_failure_rate
        self.params = as_dict(params) or {}
        self.custom_search_space = custom_search_space
        self.ordered_params = [list(pair) for pair in (ordered_params or [])]
        queued = (
            OmegaConf.to_container(enqueue_trials, resolve=True)
            if OmegaConf.is_config(enqueue_trials)
            else enqueue_trials
        )
        if not isinstance(queued, (list, tuple, type(None))):
            raise SweepConfigError(f"hydra.sweeper.enqueue_trials={queued!r}: use a list, e.g. [defaults]")
        self.enqueue_trials = list(queued or [])
        self.retry_failed = bool((as_dict(resume) or {}).get("retry_failed", False))
        self.async_trials = async_trials
        self.pruned_trials = pruned_trials
        self.gpus = gpus
        self.gpu_overrides = list(gpu_overrides or [])
        self.gpu_slots: Any = None
        self.trial_attrs: Any = None
        self.config: Optional[DictConfig] = None
        self.launcher: Any = None
        self.space = SearchSpace()
        self.runner: Optional[TrialRunner] = None
        self.clock: Optional[_report.SweepClock] = None  # set when the trials start

    def setup(self, *, hydra_context: HydraContext, task_function: TaskFunction, config: DictConfig) -> None:
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
        directions = self.directions = self._check_settings()
        multi = len(directions) > 1
        self.space = parse_search_space(self.params, arguments)
        loader = self.hydra_context.config_loader if self.hydra_context is not None else None

        def is_group(key: str) -> bool:
            parent, _, name = key.replace(".", "/").rpartition("/")
            return loader is not None and name in loader.list_groups(parent)

        check_keys(self.space, self.config, is_group)
        self.extender: Optional[Callable[[DictConfig, Trial], None]] = None
        if self.custom_search_space:
            try:
                self.extender = get_method(self.custom_search_space)
            except Exception as err:
                raise SweepConfigError(f"cannot load custom_search_space {self.custom_search_space!r}: {err}") from None
        pruner = build_pruner(self.pruner_config)
        self._check_pruner(pruner, multi)
        sampler = build_sampler(self.sampler_config, self.space)
        sampler_name = type(sampler).__name__
        if multi and isinstance(sampler, optuna.samplers.CmaEsSampler):
            raise SweepConfigError(
                f"the sampler {sampler_name} optimises one objective, but "
                f"hydra.sweeper.direction={self.direction!r} has {len(directions)}: use "
                "hydra/sweeper/sampler=tpe, nsgaii, nsgaiii, gp, qmc, random or grid"
            )
        if isinstance(sampler, optuna.samplers.GridSampler):
            self.grid_sampler = sampler
            size = math.prod(len(self.space.grid_values(k)) for k in self.space.distributions)
            if size < self.n_trials:
                log.info(f"Grid of {size} points: n_trials lowered from {self.n_trials}")
                self.n_trials = size
        if self.pruned_trials == "estimate" and not multi:
            sampler = estimate_pruned(sampler)

        if not multi:  # the top-k callback ranks one metric (the manifest's side)
            check_callback_mode(self.config, directions[0])
        self._prepare_scale_out()
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        self.driver_lock = hold_driver_lock(self.sweep_dir)  # one live driver per sweep dir
        in_memory = self.storage == MEMORY
        self.storage_url = self.storage or default_storage_url(self.sweep_dir)
        self.resolved_study_name = resolve_study_name(self.sweep_dir, self.study_name)
        if not in_memory and (journal := journal_path(self.storage_url)) is not None:
            check_journal(journal)  # Optuna reads it lazily: a damaged one would fail anywhere later
        storage = optuna.storages.InMemoryStorage() if in_memory else open_storage(self.storage_url)
        try:
            study = self._open_study(storage, sampler, pruner, directions)
        except SweepConfigError:
            raise
        except Exception as err:
            raise SweepConfigError(
                f"cannot create or load study {self.resolved_study_name!r} in "
                f"{redact(self.storage_url)!r}: {type(err).__name__}: {err}"
            ) from None
        trials_before = len(study.get_trials(deepcopy=False))
        if trials_before and is_seeded(self.sampler_config):  # continue the draws, do not replay them
            study.sampler = build_sampler(self.sampler_config, self.space, trials_before)
            if isinstance(study.sampler, optuna.samplers.GridSampler):
                self.grid_sampler = study.sampler
            elif self.pruned_trials == "estimate" and not multi:
                study.sampler = estimate_pruned(study.sampler)
        if self.metric_names is None and study.metric_names is not None:
            self.metric_names = list(study.metric_names)  # a resumed study keeps its names
        self._set_metric_names(study, self.metric_names)
        self._recover_interrupted(study)
        if self.budget == "per_run":  # the stock rule: n_trials more, whatever ran before
            self.n_trials += self.used(study)
        self._feed_optuna_tools(study)
        write_multirun_config(self.sweep_dir, self.config, study.study_name)
        log.info(
            f"Study {study.study_name!r} in {redact(self.storage_url)}: "
            f"sampler={sampler_name} pruner={type(pruner).__name__} "
            f"pruned_trials={self.pruned_trials} "
            f"direction={_one_or_list(directions)} n_trials={self.n_trials} n_jobs={self.n_jobs}"
        )
        for name, dist in self.space.distributions.items():
            log.info(f"  {name}: {dist}")
        self._enqueue(study)
        return study

    # ---------------------------------------------------------------- scale-out (storage, GPUs, tools)
    def _prepare_scale_out(self) -> None:
        """Warn about a password written into the storage URL; set up the GPU slots."""
        from sweepkit.sweeper._gpus import build_slots

        assert self.config is not None
        sweeper = OmegaConf.to_container(self.config.hydra.sweeper, resolve=False)  # as written
        warn_if_password(sweeper.get("storage") if isinstance(sweeper, dict) else None)
        self.gpu_slots = build_slots(self.gpus, self.gpu_overrides, is_slurm_launcher(self.launcher))

    def _feed_optuna_tools(self, study: optuna.Study) -> None:
        """Metric names on the study; trial attributes and the ranking as jobs end (_trial_attrs)."""
        from sweepkit.sweeper._trial_attrs import TrialAttrs, metric_names, set_metric_names

        assert self.config is not None
        if self.metric_names is None and study.metric_names is None and len(study.directions) == 1:
            set_metric_names(study, metric_names(self.config))  # several: _set_metric_names
        self.trial_attrs = TrialAttrs(study, self.sweep_dir)

    def _proposal(self, trial: Trial, applied: dict[str, Any]) -> Proposal:
        """The accepted trial's job: its overrides, and a GPU when the sweep spreads trials over GPUs."""
        overrides = self._overrides(applied) + self._retry_overrides(trial)
        gpu = self.gpu_slots.acquire() if self.gpu_slots is not None else None
        if gpu is not None:
            overrides += self.gpu_slots.overrides(gpu)
            trial.set_user_attr("gpu", gpu)
        return Proposal(trial, overrides, gpu)

    def _retry_overrides(self, trial: Trial) -> list[str]:
        """A retried trial runs in its first attempt's job dir: it resumes from the resume
        checkpoint there and the manifest keeps one run (with Hydra's default subdir only)."""
        assert self.config is not None
        retry_of = trial.user_attrs.get(RETRY_OF_ATTR)
        sweep = OmegaConf.to_container(self.config.hydra.sweep, resolve=False)  # unresolved
        raw = sweep.get("subdir") if isinstance(sweep, dict) else None
        if retry_of is None or raw != "${hydra.job.num}":
            return []
        first = trial.study.get_trials(deepcopy=False)[int(retry_of)]
        if _report.NEVER_LAUNCHED_ATTR in first.user_attrs:  # no job dir to go back to
            return []
        subdir = job_subdir(first)
        trial.set_user_attr(SUBDIR_ATTR, subdir)
        return [f"hydra.sweep.subdir={_quote(subdir)}"]

    def _job_ended(self, study: optuna.Study, proposal: Proposal, job_return: JobReturn) -> None:
        if self.gpu_slots is not None:
            self.gpu_slots.release(proposal.gpu)
        if self.trial_attrs is not None:
            self.trial_attrs.job_ended(study, proposal.trial, job_return, failed=job_return.status == JobStatus.FAILED)

    def _open_study(self, storage: Any, sampler: Any, pruner: Any, directions: list[str]) -> optuna.Study:
        """Load the study if it exists (after checking its directions), else create it."""
        name = self.resolved_study_name
        try:
            study_id = storage.get_study_id_from_name(name)
        except KeyError:
            return optuna.create_study(
                storage=storage,
                sampler=sampler,
                pruner=pruner,
                study_name=name,
                directions=directions,  # type: ignore[arg-type]  # minimize/maximize, checked
            )
        stored = [d.name.lower() for d in storage.get_study_directions(study_id)]
        if stored != directions:
            raise SweepConfigError(
                f"study {name!r} exists with direction {_one_or_list(stored)}, but "
                f"hydra.sweeper.direction={self.direction!r}: use the study's direction, or a new "
                "hydra.sweep.dir / study_name"
            )
        return optuna.load_study(study_name=name, storage=storage, sampler=sampler, pruner=pruner)

    def _check_settings(self) -> list[str]:
        directions = directions_of(self.direction)
        if self.metric_names is not None and (
            len(self.metric_names) != len(directions) or len(set(self.metric_names)) != len(directions)
        ):
            raise SweepConfigError(
                f"hydra.sweeper.metric_names={self.metric_names} does not match "
                f"hydra.sweeper.direction={self.direction!r}: give {len(directions)} distinct "
                "name(s), one per direction, in the same order"
            )
        for key, value, allowed in (
            ("budget", self.budget, BUDGETS),
            ("failure_rate_scope", self.failure_rate_scope, FAILURE_SCOPES),
        ):
            if value not in allowed:
                raise SweepConfigError(f"hydra.sweeper.{key}={value!r}: use one of {', '.join(allowed)}")
        if not isinstance(self.n_trials, int) or self.n_trials < 1:
            raise SweepConfigError(
                f"hydra.sweeper.n_trials={self.n_trials!r}: use an integer >= 1 (the sweep's "
                "total number of trials; a resumed sweep runs what is left of it)"
            )
        if self.timeout is not None and (
            isinstance(self.timeout, bool) or not isinstance(self.timeout, (int, float)) or not self.timeout > 0
        ):
            raise SweepConfigError(
                f"hydra.sweeper.timeout={self.timeout!r}: use seconds > 0 (no new trial starts after "
                "them), or null for no time limit"
            )
        if not isinstance(self.n_jobs, int) or self.n_jobs < 1:
            raise SweepConfigError(f"hydra.sweeper.n_jobs={self.n_jobs!r}: use an integer >= 1")
        if self.pruned_trials not in PRUNED_TRIALS:
            raise SweepConfigError(
                f"hydra.sweeper.pruned_trials={self.pruned_trials!r}: use one of " + ", ".join(PRUNED_TRIALS)
            )
        if not 0.0 <= float(self.max_failure_rate) <= 1.0:
            raise SweepConfigError(f"hydra.sweeper.max_failure_rate={self.max_failure_rate!r}: use a value in [0, 1]")
        return directions

    def _check_pruner(self, pruner: Any, multi: bool) -> None:
        """Pruning needs one objective, and jobs that reach the study's storage."""
        if isinstance(pruner, optuna.pruners.NopPruner):
            return
        name = str((self.pruner_config or {}).get("_target_", type(pruner).__name__)).rpartition(".")[2]
        if multi:
            raise SweepConfigError(
                f"the pruner {name} cannot judge a study with several objectives "
                f"(hydra.sweeper.direction={self.direction!r}): Optuna does not prune them. Use "
                "hydra/sweeper/pruner=none (or sweeper=bayes / sweeper=random)"
            )
        if self.storage == MEMORY:
            raise SweepConfigError(
                f"the pruner {name} needs a storage the jobs can reach, not "
                "hydra.sweeper.storage=memory: drop the storage setting (a journal in the sweep "
                "directory) or use hydra/sweeper/pruner=none"
            )

    def _set_metric_names(self, study: optuna.Study, names: Optional[Sequence[str]]) -> None:
        """Name the study's objectives (once; a resumed study must keep its names)."""
        if names is None:
            return
        if study.metric_names is not None:
            if list(study.metric_names) != list(names):
                raise SweepConfigError(
                    f"study {study.study_name!r} names its objectives {study.metric_names}, but "
                    f"this sweep names them {list(names)}: use the same names and order"
                )
            return
        import warnings

        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            study.set_metric_names(list(names))
        self.metric_names = list(names)

    def _recover_interrupted(self, study: optuna.Study) -> None:
        """Trials left RUNNING by a sweep that died, and trials whose job the launcher lost.

        A job that finished after the sweeper stopped (it ran on, e.g. on a cluster) left its
        outcome in ``<sweep dir>/<trial>/run.json``: the trial is told that. The others are
        marked FAIL, and re-queued with ``resume.retry_failed``, as are FAIL trials whose job
        was lost while the sweeper lived (a killed joblib worker or submitit job).
        """
        if self.retry_failed:
            self._retry_lost_jobs(study)
        for frozen in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
            job_dir = self.sweep_dir / job_subdir(frozen)
            if not job_dir.exists():  # asked, never launched
                _trial_handle(study, frozen).set_user_attr(_report.NEVER_LAUNCHED_ATTR, True)
                study.tell(frozen.number, state=TrialState.FAIL)
                study.enqueue_trial(frozen.params, user_attrs={RETRY_OF_ATTR: frozen.number})
                log.warning(
                    f"Trial {frozen.number} was proposed but never launched when the "
                    "sweep stopped: its parameters are queued again (not counted)"
                )
                continue
            outcome = _report.job_outcome(job_dir)
            if outcome is not None and len(self.directions) == 1:  # run.json has one value
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
                study.enqueue_trial(frozen.params, user_attrs={RETRY_OF_ATTR: frozen.number})

    def _enqueue(self, study: optuna.Study) -> None:
        """Queue ``enqueue_trials`` unless a trial with the same parameters exists (a resumed sweep)."""
        assert self.config is not None
        for params in enqueued_params(self.enqueue_trials, self.space, self.config):
            if _queued_already(study, params):
                continue
            study.enqueue_trial(params, user_attrs={ENQUEUED_ATTR: params})
            shown = " ".join(self.space.override(k, v) for k, v in params.items())
            log.info(f"Queued a trial to run first: {shown or '(every parameter sampled)'}")

    def _retry_lost_jobs(self, study: optuna.Study) -> None:
        """Queue again each FAIL trial whose job was lost and that no trial retries yet.

        A finished trial cannot take new attributes, so the retry's ``sweepkit_retry_of``
        marks it as retried (and :meth:`used` stops counting it).
        """
        trials = study.get_trials(deepcopy=False)
        retried = _retried(trials)
        for frozen in trials:
            if frozen.state != TrialState.FAIL or JOB_LOST_ATTR not in frozen.user_attrs or frozen.number in retried:
                continue
            study.enqueue_trial(frozen.params, user_attrs={RETRY_OF_ATTR: frozen.number})
            log.warning(f"Trial {frozen.number}'s job was lost ({frozen.user_attrs[JOB_LOST_ATTR]}): re-queued")

    # ---------------------------------------------------------------- the loop
    def sweep(self, arguments: list[str]) -> None:
        try:
            self._sweep(arguments)
        finally:
            release_driver_lock(getattr(self, "driver_lock", None), getattr(self, "sweep_dir", None))

    def _sweep(self, arguments: list[str]) -> None:
        study = self.prepare(arguments)
        self.clock = _report.SweepClock(self.used(study), self.timeout)
        self.runner = runner = TrialRunner(
            self, self.launcher, self.n_jobs, self.max_failure_rate, self.failure_rate_scope, self.sweep_dir
        )
        mode = runner.mode(self.async_trials)
        if is_slurm_launcher(self.launcher):
            from sweepkit.sweeper._slurm import install_squeue_fallback

            install_squeue_fallback()  # a job SLURM killed fails its trial instead of hanging
        log.info(f"Trials run {mode} ({type(self.launcher).__name__}, n_jobs={self.n_jobs})")
        runner.run(study, mode)
        self._name_the_metric(study)
        _report.write_results(study, self.sweep_dir, redact(self.storage_url))

    def _name_the_metric(self, study: optuna.Study) -> None:
        """A study whose one metric has no name but the default ``objective`` takes the name
        the runs recorded (the manifest's, e.g. a Lightning ModelCheckpoint's ``val/loss``)."""
        if self.metric_names is not None or len(study.directions) > 1 or study.metric_names != ["objective"]:
            return
        from sweepkit.manifest import read_settings
        from sweepkit.sweeper._trial_attrs import set_metric_names

        try:
            name = read_settings(self.sweep_dir).get("metric_name")
        except Exception:  # no manifest (switched off), or one that cannot be read: keep the name
            return
        if isinstance(name, str) and name and name != "objective":
            set_metric_names(study, [name])

    def progress(self, study: optuna.Study) -> None:
        """Log the sweep's progress after trials ended."""
        _report.log_progress(study, self.sweep_dir, self.n_trials, self.clock, self.used(study))

    def used(self, study: optuna.Study) -> int:
        """Finished trials that count against the budget (not rejected, retried, never launched)."""
        trials = study.get_trials(deepcopy=False)
        retried = _retried(trials)
        return sum(
            1
            for trial in trials
            if trial.state.is_finished()
            and trial.number not in retried
            and not any(attr in trial.user_attrs for attr in _report.UNCOUNTED_ATTRS)
        )

    def remaining(self, study: optuna.Study) -> int:
        """Trials left in the budget; none once a grid sampler has run every point."""
        if self.grid_sampler is not None and self.grid_sampler.is_exhausted(study):
            return 0
        if self.clock is not None and self.clock.out_of_time():
            return 0
        return max(0, self.n_trials - self.used(study))

    def propose(self, study: optuna.Study) -> Proposal:
        """Ask a trial that satisfies the ordered pairs; rejected proposals are told FAIL."""
        for _ in range(_MAX_REJECTIONS):
            trial = study.ask()
            values = {name: _suggest(trial, name, d) for name, d in self.space.distributions.items()}
            if self.extender is not None:
                assert self.config is not None
                self.extender(self.config, trial)
                values.update({k: v for k, v in trial.params.items() if k not in values})
            applied, reason = self._order_pairs(values)
            if reason is None:
                if applied != values:
                    trial.set_user_attr(_report.APPLIED_ATTR, {k: v for k, v in applied.items() if values[k] != v})
                return self._proposal(trial, applied)
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
        if self.storage == MEMORY:  # jobs cannot reach the study: they report nothing
            overrides.append("hydra.sweeper.storage=null")
        elif self.storage is None:
            overrides.append(f"hydra.sweeper.storage={_quote(self.storage_url)}")
        if self.study_name is None:
            overrides.append(f"hydra.sweeper.study_name={_quote(self.resolved_study_name)}")
        return overrides

    def finish(self, study: optuna.Study, proposal: Proposal, job_return: JobReturn, stored: FrozenTrial) -> Outcome:
        """Tell Optuna how the trial's job ended: COMPLETE, PRUNED or FAIL."""
        self._job_ended(study, proposal, job_return)
        number = proposal.number
        if job_return.status == JobStatus.FAILED:
            if proposal.job_lost is not None:
                proposal.trial.set_user_attr(JOB_LOST_ATTR, proposal.job_lost)
                return self._fail(
                    study,
                    proposal,
                    f"trial {number}'s job was lost ({proposal.job_lost}); resume the sweep with "
                    "hydra.sweeper.resume.retry_failed=true to run it again",
                )
            try:
                _ = job_return.return_value
            except BaseException as err:  # the job's exception, re-raised by JobReturn
                return self._fail(study, proposal, f"trial {number} failed: {type(err).__name__}: {err}")
        try:
            values, names = objective_values(job_return.return_value, len(self.directions), self.metric_names, number)
        except BadReturn as err:
            return self._fail(study, proposal, f"the task function {err}", stops_sweep=self.stop_on_bad_return)
        if names is not None and self.metric_names is None:
            self._set_metric_names(study, names)
        if _report.PRUNED_ATTR in stored.user_attrs:
            self._tell(study, proposal.trial, state=TrialState.PRUNED)
            return Outcome(TrialState.PRUNED)
        if not all(math.isfinite(v) for v in values):
            shown = _named(values, self.metric_names)
            return self._fail(
                study, proposal, f"trial {number} returned {shown} (diverged)", counted=self.nan_counts_as_failure
            )
        self._tell(study, proposal.trial, values=values)
        return Outcome(TrialState.COMPLETE)

    def _tell(self, study: optuna.Study, trial: Trial, **kwargs: Any) -> None:
        """study.tell; a grid sampler's stop() on its last point is no error here."""
        try:
            study.tell(trial, **kwargs)
        except RuntimeError as err:
            if self.grid_sampler is None or "Study.stop" not in str(err):
                raise
            log.info("The grid is exhausted: every point has a trial")

    def _fail(
        self, study: optuna.Study, proposal: Proposal, message: str, counted: bool = True, stops_sweep: bool = False
    ) -> Outcome:
        """Tell FAIL; a counted failure weighs against max_failure_rate."""
        self._tell(study, proposal.trial, state=TrialState.FAIL)
        log.warning(message)
        return Outcome(TrialState.FAIL, message, counted, stops_sweep)


def _queued_already(study: optuna.Study, params: dict[str, Any]) -> bool:
    """Whether ``params`` were queued before (a resumed sweep); retries of such a trial are
    queued by the resume, not here."""
    return any(trial.user_attrs.get(ENQUEUED_ATTR) == params for trial in study.get_trials(deepcopy=False))


def _retried(trials: Sequence[FrozenTrial]) -> set[int]:
    """Numbers of the trials that another trial retries (``sweepkit_retry_of``)."""
    return {int(t.user_attrs[RETRY_OF_ATTR]) for t in trials if RETRY_OF_ATTR in t.user_attrs}


def job_subdir(trial: FrozenTrial) -> str:
    """A trial's job dir in the sweep: its number, or its first attempt's dir when it is a retry."""
    return str(trial.user_attrs.get(SUBDIR_ATTR, trial.number))


def _one_or_list(directions: Sequence[str]) -> Any:
    return directions[0] if len(directions) == 1 else list(directions)


def _named(values: Sequence[float], names: Optional[Sequence[str]]) -> str:
    if names is None:
        return ", ".join(map(str, values)) if len(values) > 1 else str(values[0])
    return ", ".join(f"{n}={v}" for n, v in zip(names, values))


def _quote(text: str) -> str:
    return "'" + text.replace("\\", "\\\\").replace("'", "\\'") + "'"
