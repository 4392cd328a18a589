"""The one writer of a sweep directory: it carries out the fold's plans on the files and writes
the log, the manifest, the settings and the summary.

Every change follows the two-phase rules of :func:`sweepkit.manifest._files.sync_best_models`
(stage, delete what no ranked run uses, rename through temporary names), and the log record is
on disk before any ranked file moves or goes. :func:`located` is the read path's counterpart:
where a plan's ranking is on disk now, with nothing moved.
"""

from __future__ import annotations

import logging
import os
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import AbstractSet, Any, Sequence, cast

from sweepkit._io import atomic_write_text
from sweepkit._settings import Settings
from sweepkit.manifest import _files as files
from sweepkit.manifest import _store as store
from sweepkit.manifest._document import Manifest, brief, rule_of, summary_dict
from sweepkit.manifest._fold import Plan
from sweepkit.records import (
    BEST_DIR,
    INTERNAL_DIR,
    LOCK_NAME,
    LOG_NAME,
    MANAGER_LOG_NAME,
    MARKER_DIR,
    RESULTS_NAME,
    SETTINGS_NAME,
    SUMMARY_NAME,
    ManifestRecord,
    with_ranks,
)
from sweepkit.testing import fault_point


@dataclass(frozen=True)
class SweepPaths:
    """Where a sweep keeps each of its files (names: :mod:`sweepkit.records`)."""

    sweep_dir: Path
    log: Path = field(init=False)
    results: Path = field(init=False)
    summary: Path = field(init=False)
    best_dir: Path = field(init=False)
    markers: Path = field(init=False)
    settings: Path = field(init=False)
    lock: Path = field(init=False)
    manager_log: Path = field(init=False)

    def __post_init__(self) -> None:
        root = self.sweep_dir
        for name, path in (
            ("log", root / LOG_NAME),
            ("results", root / RESULTS_NAME),
            ("summary", root / SUMMARY_NAME),
            ("best_dir", root / BEST_DIR),
            ("markers", root / INTERNAL_DIR / MARKER_DIR),
            ("settings", root / INTERNAL_DIR / SETTINGS_NAME),
            ("lock", root / LOCK_NAME),
            ("manager_log", root / MANAGER_LOG_NAME),
        ):
            object.__setattr__(self, name, path)

    def stored_settings(self, with_manifest: bool = True) -> dict[str, Any]:
        """The sweep's own settings ({} for a new sweep); the manifest is read only when
        ``with_manifest`` and the settings file says nothing."""
        return store.read_settings(self.settings, self.results if with_manifest else None)


def manager_logger(paths: SweepPaths) -> logging.Logger:
    """The sweep's ``sweep_manager.log`` (debug lines with ``$SWEEP_DEBUG``): a private Logger,
    not registered with :func:`logging.getLogger`, opened by the first line written."""
    logger = logging.Logger(f"sweepkit.manifest[{paths.sweep_dir}]")
    debug = os.environ.get("SWEEP_DEBUG", "") not in ("", "0", "false", "False")
    logger.setLevel(logging.DEBUG if debug else logging.INFO)
    handler = logging.FileHandler(paths.manager_log, delay=True)
    handler.setFormatter(logging.Formatter("%(asctime)s pid=%(process)d %(levelname)s %(message)s"))
    logger.addHandler(handler)
    return logger


