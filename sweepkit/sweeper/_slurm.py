"""submitit on SLURM clusters without accounting: notice jobs that left the queue without a result.

submitit learns a job's state from ``sacct``. Without accounting (``sacct`` fails) it only
sees result files, so a job killed before writing one (time limit, ``scancel``, node failure)
would be waited for forever. :func:`install_squeue_fallback` swaps submitit's SLURM watcher for
one that asks ``squeue`` when ``sacct`` fails: a job no longer in the queue is over, and
submitit then raises ``UncompletedJobError`` for it (the sweeper fails that trial). With
working accounting nothing changes.
"""

from __future__ import annotations

import subprocess
import time
from typing import Any

LEFT_QUEUE = "LEFT_QUEUE"  # not one of submitit's "incomplete" states: the job is over


def _watcher_class() -> type:
    from submitit.slurm.slurm import SlurmInfoWatcher

    class SqueueFallbackWatcher(SlurmInfoWatcher):
        """submitit's SLURM watcher that falls back to ``squeue`` when ``sacct`` fails."""

        def update(self) -> None:
            command = self._make_command()
            if command is None:
                return
            self._num_calls += 1
            try:
                self._output = subprocess.check_output(command, stderr=subprocess.DEVNULL)
            except Exception:
                self._info_dict.update(self.squeue_states())
            else:
                self._info_dict.update(self.read_info(self._output))
            self._last_status_check = time.time()
            for job_id in self._registered - self._finished:
                if self.is_done(job_id, mode="cache"):
                    self._finished.add(job_id)

        def squeue_states(self) -> dict[str, dict[str, str]]:
            """{job id: {"State": squeue's state or LEFT_QUEUE}} of the watched jobs."""
            try:
                out = subprocess.check_output(
                    ["squeue", "-h", "-o", "%i|%T"], text=True, stderr=subprocess.DEVNULL, timeout=60
                )
            except Exception:
                return {}
            listed = [line.split("|", 1) for line in out.splitlines() if "|" in line]
            states = {}
            for job_id in self._registered - self._finished:
                main = job_id.split("_")[0]
                found = [
                    state
                    for listed_id, state in listed
                    if listed_id in (job_id, main) or listed_id.startswith(f"{main}_[")
                ]
                states[job_id] = {"State": found[0] if found else LEFT_QUEUE}
            return states

    return SqueueFallbackWatcher


def install_squeue_fallback() -> Any:
    """Make submitit's SLURM jobs use the squeue-aware watcher (idempotent); return it."""
    from submitit.slurm import slurm

    cls = _watcher_class()
    current = slurm.SlurmJob.watcher
    if type(current).__name__ != cls.__name__:
        slurm.SlurmJob.watcher = cls(delay_s=current._delay_s)
    return slurm.SlurmJob.watcher
