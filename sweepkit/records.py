"""The run record and the names of a sweep's files: one home for both.

A job writes ``run.json`` (:class:`RunRecord`, written by :class:`sweepkit.tracker.BestModelTracker`);
the manifest keeps one :class:`ManifestRecord` per registered run. This module holds the file
names, the statuses, both record types, the one reader of ``run.json``
(:func:`read_run_record`), the mapping of one record to the other (:func:`manifest_record`),
the rank annotation of manifest records (:func:`with_ranks`), the upgrade of older manifest
records (:func:`upgrade_record`) and the one containment check (:func:`is_inside`). The
formats are described in ``docs/run-record.md``.
"""

from __future__ import annotations

import json
import os
import stat
from pathlib import Path
from typing import Any, Iterable, TypedDict, cast

# ---------------------------------------------------------------- a job directory
RUN_RECORD = "run.json"
RUN_RECORD_FORMAT = 1
CHECKPOINT = "best_model.pth"
RESUME_CHECKPOINT = "last.pt"
HYDRA_DIR = ".hydra"  # Hydra's job files: config.yaml, hydra.yaml, overrides.yaml
JOB_CONFIG = "config.yaml"  # in HYDRA_DIR; also the config's name in BEST_DIR
JOB_LOCK = ".job.lock"  # held (flock) by a running job: see sweepkit/_liveness.py

# ---------------------------------------------------------------- a sweep directory
LOG_NAME = "runs.jsonl"
#: The manifest's format: 2 names a run's best epoch ``best_epoch`` (format 1: ``epoch``) and
#: says what the sweep trains in ``labels`` (format 1: ``model`` and ``dataset``).
MANIFEST_FORMAT = 2
#: Formats the readers take; older records are upgraded as they are read.
MANIFEST_FORMATS = (1, 2)
RESULTS_NAME = "sweep_results.json"
SUMMARY_NAME = "sweep_summary.yaml"
MANAGER_LOG_NAME = "sweep_manager.log"
LOCK_NAME = ".sweep.lock"
BEST_DIR = "best_models"
KEPT_DIR = "kept_by_sweepkit"
MULTIRUN_CONFIG = "multirun.yaml"  # Hydra's composed config of the sweep
OPTIMIZATION_RESULTS = "optimization_results.yaml"  # the sweeper's outcome
JOURNAL_NAME = "optuna_journal.log"  # the study's default storage
INTERNAL_DIR = ".sweepkit"  # caches and live locks only: a copy may lose it (invariant 12)
DRIVER_LOCK = "driver.lock"  # in INTERNAL_DIR: held (flock) by the sweep's driver
STUDY_FILE = "study.json"  # in INTERNAL_DIR: the study's name (also in MULTIRUN_CONFIG)
MARKER_DIR = "registered"  # in INTERNAL_DIR
SETTINGS_NAME = "settings.json"  # in INTERNAL_DIR
UNREGISTERED_DIR = "unregistered"  # in INTERNAL_DIR
LEADERBOARD_NAME = "leaderboard.json"  # in INTERNAL_DIR: ``sweepkit leaderboard``'s result

# ---------------------------------------------------------------- statuses
#: Statuses a run may be registered with and rank.
RANKED_STATUSES = ("complete", "pruned")
#: Statuses of a registered run (``killed``: its record still said running when it ended).
FINISHED_STATUSES = (*RANKED_STATUSES, "failed", "killed")
#: Statuses ``run.json`` holds: ``running`` while training, then the final one.
RUN_STATUSES = ("running", *RANKED_STATUSES, "failed")


class RunRecord(TypedDict, total=False):
    """``run.json``, format 1 (``docs/run-record.md``); unknown fields are kept."""

    format: int
    status: str
    metric_name: str
    mode: str
    best_value: float | None
    best_epoch: int | None
    best_values: dict[str, float | None] | None
    epoch: int
    max_epochs: int | None
    history: list[dict[str, Any]]
    checkpoint: str | None
    test: dict[str, float | None] | None
    params: dict[str, Any]
    run_name: str
    job_num: int | None
    labels: dict[str, str]
    started_at: float | None
    ended_at: float | None
    error: str | None
    data: dict[str, Any] | None
    wandb: dict[str, Any] | None
    resumed: list[dict[str, Any]]
    source: str
    metric_note: str