class Executor:
    """Carries out plans on one sweep directory; ``fsync`` as :class:`SweepManager`'s."""

    def __init__(self, paths: SweepPaths, log: logging.Logger, fsync: bool = True) -> None:
        self.paths, self.log, self.fsync = paths, log, fsync
        self._unflushed = False  # the log may hold records not yet fsync'd
        self._settings_saved = False

    # ------------------------------------------------------------ the log
    def append(self, record: ManifestRecord) -> int:
        """Append a record to the log (flushed by :meth:`flush_log`); returns the log's size."""
        fault_point("before_log_append")
        offset, size = store.append_record(self.paths.log, cast("dict[str, Any]", record), fsync=False)
        self._unflushed = True
        self.log.debug("append %s offset=%d", LOG_NAME, offset)
        fault_point("after_log_append")
        return size

    def replayed(self) -> None:
        """Records were replayed from the log: a killed process may not have flushed them."""
        self._unflushed = True

    def flush_log(self) -> None:
        """fsync the log if this process appended to it (or replayed it) since the last flush."""
        if self._unflushed and self.fsync:
            store.flush_file(self.paths.log)
            self.log.debug("fsync %s", LOG_NAME)
        self._unflushed = False

    def previous(self, doc: Manifest, run_id: str) -> ManifestRecord | None:
        """The run's latest record in the log; None for a run id never registered.

        Marks the run id first: an unmarked id needs no log read (the common case). The
        markers are a cache in the hidden folder: when they count fewer runs than the manifest
        (the folder was lost, or the sweep copied without it) they are rebuilt from the log.
        """
        if store.markers_lost(self.paths.markers, doc["n_runs"]):
            ids = {record["run_id"] for record in store.latest_records(self.paths.log)}
            store.rebuild_markers(self.paths.markers, map(files.run_key, ids))
            self.log.info("rebuilt %d registration markers from %s", len(ids), LOG_NAME)
        if store.mark_registered(self.paths.markers, files.run_key(run_id)):
            return None
        return cast("ManifestRecord | None", store.find_record(self.paths.log, run_id, doc["log"]["size"]))

    # ------------------------------------------------------------ plans
    def carry_out(self, doc: Manifest, plan: Plan, settings: Settings, owned: bool | None = None) -> Manifest:
        """Make the files match ``doc`` after ``plan``; returns ``doc`` as placed. ``owned``:
        whether the record's checkpoint is the sweep's to delete (None: a replayed record,
        checked here, whose file may since have been replaced by a newer run of its job)."""
        record = plan.record
        source = record.get("source_checkpoint")
        # A replayed record whose file was replaced since (its job ran again) must neither
        # promote nor delete the newer file: that one is the next registration's.
        stale = owned is None and not files.is_the_recorded_file(source, cast("dict[str, Any]", record))
        if plan.top is not None:
            self.flush_log()  # the record is on disk before any ranked file moves or goes
            fresh = {files.run_key(record["run_id"])} if plan.promote and not stale else set()
            self.place(doc, plan.top, fresh, settings, old_top=plan.old_top, also=[record])
        if plan.drop_source and source is not None and not stale:
            if plan.counted:
                if os.path.lexists(source) and (owned or files.is_owned(source, self.paths.sweep_dir)):
                    files.safe_unlink(Path(source), self.log)
                    self.log.debug("delete checkpoint %s (not %s)", source, settings.kept_by())
            elif owned is None and files.is_owned(source, self.paths.sweep_dir):
                self.delete_checkpoint(doc, Path(source), settings)  # a record older than reclaimed_bytes
        fault_point("after_apply")
        return doc

    def place(
        self,
        doc: Manifest,
        top: list[ManifestRecord],
        fresh: set[str],
        settings: Settings,
        old_top: Sequence[ManifestRecord] | None = None,
        also: Sequence[ManifestRecord] = (),
        keep: AbstractSet[tuple[str, str]] = frozenset(),
        why_kept: str | None = None,
    ) -> list[str]:
        """Make ``best_models/`` hold ``top`` and set ``doc``'s ranking to what survives (a
        ranked file found nowhere leaves the ranking). Returns what it did, one line each.

        A file no ranked run uses is deleted only when it belongs to a run this call knows of
        (``old_top``, default ``doc``'s ranking; ``top``; ``also``) and carries none of the
        ``keep`` marks (:func:`files.run_marks`); any other is kept in ``kept_by_sweepkit/``.
        """
        entries: list[dict[str, Any]] = []
        for rank, ranked in enumerate(top, 1):
            entry: dict[str, Any] = dict(ranked, key=files.run_key(ranked["run_id"]), rank=rank)
            entry["file_ckpt"] = Path(entry["checkpoint"]).name if entry.get("checkpoint") else None
            entry["file_config"] = Path(entry["config"]).name if entry.get("config") else None
            entries.append(entry)
        before = doc["top"] if old_top is None else old_top
        known = files.run_marks(cast("list[dict[str, Any]]", [*before, *top, *also]))

        def deletable(name: str) -> bool:
            owner = files.owner_of(name)
            return owner in known and owner not in keep

        actions: list[str] = []
        where, freed, deleted = files.sync_best_models(
            self.paths.best_dir,
            self.paths.sweep_dir,
            entries,
            fresh,
            self.log,
            actions,
            deletable,
            why_kept or "no run this sweep knows of uses it",
            rule_of(settings).prefix,
        )
        doc["disk"]["reclaimed_bytes"] += freed
        doc["disk"]["deleted_checkpoints"] += deleted
        placed: list[ManifestRecord] = []
        for entry in entries:
            names = where[entry.pop("key")]
            del entry["file_ckpt"], entry["file_config"]
            if names["checkpoint"] is None:
                continue  # lost (reported in the actions); it cannot stay ranked
            entry["checkpoint"] = f"{BEST_DIR}/{names['checkpoint']}"
            entry["config"] = f"{BEST_DIR}/{names['config']}" if names["config"] else None
            entry["rank"] = len(placed) + 1
            placed.append(cast("ManifestRecord", entry))
        doc["top"] = placed
        for action in actions:
            self.log.info(action)
        return actions

    def delete_checkpoint(self, doc: Manifest, path: Path, settings: Settings) -> None:
        """Delete a checkpoint no ranking keeps (never through a link) and count it."""
        freed = files.safe_unlink(path, self.log)
        doc["disk"]["reclaimed_bytes"] += freed
        doc["disk"]["deleted_checkpoints"] += 1
        self.log.info("delete checkpoint %s (%d bytes; not %s)", path, freed, settings.kept_by())

    # ------------------------------------------------------------ documents
    def save(self, doc: Manifest, full: bool = False) -> None:
        """Write ``sweep_results.json``: the top k and counts (its cost does not grow with the
        sweep), or with ``full`` every run, indented, flushed (the file people open after the
        sweep). A copied or moved sweep names its new place, and ``full`` rebases the runs' paths."""
        root = str(self.paths.sweep_dir)
        doc["updated_at"] = time.time()
        moved_from, doc["sweep_dir"] = doc.get("sweep_dir"), root
        top = doc["top"]
        doc["best"] = brief(top[0]) if top else None
        kept = [self.paths.sweep_dir / str(e.get("checkpoint")) for e in top]
        doc["disk"]["best_models_bytes"] = sum(path.stat().st_size for path in kept if path.exists())
        if full:
            runs = with_ranks(self.latest_records(), top, doc.get("front"))
            if moved_from and moved_from != root:
                for run in runs:
                    run["source_checkpoint"] = files.rebased(run.get("source_checkpoint"), moved_from, root)
                    run["source_config"] = files.rebased(run.get("source_config"), moved_from, root)
                    run["config"] = files.rebased(run.get("config"), moved_from, root)
            doc["runs"], doc["runs_complete"] = runs, True
        else:
            doc.pop("runs", None)
            doc["runs_complete"] = False
        fault_point("before_manifest_write")
        store.write_json(
            self.paths.results, cast("dict[str, Any]", doc), durable=full and self.fsync, indent=2 if full else None
        )
        self.log.debug("write %s", self.paths.results)
        if not self._settings_saved:
            if not self.paths.settings.exists():
                self.write_settings(doc)
            self._settings_saved = True

    def write_settings(self, doc: Manifest) -> None:
        """``.sweepkit/settings.json``: the sweep's metric, mode and top_k, which outlive the
        manifest (a repair after the manifest was lost keeps them)."""
        self.paths.settings.parent.mkdir(parents=True, exist_ok=True)
        fields = cast("dict[str, Any]", doc)
        settings = {k: fields[k] for k in store.SETTINGS_FIELDS if k in fields}
        store.write_json(self.paths.settings, settings, durable=self.fsync)

    def write_summary(self, doc: Manifest) -> None:
        import yaml

        atomic_write_text(self.paths.summary, yaml.safe_dump(summary_dict(doc), sort_keys=False))
        self.log.info("write %s", SUMMARY_NAME)

    def latest_records(self) -> list[ManifestRecord]:
        return cast("list[ManifestRecord]", store.latest_records(self.paths.log))


