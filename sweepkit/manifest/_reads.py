"""Reading a sweep's manifest without its lock: nothing here changes a file.

The state is the manifest file folded forward over the log records it does not reflect yet,
with the same fold as registration (:func:`sweepkit.manifest._fold.fold`); where a ranking is
not carried out on the files yet, each entry names where its checkpoint is now.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, cast

from sweepkit._settings import Settings
from sweepkit.errors import ManifestError
from sweepkit.manifest import _files as files
from sweepkit.manifest import _store as store
from sweepkit.manifest._document import Manifest, new_manifest, rule_of, settings_of
from sweepkit.manifest._executor import SweepPaths, located
from sweepkit.manifest._fold import Plan, replay
from sweepkit.records import ManifestRecord, read_run_record, with_ranks


def logged_records(paths: SweepPaths, start: int) -> tuple[list[tuple[int, ManifestRecord]], int]:
    """The log's ``(offset, record)`` pairs from byte ``start``, and where the last whole one ends."""
    records, end = store.read_log(paths.log, start)
    return cast("list[tuple[int, ManifestRecord]]", records), end


def logged_before(paths: SweepPaths, doc: Manifest, record: ManifestRecord, offset: int) -> ManifestRecord | None:
    """The run's record before log byte ``offset``; None for a new run id (no read)."""
    seq = record.get("seq")
    if isinstance(seq, int) and seq >= doc["next_seq"]:  # seq of a new run id
        return None
    return cast("ManifestRecord | None", store.find_record(paths.log, record["run_id"], offset))


def state(paths: SweepPaths, settings: Settings) -> Manifest:
    """The manifest as of the whole log (``settings``: a new sweep's). :class:`ManifestError`
    when the manifest is lost or the log cut: a registration or a repair rebuilds it."""
    found = store.read_manifest(paths.results, move_corrupt=False)
    log_size = store.file_size(paths.log)
    if found is None:
        if log_size:
            raise ManifestError(
                f"{paths.results} is missing but {paths.log} holds runs; the next "
                "registration rebuilds it, or run `sweepkit verify --repair` "
                "(SweepManager.repair())"
            )
        return new_manifest(str(paths.sweep_dir), settings)
    doc = cast(Manifest, found)
    known = doc["log"]["size"]
    if log_size < known:
        raise ManifestError(
            f"{paths.log} is shorter ({log_size} bytes) than {paths.results.name} "
            f"expects ({known}); the next registration rebuilds the manifest from every "
            "surviving record, or run `sweepkit verify --repair`"
        )
    if log_size > known and not store.line_starts_at(paths.log, known):
        raise ManifestError(
            f"{paths.log} does not continue where {paths.results.name} left it (byte {known}); the "
            "next registration rebuilds the manifest from every surviving record, or run `sweepkit verify --repair`"
        )
    if log_size > known:
        records, end = logged_records(paths, known)
        prefix = rule_of(settings_of(doc)).prefix

        def look(folded: Manifest, plan: Plan) -> Manifest:
            if plan.top is not None:  # where the ranked files are now; nothing moves
                folded["top"] = located(paths.sweep_dir, folded["top"], prefix)
            return folded

        previous = lambda d, r, o: logged_before(paths, d, r, o)  # noqa: E731
        doc, _ = replay(doc, records, settings_of(doc), previous, look)
        doc["log"]["size"] = end
    return doc


def runs(paths: SweepPaths) -> list[ManifestRecord]:
    """Every run's latest record, in registration order, ranked as the manifest file says."""
    doc: dict[str, Any] = store.read_manifest(paths.results, move_corrupt=False) or {"top": []}
    latest = cast("list[ManifestRecord]", store.latest_records(paths.log))
    return with_ranks(latest, doc["top"], doc.get("front"))


def is_registered(paths: SweepPaths, run_id: str) -> bool:
    """Whether ``run_id`` was registered: a stat, and a log read only for a marked id (or when
    the markers, a cache, were lost)."""
    if not os.path.lexists(paths.markers / files.run_key(run_id)):
        doc = store.read_manifest(paths.results, move_corrupt=False) if os.path.isdir(paths.markers) else None
        if doc is not None and not store.markers_lost(paths.markers, doc["n_runs"]):
            return False
    return store.find_record(paths.log, run_id) is not None


def absolute(sweep_dir: Path, entry: ManifestRecord) -> dict[str, Any]:
    """A ranked entry with its ``checkpoint`` and ``config`` as absolute paths."""
    out: dict[str, Any] = dict(entry)
    for field in ("checkpoint", "config"):
        if out.get(field):
            out[field] = str(sweep_dir / out[field])
    return out


def read_run_json(job_dir: Path) -> dict[str, Any]:
    """A job's ``run.json`` as a dict ({} when absent or unreadable); the old name of
    :func:`sweepkit.records.read_run_record`, kept for callers of the public API."""
    return dict(read_run_record(job_dir) or {})


def read_settings(sweep_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """A sweep's own ``top_k``, ``metric_name`` and ``mode`` ({} for a new sweep). Read-only."""
    return SweepPaths(Path(sweep_dir)).stored_settings()


def read_state(sweep_dir: str | os.PathLike[str]) -> dict[str, Any] | None:
    """A sweep's manifest as of its whole log (:meth:`SweepManager.state`), or None for a
    directory without ``sweep_results.json``. Takes no lock and changes nothing; raises
    :class:`ManifestError` (a :class:`ManifestCorruptError` for a file that does not parse)."""
    paths = SweepPaths(Path(sweep_dir).absolute())
    if not paths.results.exists():
        return None
    return cast("dict[str, Any]", state(paths, Settings()))
