"""Rebuilding a sweep's manifest from every record that survives (``repair()`` and recovery).

The sources are ``runs.jsonl`` (the truth while it is whole), the manifest's ``top`` and
``runs``, every job's ``run.json`` and the files in ``best_models/``. When the log is whole
(it is at least as long as the manifest says and no line had to be dropped), it decides the
ranking and the other sources only fill in runs it lacks. When it is not (or the manifest is
lost, so that a cut log cannot be told from a whole one), every source votes:
a checkpoint that any of them ranks in the top k is never deleted; if the rebuilt ranking
leaves it out, it is kept in ``kept_by_sweepkit/`` and the actions say so (invariant 10).
"""

from __future__ import annotations

import dataclasses
import json
import os
import shutil
import time
from pathlib import Path
from typing import Any, cast

from sweepkit._io import atomic_write_text
from sweepkit._settings import Settings
from sweepkit.errors import ManifestCorruptError
from sweepkit.manifest import _files as files
from sweepkit.manifest import _intake as intake
from sweepkit.manifest import _store as store
from sweepkit.manifest._document import Manifest, new_manifest, rule_of
from sweepkit.manifest._executor import Executor, SweepPaths
from sweepkit.manifest._fold import count
from sweepkit.manifest._jobs import job_dirs_with_records
from sweepkit.manifest._ranking import well_formed
from sweepkit.records import BEST_DIR, CHECKPOINT, LOG_NAME, RESULTS_NAME, RUN_RECORD, ManifestRecord, is_inside

_RANK_FIELDS = ("rank", "checkpoint", "config")


