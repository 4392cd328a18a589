"""The asynchronous loop: ``n_jobs`` trials in flight, a new one as soon as any ends.

Hydra launchers block in ``launch()`` until every job of the call ends, so each trial is
launched alone (``launch([overrides], initial_job_idx=trial.number)``) in a worker thread.
Only the main thread talks to the study (ask, tell) and prints progress; worker threads only
wait for their job. joblib (loky executor shared by the calls, nesting level 0) and submitit
(one executor and job array per call) accept concurrent ``launch()`` calls from threads; the
basic launcher runs jobs in the launching process and is never used this way.
"""

from __future__ import annotations

import logging
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait
from typing import TYPE_CHECKING, Any, Optional

from hydra.core.utils import JobReturn, JobStatus

from sweepkit.sweeper import _report

if TYPE_CHECKING:
    import optuna

    from sweepkit.sweeper._impl import Proposal, SweepkitSweeperImpl

log = logging.getLogger("sweepkit.sweeper")

# Launchers whose launch() may run concurrently from several threads of one process.
THREAD_SAFE_LAUNCHERS = {
    "hydra_plugins.hydra_joblib_launcher.joblib_launcher.JoblibLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.LocalLauncher",
    "hydra_plugins.hydra_submitit_launcher.submitit_launcher.SlurmLauncher",
}


def is_parallel_launcher(launcher: Any) -> bool:
    """Whether ``launcher`` runs jobs outside this process and tolerates concurrent calls."""
    return any(f"{cls.__module__}.{cls.__qualname__}" in THREAD_SAFE_LAUNCHERS
               for cls in type(launcher).__mro__)


def launch_one(sweeper: "SweepkitSweeperImpl", proposal: "Proposal") -> JobReturn:
    """Run one trial's job through the launcher; an error of the launcher becomes a FAILED return.

    submitit raises when the cluster killed a job before it wrote its result (time limit,
    preemption without requeue, node failure): that trial fails, the others go on.
    """
    try:
        (job_return,) = sweeper.launcher.launch([proposal.overrides], initial_job_idx=proposal.number)
        return job_return
    except Exception as err:
        failed = JobReturn(overrides=proposal.overrides, status=JobStatus.FAILED)
        failed.return_value = err
        return failed


def run_async(sweeper: "SweepkitSweeperImpl", study: "optuna.Study") -> None:
    """Keep ``sweeper.n_jobs`` trials running until the budget is spent.

    When the sweep must stop (too many failures, a non-number return), no new trial starts;
    the running ones are waited for and told, then the error is raised.
    """
    running: dict[Future, "Proposal"] = {}
    stop: Optional[Exception] = None
    with ThreadPoolExecutor(max_workers=sweeper.n_jobs, thread_name_prefix="sweepkit-trial") as pool:
        while True:
            while stop is None and len(running) < sweeper.n_jobs and (
                sweeper.remaining(study) - len(running) > 0
            ):
                proposal = sweeper.propose(study)
                sweeper.tally.launched += 1
                running[pool.submit(launch_one, sweeper, proposal)] = proposal
                log.info(f"Trial {proposal.number} started ({len(running)} running)")
            if not running:
                break
            done, _ = wait(running, return_when=FIRST_COMPLETED)
            trials = {t.number: t for t in study.get_trials(deepcopy=False)}
            for future in sorted(done, key=lambda f: running[f].number):
                proposal = running.pop(future)
                state = sweeper.finish(study, proposal, future.result(), trials[proposal.number])
                log.info(f"Trial {proposal.number} ended: {state.name} ({len(running)} running)")
            _report.log_progress(study, sweeper.sweep_dir, sweeper.n_trials)
            if stop is None:
                try:
                    sweeper.check_failures()
                except Exception as err:
                    stop = err
                    if running:
                        log.warning(f"Stopping: waiting for {len(running)} running trial(s)")
    if stop is not None:
        raise stop