class ManifestRecord(TypedDict, total=False):
    """One run in the manifest (a line of ``runs.jsonl``; ``docs/manifest.md``).

    ``rank``, ``checkpoint``, ``config`` and ``on_front`` come from the ranking
    (:func:`with_ranks`); ``registered`` is the CLI's (False for a job not registered yet).
    """

    run_id: str
    run_name: str
    job_num: int | None
    status: str | None
    metric_name: str | None
    metric_value: float | None
    metric_names: list[str]
    metric_values: list[float | None] | dict[str, float | None]
    metric_note: str
    best_epoch: int | None
    epochs_run: int | None
    max_epochs: int | None
    seq: int | None
    params: dict[str, Any]
    source_checkpoint: str | None
    source_config: str | None
    source_id: str | None
    checkpoint_note: str
    test: dict[str, float | None] | None
    started_at: float | None
    ended_at: float | None
    duration_s: float | None
    data: dict[str, Any] | None
    wandb: dict[str, Any] | None
    error: str | None
    registered_at: float
    reclaimed_bytes: int
    labels: dict[str, str] | None
    rank: int | None
    checkpoint: str | None
    config: str | None
    on_front: bool
    registered: bool | None


def has_run_record(job_dir: str | os.PathLike[str]) -> bool:
    """Whether ``job_dir`` holds a ``run.json`` that is a regular file (a link is not one)."""
    try:
        return stat.S_ISREG(os.lstat(Path(job_dir) / RUN_RECORD).st_mode)
    except OSError:
        return False


def read_run_record(job_dir: str | os.PathLike[str]) -> RunRecord | None:
    """A job's ``run.json``; None when missing, a link, unreadable or not a JSON object."""
    if not has_run_record(job_dir):
        return None
    try:
        record = json.loads((Path(job_dir) / RUN_RECORD).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return cast(RunRecord, record) if isinstance(record, dict) else None


def job_run_id(sweep_dir: Path, job_dir: Path, record: RunRecord | None) -> str:
    """A job's run id: its directory relative to the sweep (the run name for a single run)."""
    if job_dir == sweep_dir:
        return str((record or {}).get("run_name") or job_dir.name)
    try:
        return job_dir.relative_to(sweep_dir).as_posix()
    except ValueError:
        return job_dir.as_posix()


def manifest_record(sweep_dir: Path, job_dir: Path, run: RunRecord) -> ManifestRecord:
    """What a job's ``run.json`` says of its run, in the manifest record's fields.

    ``best_value`` becomes ``metric_value``, ``epoch`` ``epochs_run``,
    ``best_values`` (when an object) ``metric_values`` and ``checkpoint`` ``source_checkpoint``;
    a missing field is None. ``status`` is the record's as written: checking it, and the
    checkpoint, is the caller's.
    """
    record: ManifestRecord = {
        "run_id": job_run_id(sweep_dir, job_dir, run),
        "run_name": str(run.get("run_name") or job_dir.name),
        "job_num": run.get("job_num"),
        "status": run.get("status"),
        "metric_name": run.get("metric_name"),
        "metric_value": run.get("best_value"),
        "best_epoch": run.get("best_epoch"),
        "epochs_run": run.get("epoch"),
        "max_epochs": run.get("max_epochs"),
        "params": run.get("params") or {},
        "test": run.get("test"),
        "data": run.get("data"),
        "wandb": run.get("wandb"),
        "error": run.get("error"),
        "started_at": run.get("started_at"),
        "ended_at": run.get("ended_at"),
        "source_checkpoint": run.get("checkpoint"),
    }
    best_values = run.get("best_values")
    if isinstance(best_values, dict):
        record["metric_values"] = best_values
    return record


def upgrade_record(record: dict[str, Any]) -> dict[str, Any]:
    """A manifest record (or ranking entry) of format 1 in format 2's fields, in place: its
    ``epoch``, the best epoch, becomes ``best_epoch``. A format-2 record is returned as it is."""
    if "epoch" in record and "best_epoch" not in record:
        record["best_epoch"] = record.pop("epoch")
    return record


def with_ranks(
    records: Iterable[ManifestRecord],
    top: list[ManifestRecord],
    front: list[ManifestRecord] | None = None,
) -> list[ManifestRecord]:
    """Copies of ``records`` with ``rank``, ``checkpoint`` and ``config`` from the ranking ``top``
    (an unranked run: None, None and its own config); with a ``front`` (several metrics) also
    ``on_front``."""
    ranked = {e["run_id"]: e for e in top}
    on_front = None if front is None else {e["run_id"] for e in front}
    out: list[ManifestRecord] = []
    for record in records:
        entry = ranked.get(record["run_id"])
        annotated = record.copy()
        annotated["rank"] = entry.get("rank") if entry else None
        annotated["checkpoint"] = entry.get("checkpoint") if entry else None
        annotated["config"] = entry.get("config") if entry else record.get("source_config")
        if on_front is not None:
            annotated["on_front"] = record["run_id"] in on_front
        out.append(annotated)
    return out


def is_inside(path: str | os.PathLike[str], root: str | os.PathLike[str]) -> bool:
    """Whether ``path`` is ``root`` or lies below it with every link resolved: a link that leads
    out of ``root`` is outside. For a file that may itself be a link that is removed, never
    followed, check its directory: ``is_inside(path.parent, root)``."""
    real_root = os.path.realpath(root)
    return os.path.commonpath([os.path.realpath(path), real_root]) == real_root
