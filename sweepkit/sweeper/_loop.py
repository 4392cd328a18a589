"""The trial loop: run proposed trials as Hydra jobs, in batches or asynchronously.

:class:`TrialRunner` owns the tally of launched and failed trials and decides when the sweep
stops; the sweeper hands it :class:`Trials` (ask, tell, budget). Only the main thread talks to
the study. A trial's job number is its trial number, so a job finds its trial (see
``sweepkit.pruning``) from its own Hydra config.

- asynchronous (``async_trials=true`` with a parallel launcher): ``n_jobs`` trials stay in
  flight, a new one is asked as soon as any ends. Hydra launchers block in ``launch()`` until
  every job of the call ends, so each trial is launched alone in a worker thread. joblib (loky
  executor shared by the calls, nesting level 0) and submitit (one executor and job array per
  call) accept concurrent ``launch()`` calls; the basic launcher runs jobs in this process and
  is never used this way.
- batch-synchronous: ``n_jobs`` trials are proposed, launched together and told (the basic
  launcher, unknown launchers, or ``async_trials=false``).
"""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any, Optional, Protocol, Sequence

from hydra.core.utils import JobReturn, JobStatus
from optuna.trial import FrozenTrial, Trial, TrialState

from sweepkit.errors import SweepAborted, SweepConfigError

if TYPE_CHECKING:
    import optuna

log = logging.getLogger("sweepkit.sweeper")

ASYNC, BATCHES = "asynchronously", "in batches"
# Launchers whose launch() may run concurrently from several threads of one process.
THREAD_SAFE_LAUNCHERS = frozenset(
    {
        "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
        "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
        "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
    }
)
_SLURM_LAUNCHER = "submitit_launcher.SlurmLauncher"


def _class_names(launcher: Any) -> list[str]:
    return [f"{cls.__module__}.{cls.__qualname__}" for cls in type(launcher).__mro__]


def is_parallel_launcher(launcher: Any) -> bool:
    """Whether ``launcher`` runs jobs outside this process and tolerates concurrent calls."""
    return any(name in THREAD_SAFE_LAUNCHERS for name in _class_names(launcher))


def is_slurm_launcher(launcher: Any) -> bool:
    """Whether ``launcher`` is submitit's SLURM launcher (or a subclass)."""
    return any(name.endswith(_SLURM_LAUNCHER) for name in _class_names(launcher))


@dataclass
class Proposal:
    """One asked trial and the overrides that run it as a job."""

    trial: Trial
    overrides: list[str]
    gpu: Optional[str] = None
    job_lost: Optional[str] = None  # the launcher lost the job (killed, preempted): why

    @property
    def number(self) -> int:
        return self.trial.number


@dataclass(frozen=True)
class Outcome:
    """How a trial's job ended, as told to Optuna."""

    state: TrialState
    message: str = ""  # why it failed
    counted: bool = True  # a failure that weighs against max_failure_rate
    stops_sweep: bool = False  # the task returned no number and stop_on_bad_return is on


@dataclass
class Tally:
    """Trials launched and failed; a pruned trial is launched but neither failed nor complete."""

    launched: int = 0
    failed: int = 0
    last_error: str = ""
    bad_returns: list[str] = field(default_factory=list)
    outcomes: list[bool] = field(default_factory=list)  # per finished trial: failed?

    def record(self, outcome: Outcome) -> None:
        if outcome.state == TrialState.COMPLETE:
            self.outcomes.append(False)
        elif outcome.state == TrialState.FAIL:
            if outcome.stops_sweep:
                self.bad_returns.append(outcome.message)
            self.failed += outcome.counted
            self.outcomes.append(outcome.counted)
            self.last_error = outcome.message


class Trials(Protocol):
    """What the runner needs of the sweeper: ask, tell, the budget left, a progress line."""

    def propose(self, study: optuna.Study) -> Proposal: ...

    def finish(
        self, study: optuna.Study, proposal: Proposal, job_return: JobReturn, stored: FrozenTrial
    ) -> Outcome: ...

    def remaining(self, study: optuna.Study) -> int: ...

    def progress(self, study: optuna.Study) -> None: ...


