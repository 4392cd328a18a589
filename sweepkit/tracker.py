"""BestModelTracker: keeps one run's best checkpoint and its ``run.json`` record.

A run (one Hydra job) creates a tracker in its output directory, calls :meth:`update` after
every validation and :meth:`finish` at the end. The tracker keeps exactly one checkpoint, the
best epoch's, as ``best_model.pth`` in the run directory, and rewrites ``run.json`` atomically
after every epoch, so a monitor, the per-job hook and a later repair all read the same record.
The tracker never imports torch: the caller passes a ``save`` function that writes the
checkpoint to a path, or passes none and names a checkpoint it keeps itself
(:meth:`set_checkpoint`, as the Lightning callback does with ModelCheckpoint's file).

A run that may be preempted also keeps a resume checkpoint, ``last.pt``, rewritten atomically
after every epoch (:meth:`save_resume`); a job that starts again in the same directory (a SLURM
requeue, a retried trial) continues from it (:meth:`resume_from`). It is not a top-k file:
:meth:`finish` deletes it.

The record's fields, file names and statuses are :mod:`sweepkit.records`'s; its schema is in
``docs/run-record.md`` (``format`` 1).
:func:`hydra_job_fields` gives the fields every Hydra job fills in the same way.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable, Mapping

from sweepkit._io import atomic_write_json, check_mode, finite
from sweepkit.records import CHECKPOINT, RESUME_CHECKPOINT, RUN_RECORD, RUN_RECORD_FORMAT, RUN_STATUSES

#: Config groups that say how a job ran rather than what it trained; never used as labels.
NON_LABEL_GROUPS = frozenset(
    {
        "paths",
        "trainer",
        "logger",
        "callbacks",
        "extras",
        "hydra",
        "debug",
        "local",
        "experiment",
        "hparams_search",
        "sweeper",
        "search_space",
        "launcher",
    }
)


class BestModelTracker:
    """Track the best epoch of one run.

    Args:
        run_dir: the run's output directory (created if missing).
        metric_name: name of the monitored metric, stored in the record. Default ``val_loss``.
        mode: ``"min"`` (default) or ``"max"``.
        extra: fields merged into the record (run_name, job_num, params, data source, ...).
    """

    def __init__(
        self,
        run_dir: str | os.PathLike[str],
        metric_name: str = "val_loss",
        mode: str = "min",
        extra: dict[str, Any] | None = None,
    ) -> None:
        self.run_dir = Path(run_dir)
        self.run_dir.mkdir(parents=True, exist_ok=True)
        self.metric_name = metric_name
        self.mode = check_mode(mode)
        self.best_value: float | None = None
        self.best_epoch: int | None = None
        self.checkpoint_path: Path | None = None
        self.record: dict[str, Any] = {
            "format": RUN_RECORD_FORMAT,
            "status": "running",
            "metric_name": metric_name,
            "mode": mode,
            "best_value": None,
            "best_epoch": None,
            "epoch": 0,
            "max_epochs": None,
            "history": [],
            "test": None,
            "checkpoint": None,
            "data": None,
            "params": {},
            "run_name": self.run_dir.name,
            "job_num": None,
            "started_at": time.time(),
            "ended_at": None,
            "error": None,
            "wandb": None,
        }
        if extra:
            self.record.update(extra)
        self._write()

    def is_better(self, value: Any) -> bool:
        """Whether ``value`` beats the best so far (NaN and infinities never do)."""
        if finite(value) is None:
            return False
        if self.best_value is None:
            return True
        return bool(value < self.best_value if self.mode == "min" else value > self.best_value)

    def update(self, epoch: int, value: Any, save: Callable[[Path], None] | None = None) -> bool:
        """Record ``value`` for ``epoch``; when it is the best so far, save a checkpoint.

        ``save(path)`` writes the checkpoint to a temporary path that is then renamed over
        ``best_model.pth``, so the previous best survives a crash during the save. Without
        ``save`` only the best value and epoch are recorded (name the file with
        :meth:`set_checkpoint`).
        """
        if not self.is_better(value):
            return False
        self.best_value, self.best_epoch = float(value), int(epoch)
        self.record.update(best_value=self.best_value, best_epoch=self.best_epoch)
        if save is not None:
            target = self.run_dir / CHECKPOINT
            tmp = self.run_dir / f".{CHECKPOINT}.tmp"
            save(tmp)
            os.replace(tmp, target)
            self.set_checkpoint(target)
        return True

    def set_checkpoint(self, path: str | os.PathLike[str] | None) -> None:
        """Name the run's best checkpoint (a file the caller wrote; it is not copied)."""
        self.checkpoint_path = Path(path).absolute() if path else None
        self.record["checkpoint"] = str(self.checkpoint_path) if path else None

    def set_test(self, metrics: Mapping[str, Any] | None) -> None:
        """Record test metrics (``{name: number}``, any names) and rewrite ``run.json``."""
        self.record["test"] = {str(k): finite(v) for k, v in metrics.items()} if metrics else None
        self._write()

    def log_epoch(self, entry: dict[str, Any]) -> None:
        """Append one epoch's metrics to the history and rewrite ``run.json``."""
        self.record["history"].append(entry)
        self.record["epoch"] = entry.get("epoch", len(self.record["history"]))
        self._write()

    def finish(
        self, status: str, test: dict[str, float] | None = None, error: str | None = None, keep_resume: bool = False
    ) -> dict[str, Any]:
        """Close the record with a final status (complete, pruned or failed).

        ``test=None`` keeps test metrics recorded before (:meth:`set_test`). The resume
        checkpoint is deleted unless ``keep_resume`` (a run that raised: a retry resumes it)."""
        if status not in RUN_STATUSES[1:]:
            raise ValueError(f"final status must be one of {RUN_STATUSES[1:]}, got {status!r}")
        if test is not None:
            self.record["test"] = test
        self.record.update(status=status, error=error, ended_at=time.time())
        self._write()
        if not keep_resume:
            self.drop_resume()
        return self.record

    # ------------------------------------------------------------ resume checkpoint
    @property
    def resume_path(self) -> Path:
        return self.run_dir / RESUME_CHECKPOINT

    def save_resume(self, save: Callable[[Path], None]) -> None:
        """Write the resume checkpoint: ``save(path)`` writes a temporary file, which is synced
        and renamed over ``last.pt``, so a kill at any instant leaves the previous one whole."""
        tmp = self.run_dir / f".{RESUME_CHECKPOINT}.tmp"
        save(tmp)
        fd = os.open(tmp, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
        os.replace(tmp, self.resume_path)

    def resume_state(self) -> dict[str, Any]:
        """The tracker's part of a resume checkpoint (best so far, the record)."""
        return {
            "best_value": self.best_value,
            "best_epoch": self.best_epoch,
            "checkpoint": str(self.checkpoint_path) if self.checkpoint_path else None,
            "record": {k: self.record.get(k) for k in _RESUMED_FIELDS},
        }

    def resume_from(self, state: Mapping[str, Any], epoch: int) -> None:
        """Continue a run from :meth:`resume_state` saved after ``epoch``: best so far, history,
        run name and start time come back; ``resumed`` lists the epochs each attempt began after."""
        record = dict(state.get("record") or {})
        resumed = list(record.get("resumed") or []) + [{"after_epoch": int(epoch), "at": time.time()}]
        self.record.update({k: v for k, v in record.items() if k in _RESUMED_FIELDS}, resumed=resumed)
        self.best_value, self.best_epoch = state.get("best_value"), state.get("best_epoch")
        checkpoint = state.get("checkpoint")
        self.set_checkpoint(checkpoint if checkpoint and os.path.isfile(checkpoint) else None)
        self.record.update(
            best_value=self.best_value, best_epoch=self.best_epoch, status="running", ended_at=None, error=None
        )
        self._write()

    def drop_resume(self) -> None:
        """Delete the resume checkpoint (a regular file in the run dir; a link is left alone)."""
        for path in (self.resume_path, self.run_dir / f".{RESUME_CHECKPOINT}.tmp"):
            try:
                if path.is_file() and not path.is_symlink():
                    path.unlink()
            except OSError:
                pass

    def _write(self) -> None:
        atomic_write_json(self.run_dir / RUN_RECORD, self.record)


#: Record fields a resumed run takes from its resume checkpoint.
_RESUMED_FIELDS = ("history", "epoch", "run_name", "started_at", "resumed", "wandb")


def hydra_job_fields(hydra_cfg: Any) -> dict[str, Any]:
    """``run_name``, ``job_num``, ``params`` and ``labels`` of a Hydra job, from its ``hydra`` node.

    ``labels`` are the choices of the app's own config groups (``{"model": "mnist"}``, groups
    such as ``trainer`` or ``paths`` left out); the run name joins them with the job number
    (``mnist_003``), so any app gets readable names without naming its keys. ``params`` are the
    job's command-line overrides, values parsed as YAML (``{"model.lr": 0.01}``).
    """
    from hydra.types import RunMode

    choices = dict(hydra_cfg.runtime.get("choices") or {})
    labels = {k: str(v) for k, v in choices.items() if v is not None and "/" not in k and k not in NON_LABEL_GROUPS}
    multirun = hydra_cfg.mode == RunMode.MULTIRUN
    job_num = int(hydra_cfg.job.num) if multirun else None
    suffix = f"{job_num:03d}" if multirun else Path(str(hydra_cfg.runtime.output_dir)).name
    name = "_".join([*dict.fromkeys(labels.values()), suffix])
    return {
        "run_name": name,
        "job_num": job_num,
        "labels": labels,
        "params": override_params(list(hydra_cfg.overrides.task)),
    }


def override_params(overrides: list[str]) -> dict[str, Any]:
    """Command-line overrides as ``{dotted key: value}`` (``hydra.*`` keys left out; a list or
    mapping value as its text)."""
    from sweepkit._overrides import override_values

    return override_values(overrides)
