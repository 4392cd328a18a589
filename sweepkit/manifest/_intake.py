"""From what a caller registers to a log record: checked values, checkpoint and fields.

Pure but for the checks on the files a caller names (exists, is a file, is not empty).
"""

from __future__ import annotations

import os
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from sweepkit._io import finite, jsonable
from sweepkit._settings import Settings
from sweepkit.manifest import _files as files
from sweepkit.manifest import _store as store
from sweepkit.manifest._document import Manifest
from sweepkit.manifest._jobs import job_record
from sweepkit.records import FINISHED_STATUSES, RANKED_STATUSES, RUN_RECORD, ManifestRecord, read_run_record


@dataclass(frozen=True)
class Registration:
    """A checked registration: its record (``seq`` not yet given) and what the lock needs."""

    record: ManifestRecord
    owned: bool  # its checkpoint is in the sweep: sweepkit moves or deletes it
    own_size: int  # that checkpoint's size (0 when not owned)
    may_be_staged: bool  # ranked status and values but no path: a promoted file may be its


def registration(
    settings: Settings,
    sweep_dir: Path,
    run_id: str,
    run_name: str,
    metric_value: Any,
    model_path: str | os.PathLike[str] | None,
    config_path: str | os.PathLike[str] | None,
    best_epoch: int | None,
    extra: dict[str, Any],
) -> Registration:
    """Check :meth:`SweepManager.register_model`'s arguments and build the record; a clear
    error, before anything is written, for a value, status, checkpoint or config that cannot be."""
    if not run_id or not isinstance(run_id, str):
        raise ValueError(f"run_id must be a non-empty string, got {run_id!r}")
    format_1_epoch = extra.pop("epoch", None)  # best_epoch's keyword in format 1
    best_epoch = format_1_epoch if best_epoch is None else best_epoch
    status = extra.pop("status", "complete")
    if status not in FINISHED_STATUSES:
        raise ValueError(f"status must be one of {FINISHED_STATUSES}, got {status!r}")
    values = metric_values(settings, run_id, metric_value)
    rankable = status in RANKED_STATUSES and None not in values and model_path is not None
    model_path = checked_checkpoint(run_id, model_path, rankable)
    if config_path is not None and not os.path.isfile(config_path):
        raise FileNotFoundError(f"config {config_path} of run {run_id!r} does not exist")
    record = make_record(
        settings, run_id, run_name, metric_value, values, model_path, config_path, best_epoch, status, extra
    )
    source = record["source_checkpoint"]
    owned = files.is_owned(source, sweep_dir)  # checked before the lock: a lstat and realpaths
    if source is not None:
        record["source_id"] = files.fingerprint(source)  # which file this record means
    staged = source is None and not rankable and None not in values and status in RANKED_STATUSES
    return Registration(record, owned, os.lstat(source).st_size if source and owned else 0, staged)


def keep_staged_file(doc: Manifest, record: ManifestRecord, prev: ManifestRecord | None, best_dir: Path) -> None:
    """A ranked run registered again without a path: its file was promoted (it is ranked), or
    staged by a registration killed before it finished. The record names that file."""
    run_id = record["run_id"]
    ranked = next((e for e in doc["top"] if e["run_id"] == run_id), None) if prev else None
    if ranked is not None:  # the file it names, as fingerprinted then (not a newer one)
        record["source_checkpoint"], record["source_id"] = ranked["source_checkpoint"], ranked.get("source_id")
        return
    own = files.own_file_in(best_dir, run_id, record["run_name"])
    if own is not None and not any(Path(str(e["checkpoint"])).name == own.name for e in doc["top"]):
        record["source_checkpoint"], record["source_id"] = str(own), files.fingerprint(own)


def metric_values(settings: Settings, run_id: str, metric_value: Any) -> list[float | None]:
    """The run's value of each metric (None where not a finite number); a clear error for a
    value of the wrong shape (a list for one metric, a dict without one of the metrics)."""
    names = list(settings.names)
    if len(names) == 1:
        if isinstance(metric_value, (list, tuple, dict)):
            raise ValueError(
                f"run {run_id!r}: this sweep ranks one metric ({names[0]}), got {metric_value!r}; pass one number"
            )
        return [finite(metric_value)]
    if metric_value is None:
        return [None] * len(names)
    if isinstance(metric_value, dict):
        missing = [n for n in names if n not in metric_value]
        if missing:
            raise ValueError(
                f"run {run_id!r}: metric_value has no {', '.join(missing)} "
                f"(it has {', '.join(map(str, metric_value)) or 'nothing'}); "
                f"this sweep ranks {names}"
            )
        metric_value = [metric_value[n] for n in names]
    if not isinstance(metric_value, (list, tuple)) or len(metric_value) != len(names):
        raise ValueError(
            f"run {run_id!r}: this sweep ranks {len(names)} metrics {names}; "
            f"pass a list of {len(names)} values or a dict keyed by those "
            f"names, got {metric_value!r}"
        )
    return [finite(v) for v in metric_value]