class TrialRunner:
    """Runs the sweep's trials through the launcher and stops it when too many fail."""

    def __init__(
        self,
        trials: Trials,
        launcher: Any,
        n_jobs: int,
        max_failure_rate: float,
        failure_rate_scope: str,
        sweep_dir: Path,
    ) -> None:
        self.trials, self.launcher, self.n_jobs = trials, launcher, n_jobs
        self.max_failure_rate, self.failure_rate_scope = max_failure_rate, failure_rate_scope
        self.sweep_dir = sweep_dir
        self.tally = Tally()
        self._batch_start: Optional[int] = None

    def mode(self, async_trials: bool) -> str:
        """``ASYNC`` with a thread-safe parallel launcher and ``n_jobs > 1``, else ``BATCHES``."""
        if async_trials and self.n_jobs > 1 and is_parallel_launcher(self.launcher):
            return ASYNC
        return BATCHES

    def run(self, study: optuna.Study, mode: str) -> None:
        if mode == ASYNC:
            self.run_async(study)
        else:
            self.run_batches(study)

    def _finish(
        self, study: optuna.Study, proposal: Proposal, job_return: JobReturn, stored: FrozenTrial
    ) -> TrialState:
        outcome = self.trials.finish(study, proposal, job_return, stored)
        self.tally.record(outcome)
        return outcome.state

    # ------------------------------------------------------------------ batches
    def run_batches(self, study: optuna.Study) -> None:
        """Propose n_jobs trials, launch them together, tell, repeat."""
        while (batch_size := min(self.n_jobs, self.trials.remaining(study))) > 0:
            self._batch_start = len(self.tally.outcomes)
            proposals = [self.trials.propose(study) for _ in range(batch_size)]
            returns = self.launch(proposals)
            trials = {t.number: t for t in study.get_trials(deepcopy=False)}
            for proposal, job_return in zip(proposals, returns):
                self._finish(study, proposal, job_return, trials[proposal.number])
            self.trials.progress(study)
            self.check_failures()

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

    # ------------------------------------------------------------- asynchronous
    def launch_one(self, proposal: Proposal) -> JobReturn:
        """Run one trial's job; an error of the launcher becomes a FAILED return.

        submitit raises when the cluster killed a job before it wrote its result (time limit,
        preemption without requeue, node failure), joblib when a worker died: that trial fails
        as lost (``resume.retry_failed`` queues it again), the others go on.
        """
        try:
            (job_return,) = self.launcher.launch([proposal.overrides], initial_job_idx=proposal.number)
            return job_return  # type: ignore[no-any-return]
        except Exception as err:
            proposal.job_lost = f"{type(err).__name__}: {err}"
            failed = JobReturn(overrides=proposal.overrides, status=JobStatus.FAILED)
            failed.return_value = err
            return failed

    def run_async(self, study: optuna.Study) -> None:
        """Keep ``n_jobs`` trials running until the budget is spent.

        When the sweep must stop (too many failures, a non-number return), no new trial starts;
        the running ones are waited for and told, then the error is raised.
        """
        running: dict[Future[JobReturn], Proposal] = {}
        stop: Optional[Exception] = None
        with ThreadPoolExecutor(max_workers=self.n_jobs, thread_name_prefix="sweepkit-trial") as pool:
            while True:
                while stop is None and len(running) < self.n_jobs and (self.trials.remaining(study) - len(running) > 0):
                    proposal = self.trials.propose(study)
                    self.tally.launched += 1
                    running[pool.submit(self.launch_one, proposal)] = proposal
                    log.info(f"Trial {proposal.number} started ({len(running)} running)")
                if not running:
                    break
                done, _ = wait(running, return_when=FIRST_COMPLETED)
                trials = {t.number: t for t in study.get_trials(deepcopy=False)}
                for future in sorted(done, key=lambda f: running[f].number):
                    proposal = running.pop(future)
                    state = self._finish(study, proposal, future.result(), trials[proposal.number])
                    log.info(f"Trial {proposal.number} ended: {state.name} ({len(running)} running)")
                self.trials.progress(study)
                if stop is None:
                    try:
                        self.check_failures()
                    except Exception as err:
                        stop = err
                        if running:
                            log.warning(f"Stopping: waiting for {len(running)} running trial(s)")
        if stop is not None:
            raise stop

    # ------------------------------------------------------------------ stopping
    def check_failures(self) -> None:
        """Stop the sweep on a non-number return or when failures exceed max_failure_rate."""
        if self.tally.bad_returns:
            raise SweepConfigError(self.tally.bad_returns[0])
        failed, launched = self.tally.failed, self.tally.launched
        if self.failure_rate_scope == "batch":  # the stock rule: each batch on its own
            start = self._batch_start
            outcomes = self.tally.outcomes
            window = outcomes[start:] if start is not None else outcomes[-self.n_jobs :]
            failed, launched = sum(window), len(window)
        if failed and failed > self.max_failure_rate * launched:
            where = " in a batch" if self.failure_rate_scope == "batch" else ""
            raise SweepAborted(
                f"{failed} of {launched} trials failed{where}, more than "
                f"hydra.sweeper.max_failure_rate={self.max_failure_rate}; last: "
                f"{self.tally.last_error}. The study is saved: fix the cause and resume with "
                f"hydra.sweep.dir={self.sweep_dir}"
            )