def rebuild(
    paths: SweepPaths,
    settings: Settings,
    top_k_given: bool,
    executor: Executor,
    actions: list[str],
    *,
    scan_jobs: bool,
) -> tuple[Manifest, Settings]:
    """Rebuild and save ``sweep_results.json`` (full) under the caller's lock; return it and
    the settings it ranks by (a sweep whose ``top_k`` no file records, and that the caller did
    not give (``top_k_given``), keeps as many checkpoints as ``best_models/`` holds ranked).

    ``scan_jobs`` adds the jobs' ``run.json`` records as a source (an explicit repair, when no
    job runs); recovery inside a registration leaves them to the jobs' own hooks.
    """
    old = None
    try:
        old = store.read_manifest(paths.results)
    except ManifestCorruptError as exc:
        actions.append(f"kept corrupt {exc.path.name} aside as {exc.kept_as}")
    n_actions = len(actions)
    logged = _readable_log(paths.log, actions)
    dropped = len(actions) > n_actions and any("dropped" in a for a in actions[n_actions:])
    if paths.log.exists():
        executor.replayed()  # a killed process may have left it unflushed
        executor.flush_log()
    log_size = store.file_size(paths.log)
    expected = ((old or {}).get("log") or {}).get("size", 0)
    existing = _listdir(paths.best_dir)
    ranked_files = sorted(
        n
        for n in existing  # rank-named or staged (being promoted)
        if files.owner_of(n) and files.is_checkpoint_name(n)
    )
    # Whole: the manifest parsed and the log is at least as long as it says, with no bad line.
    # Without a manifest a cut log cannot be told from a whole one, so every source votes.
    whole = old is not None and not dropped and log_size >= expected and (log_size > 0 or not old.get("n_runs"))
    if not whole:
        actions.append(
            f"{LOG_NAME} is not whole ({log_size} of {expected} bytes"
            f"{', bad lines dropped' if dropped else ''}): every source votes on "
            "what to keep"
        )
    n_ranked = sum(owner[0] == "label" for n in ranked_files if (owner := files.owner_of(n)))
    if old is None and not paths.settings.exists() and not top_k_given and n_ranked > settings.top_k:
        settings = dataclasses.replace(settings, top_k=n_ranked)
        actions.append(f"top_k unknown: kept {n_ranked}, the number of ranked files in {BEST_DIR}/")
    top_k, rule = settings.top_k, rule_of(settings)

    # ---- every source's records, latest per run id
    sources: dict[str, dict[str, dict[str, Any]]] = {LOG_NAME: {}}
    for record in logged:
        sources[LOG_NAME][record["run_id"]] = record
    listed: dict[str, dict[str, Any]] = {}
    for entry in [*((old or {}).get("runs") or []), *((old or {}).get("top") or [])]:
        record = {k: v for k, v in entry.items() if k not in _RANK_FIELDS}
        if well_formed(record):
            listed[record["run_id"]] = record
    sources[RESULTS_NAME] = listed
    if scan_jobs:
        jobs: dict[str, dict[str, Any]] = {}
        for job_dir in job_dirs_with_records(paths.sweep_dir):
            job = intake.job_log_record(settings, paths.sweep_dir, job_dir.absolute())
            jobs[job["run_id"]] = dict(job)
        sources[RUN_RECORD] = jobs

    # A whole log decides; the others fill in runs it lacks. Otherwise the newest registered
    # record of each run wins (a cut log may hold an older record of a run than the manifest
    # does). A job's run.json only fills in runs no registration recorded: a newer one of a
    # registered run is a rerun that never registered, and its file is left alone.
    merged: dict[str, dict[str, Any]] = {}
    origin: dict[str, str] = {}
    for name, records in sources.items():
        for rid, record in records.items():
            newer = (
                not whole
                and rid in merged
                and name != RUN_RECORD
                and (record.get("registered_at") or 0) > (merged[rid].get("registered_at") or 0)
            )
            if rid not in merged or newer:
                merged[rid], origin[rid] = dict(record), name

    # ---- records the log lacks go back into it
    seqs = {r["seq"] for r in merged.values() if origin[r["run_id"]] == LOG_NAME}
    next_seq = max([*(r["seq"] for r in merged.values() if isinstance(r.get("seq"), int)), -1]) + 1
    restored: dict[str, int] = {}
    for rid, record in merged.items():
        if origin[rid] == LOG_NAME:
            continue
        if not isinstance(record.get("seq"), int) or record["seq"] in seqs:
            record["seq"], next_seq = next_seq, next_seq + 1
        seqs.add(record["seq"])
        store.append_record(paths.log, record, fsync=False)
        restored[origin[rid]] = restored.get(origin[rid], 0) + 1
        if origin[rid] == RUN_RECORD:
            actions.append(f"registered unreported job {rid} ({record['status']}) from its run.json")
    if restored:
        store.flush_file(paths.log)
        if restored.get(RESULTS_NAME):
            actions.append(f"restored {restored[RESULTS_NAME]} run record(s) to {LOG_NAME} from {RESULTS_NAME}")

    # ---- where each run's checkpoint is now
    old_top = {e["run_id"]: e for e in (old or {}).get("top") or []}

    newer_file: dict[str, str] = {}  # runs whose file in best_models/ is not their record's

    def locate(record: dict[str, Any]) -> tuple[str, str] | None:
        rid, run_key = record["run_id"], files.run_key(record["run_id"])
        names = [Path(old_top[rid]["checkpoint"]).name] if old_top.get(rid, {}).get("checkpoint") else []
        names += [
            *files.staged_names(existing, run_key),
            *files.guess_names(existing, {"run_name": record["run_name"], "key": run_key}, CHECKPOINT),
        ]
        for name in names:
            if name in existing and files.is_checkpoint_file(paths.best_dir / name):
                if not whole and not files.is_the_recorded_file(paths.best_dir / name, record):
                    newer_file[rid] = name  # a later registration whose record was lost
                    return None
                return ("best", name)
        own = _own_checkpoint(paths.sweep_dir, record)
        if own and files.is_checkpoint_file(own) and files.is_the_recorded_file(own, record):
            if own != record.get("source_checkpoint"):
                moved.add(rid)  # the moved-sweep rule: a guess, so nothing ranked is deleted for it
            return ("own", own)
        return None

    moved: set[str] = set()

    where = {rid: spot for rid, r in merged.items() if rule.rankable(r) and (spot := locate(r))}

    def top_of(records: dict[str, dict[str, Any]]) -> list[str]:
        top, _ = rule.select((merged[rid] for rid in records), lambda record: record["run_id"] in where)
        return [r["run_id"] for r in top]

    chosen = top_of(merged)
    votes: dict[str, list[str]] = {}
    if not whole:
        for name, records in sources.items():
            for rank, rid in enumerate(top_of(records), 1):
                votes.setdefault(rid, []).append(f"#{rank} in {name}")
        for name in ranked_files:
            for rid, record in merged.items():
                if files.owner_of(name) in files.run_marks([record]):
                    votes.setdefault(rid, []).append(f"{BEST_DIR}/{name}")
    for rid, name in newer_file.items():
        votes.setdefault(rid, []).append(f"{BEST_DIR}/{name}, newer than its record")
    undecided = {rid: why for rid, why in votes.items() if rid not in chosen}
    for rid, why in undecided.items():
        actions.append(
            f"could not decide on {rid} ({merged[rid]['run_name']}): ranked by "
            f"{', '.join(why)} but not in the rebuilt top {top_k}; its checkpoint is "
            "kept"
        )

    # ---- the new manifest
    doc = new_manifest(str(paths.sweep_dir), settings)
    if old:
        doc.update({k: old[k] for k in ("created_at", "disk", "labels") if k in old})  # type: ignore[typeddict-item]
    shutil.rmtree(paths.markers, ignore_errors=True)
    for record in merged.values():
        store.mark_registered(paths.markers, files.run_key(record["run_id"]))
        count(doc, cast("ManifestRecord", record), None)  # the fold's counts; the ranking is chosen below
    if "front" in doc:
        doc["front"] = rule.select(merged.values(), lambda record: True)[1] or []
    doc["log"]["size"] = store.file_size(paths.log)
    top: list[dict[str, Any]] = []
    fresh = set()
    for rid in chosen:
        record, (kind, found) = merged[rid], where[rid]
        entry = dict(record, checkpoint=None, config=None)
        if rid in old_top:
            entry.update({k: old_top[rid].get(k) for k in ("checkpoint", "config")})
        if kind == "best":
            entry["checkpoint"] = f"{BEST_DIR}/{found}"
        else:
            fresh.add(files.run_key(rid))
            if found != record["source_checkpoint"]:  # the sweep moved: its job dir's files
                entry["source_config"] = _moved_config(record, Path(found).parent)
            entry["source_checkpoint"] = found
        top.append(entry)
    # Where the moved-sweep rule placed a run, no file a record ranked is deleted: kept aside.
    keep = files.run_marks([merged[rid] for rid in (merged if moved else undecided)])
    actions += executor.place(
        doc,
        cast("list[ManifestRecord]", top),
        fresh,
        settings,
        also=cast("list[ManifestRecord]", list(merged.values())),
        keep=keep,
        why_kept="a surviving record ranks its run, or no known run uses it",
    )
    ranked = {e["run_id"] for e in doc["top"]}
    for rid, record in merged.items():
        source = _own_checkpoint(paths.sweep_dir, record)
        if rid in ranked or rid in undecided or not source or not files.is_the_recorded_file(source, record):
            continue  # ranked, undecided, or a newer file of the same job: not this record's
        executor.delete_checkpoint(doc, Path(source), settings)
        actions.append(f"delete checkpoint {source} (not {settings.kept_by()})")
    actions.append(f"rebuilt {RESULTS_NAME} ({doc['n_runs']} runs, top {len(doc['top'])})")
    executor.save(doc, full=True)
    return doc, settings


