"""A job directory as the manifest sees it: which jobs hold a record, and the registration it makes."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from sweepkit.manifest import _files as files
from sweepkit.records import FINISHED_STATUSES, HYDRA_DIR, JOB_CONFIG, has_run_record, manifest_record, read_run_record

_KNOWN_FIELDS = ("job_num", "params", "test", "data", "wandb", "error", "started_at", "ended_at")


def job_dirs_with_records(sweep_dir: Path) -> list[Path]:
    """The sweep's direct sub-directories (not links) that hold a ``run.json`` (not a link)."""
    try:
        children = sorted(sweep_dir.iterdir())
    except FileNotFoundError:
        return []
    return [p for p in children if p.is_dir() and not p.is_symlink() and has_run_record(p)]


def job_dirs_started(sweep_dir: Path) -> list[Path]:
    """The sweep's direct sub-directories (not links) of jobs that started: they hold a
    ``run.json`` or Hydra's job config (``.hydra/config.yaml``: a job killed before its record)."""
    try:
        children = sorted(sweep_dir.iterdir())
    except FileNotFoundError:
        return []
    return [
        p
        for p in children
        if p.is_dir() and not p.is_symlink() and (has_run_record(p) or (p / HYDRA_DIR / JOB_CONFIG).is_file())
    ]


def job_record(
    sweep_dir: Path, job_dir: Path, status: str | None = None, error: str | None = None, keep_missing: bool = False
) -> dict[str, Any]:
    """The :meth:`SweepManager.register_model` arguments of a job, from its ``run.json``.

    ``keep_missing`` keeps a recorded checkpoint that is no longer there (repair: it may have
    been promoted already, and is looked for in ``best_models/``)."""
    run: dict[str, Any] = dict(manifest_record(sweep_dir, job_dir, read_run_record(job_dir) or {}))
    status = status or run["status"] or "failed"
    if status not in FINISHED_STATUSES:
        status = "killed" if status == "running" else "failed"
        error = error or "job ended without finishing (killed, out of memory or timed out)"
    checkpoint = run["source_checkpoint"]
    fields = {k: run[k] for k in _KNOWN_FIELDS if run[k] is not None}
    fields.update(max_epochs=run["max_epochs"], epochs_run=run["epochs_run"])
    if "metric_values" in run:
        fields["metric_values"] = run["metric_values"]
    if checkpoint and not files.is_checkpoint_file(checkpoint):
        what = (
            "missing"
            if not os.path.lexists(checkpoint)
            else "a directory"
            if os.path.isdir(checkpoint)
            else "empty or not a regular file"
        )
        fields["checkpoint_note"] = f"checkpoint {checkpoint} is {what}; not ranked"
        if not (keep_missing and what == "missing"):
            checkpoint = None
    if error or run["error"]:
        fields["error"] = error or run["error"]
    config = job_dir / HYDRA_DIR / JOB_CONFIG
    return dict(
        run_id=run["run_id"],
        run_name=run["run_name"],
        metric_value=run["metric_value"],
        model_path=checkpoint,
        config_path=config if config.is_file() else None,
        best_epoch=run["best_epoch"],
        status=status,
        **fields,
    )