def make_record(
    settings: Settings,
    run_id: str,
    run_name: str,
    raw_metric: Any,
    values: list[float | None],
    model_path: str | os.PathLike[str] | None,
    config_path: str | os.PathLike[str] | None,
    best_epoch: int | None,
    status: str,
    extra: dict[str, Any],
) -> ManifestRecord:
    """The log record of a registration (``seq`` still None); ``extra`` is consumed."""
    started, ended = extra.pop("started_at", None), extra.pop("ended_at", None)
    record: dict[str, Any] = {
        "run_id": run_id,
        "run_name": str(run_name),
        "job_num": extra.pop("job_num", None),
        "status": status,
        "metric_name": settings.metric_name,
        "metric_value": values[0],
        "best_epoch": best_epoch,
        "seq": None,
        "params": extra.pop("params", None) or {},
        "source_checkpoint": str(Path(model_path).absolute()) if model_path else None,
        "source_config": str(Path(config_path).absolute()) if config_path else None,
        "test": extra.pop("test", None),
        "started_at": started,
        "ended_at": ended,
        "duration_s": (ended - started) if started is not None and ended is not None else None,
        "data": extra.pop("data", None),
        "wandb": extra.pop("wandb", None),
        "error": extra.pop("error", None),
        "registered_at": time.time(),
    }
    if len(values) > 1:
        record["metric_names"], record["metric_values"] = list(settings.names), values
    if None in values and raw_metric is not None:
        items = (
            list(raw_metric.values())
            if isinstance(raw_metric, dict)
            else list(raw_metric)
            if isinstance(raw_metric, (list, tuple))
            else [raw_metric]
        )
        kind = "not a number" if any(isinstance(v, (str, bytes)) for v in items) else "not finite"
        shown = repr(raw_metric)
        record["metric_note"] = f"{kind}: {shown if len(shown) <= 80 else shown[:60] + '...'}"
    record.update(extra)
    checked: ManifestRecord = jsonable(record)
    store.dumps(checked)  # fail early on a non-serialisable extra
    return checked


def pick_values(settings: Settings, fields: dict[str, Any]) -> None:
    """Set a job's ``metric_value`` for the sweep's metrics from its recorded ``metric_values``."""
    values = fields.pop("metric_values", None)
    if not settings.pareto:
        return
    if values is None:
        fields["metric_value"] = None
        fields.setdefault("metric_note", f"no value recorded for {list(settings.names)} (run.json best_values)")
        return
    fields["metric_value"] = values


def job_fields(
    settings: Settings, sweep_dir: Path, job_dir: Path, status: str | None = None, error: str | None = None
) -> dict[str, Any]:
    """:meth:`SweepManager.register_model`'s arguments for a job, from its ``run.json``. A
    record of another metric than the sweep's is unranked, with a ``metric_note`` saying so."""
    fields = job_record(sweep_dir, job_dir, status, error)
    pick_values(settings, fields)
    recorded = (read_run_record(job_dir) or {}).get("metric_name")
    if not settings.pareto and isinstance(recorded, str) and recorded != settings.metric_name:
        fields["metric_value"] = None  # another metric's value under this one's name ranks nothing
        fields["metric_note"] = (
            f"run.json records {recorded!r}, but this sweep ranks {settings.metric_name!r}; set the "
            f"sweep's metric_name to {recorded!r} (sweepkit.metric_name), or record {settings.metric_name!r}"
        )
    return fields


def job_log_record(settings: Settings, sweep_dir: Path, job_dir: Path) -> ManifestRecord:
    """The record a job's ``run.json`` would have registered (repair: a job that never did);
    a recorded checkpoint that is gone is kept, as it may have been promoted already."""
    fields = job_record(sweep_dir, job_dir, keep_missing=True)
    args = [
        fields.pop(k)
        for k in ("run_id", "run_name", "metric_value", "model_path", "config_path", "best_epoch", "status")
    ]
    fields["metric_value"] = args[2]
    pick_values(settings, fields)
    raw = fields.pop("metric_value")
    try:
        values = metric_values(settings, args[0], raw)
    except ValueError:  # a run.json of another metric setting: record it unranked
        values = [None] * len(settings.names)
    record = make_record(settings, args[0], args[1], raw, values, args[3], args[4], args[5], args[6], fields)
    record["registered_at"] = (job_dir / RUN_RECORD).stat().st_mtime  # as old as it is
    record["source_id"] = files.fingerprint(record["source_checkpoint"])  # None: no file
    return record


def checked_checkpoint(
    run_id: str, model_path: str | os.PathLike[str] | None, rankable: bool
) -> str | os.PathLike[str] | None:
    """``model_path`` if it can be ranked (None for a missing file of a run that cannot rank);
    a clear error for a directory, an empty file or a missing file that should rank."""
    if model_path is None:
        return None
    if os.path.isdir(model_path):
        raise ValueError(
            f"checkpoint {model_path} of run {run_id!r} is a directory; pass the "
            "checkpoint file, or model_path=None to record the run without ranking it"
        )
    if not os.path.exists(model_path):
        if rankable:
            raise FileNotFoundError(
                f"checkpoint {model_path} of run {run_id!r} does not exist; pass "
                "model_path=None to record the run without ranking it"
            )
        return None
    if rankable and not files.is_checkpoint_file(model_path):
        raise ValueError(
            f"checkpoint {model_path} of run {run_id!r} is empty or not a regular "
            "file; pass model_path=None to record the run without ranking it"
        )
    return model_path
