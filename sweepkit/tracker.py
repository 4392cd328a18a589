"""BestModelTracker: keeps one run's best checkpoint and its ``run.json`` record.

A run (one Hydra job) creates a tracker in its output directory, calls :meth:`update` after
every validation and :meth:`finish` at the end. The tracker keeps exactly one checkpoint, the
best epoch's, as ``best_model.pth`` in the run directory, and rewrites ``run.json`` atomically
after every epoch, so a monitor, the per-job hook and a later repair all read the same record.
The tracker never imports torch: the caller passes a ``save`` function that writes the
checkpoint to a path.
"""

from __future__ import annotations

import os
import time
from pathlib import Path
from typing import Any, Callable

from sweepkit._io import atomic_write_json, check_mode, finite

RUN_RECORD = "run.json"
CHECKPOINT = "best_model.pth"
STATUSES = ("running", "complete", "pruned", "failed")


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
        run_dir: str | os.PathLike,
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
        return value < self.best_value if self.mode == "min" else value > self.best_value

    def update(self, epoch: int, value: Any, save: Callable[[Path], None]) -> bool:
        """Record ``value`` for ``epoch``; when it is the best so far, save a checkpoint.

        ``save(path)`` writes the checkpoint to a temporary path that is then renamed over
        ``best_model.pth``, so the previous best survives a crash during the save.
        """
        if not self.is_better(value):
            return False
        target = self.run_dir / CHECKPOINT
        tmp = self.run_dir / f".{CHECKPOINT}.tmp"
        save(tmp)
        os.replace(tmp, target)
        self.best_value, self.best_epoch, self.checkpoint_path = float(value), int(epoch), target
        self.record.update(best_value=self.best_value, best_epoch=self.best_epoch, checkpoint=str(target))
        return True

    def log_epoch(self, entry: dict[str, Any]) -> None:
        """Append one epoch's metrics to the history and rewrite ``run.json``."""
        self.record["history"].append(entry)
        self.record["epoch"] = entry.get("epoch", len(self.record["history"]))
        self._write()

    def finish(self, status: str, test: dict[str, float] | None = None, error: str | None = None) -> dict:
        """Close the record with a final status (complete, pruned or failed)."""
        if status not in STATUSES[1:]:
            raise ValueError(f"final status must be one of {STATUSES[1:]}, got {status!r}")
        self.record.update(status=status, test=test, error=error, ended_at=time.time())
        self._write()
        return self.record

    def _write(self) -> None:
        atomic_write_json(self.run_dir / RUN_RECORD, self.record)