def located(sweep_dir: Path, top: list[ManifestRecord], prefix: str) -> list[ManifestRecord]:
    """A ranking not yet carried out on the files (a registration in progress or killed), each
    entry naming where its checkpoint is now; an entry whose file is nowhere is left out."""
    keys = {e["run_id"]: files.run_key(e["run_id"]) for e in top}
    names = files.labels(dict(e, key=keys[e["run_id"]]) for e in top)
    out: list[ManifestRecord] = []
    for rank, entry in enumerate(top, 1):
        key = keys[entry["run_id"]]
        kind = files.entry_kind(cast("dict[str, Any]", entry), fresh=not entry.get("rank"))
        where = [
            entry.get("checkpoint") if entry.get("rank") else None,
            f"{BEST_DIR}/{files.final_name(rank, names[key], kind, prefix)}",
            f"{BEST_DIR}/{files.tmp_name(key, kind)}",
            f"{BEST_DIR}/{files.incoming_name(key, kind)}",
            entry.get("source_checkpoint"),
        ]
        found = next((w for w in where if w and os.path.lexists(sweep_dir / w)), None)
        if found is not None:
            config = entry.get("config") or entry.get("source_config")
            out.append(cast("ManifestRecord", dict(entry, rank=rank, checkpoint=found, config=config)))
    return out