def _listdir(path: Path) -> set[str]:
    try:
        return set(os.listdir(path))
    except (FileNotFoundError, NotADirectoryError):
        return set()


def _readable_log(log_path: Path, actions: list[str]) -> list[dict[str, Any]]:
    """Every good record of the log; a corrupt log is kept aside and its bad lines dropped."""
    try:
        records, end = store.read_log(log_path)
    except ManifestCorruptError:
        aside = log_path.with_name(f"{log_path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
        shutil.copy2(log_path, aside)
        good, dropped = [], 0
        for line in log_path.read_bytes().splitlines():
            try:
                record = json.loads(line)
            except ValueError:
                record = None
            if isinstance(record, dict) and "run_id" in record:
                good.append(line)
            else:
                dropped += 1
        atomic_write_text(log_path, b"".join(g + b"\n" for g in good).decode())
        actions.append(f"kept corrupt {log_path.name} aside as {aside.name}; dropped {dropped} unreadable line(s)")
        records, end = store.read_log(log_path)
    if end < store.file_size(log_path):
        os.truncate(log_path, end)
        actions.append(f"truncated torn last line of {log_path.name}")
    return [r for _, r in records if well_formed(r)]


def _moved_config(record: dict[str, Any], job_dir: Path) -> str | None:
    """The run's config at the same place under its job dir's new location, if it is there."""
    config: str | None = record.get("source_config")
    ckpt: str | None = record.get("source_checkpoint")
    if not config or not ckpt or os.path.exists(config):
        return config
    try:
        moved = job_dir / Path(config).relative_to(Path(ckpt).parent)
    except ValueError:
        return config
    return str(moved) if moved.is_file() else config


def _own_checkpoint(sweep_dir: Path, record: dict[str, Any]) -> str | None:
    """The run's checkpoint that sweepkit may move or delete (repair), or None.

    The recorded path when it lies in the sweep. When it lies outside (the sweep directory
    was moved or copied since), ``<sweep>/<run_id>/best_model.pth``: the job directory's own
    checkpoint, if that is a regular file inside the sweep reached without links.
    """
    source = record.get("source_checkpoint")
    if files.is_owned(source, sweep_dir):
        return source
    job = Path(record["run_id"])
    if not source or is_inside(Path(source).parent, sweep_dir) or job.is_absolute() or ".." in job.parts:
        return None
    local = sweep_dir / job / CHECKPOINT
    no_links = os.path.realpath(local.parent) == os.path.join(os.path.realpath(sweep_dir), *job.parts)
    return str(local) if no_links and files.is_owned(local, sweep_dir) else None
