"""SweepManager: the file-locked global top-k manifest of one sweep directory.

A facade over four parts: :mod:`._intake` turns what a caller registers into a log record,
:mod:`._fold` folds records into the typed manifest (one fold for registration, reads,
recovery and repair), :mod:`._executor` carries the fold's plans out on the files, and
:mod:`._repair` rebuilds a manifest from every record that survives.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import time
from pathlib import Path
from typing import Any, Iterator, Sequence, cast

from sweepkit import _liveness
from sweepkit.errors import ManifestCorruptError
from sweepkit.manifest import _files as files
from sweepkit.manifest import _intake as intake
from sweepkit.manifest import _lock
from sweepkit.manifest import _reads as reads
from sweepkit.manifest import _store as store
from sweepkit.manifest._document import (
    Manifest,
    Requested,
    new_manifest,
    refuse_conflict,
    resolve,
    rule_of,
    stored_settings,
    top_k_plan,
)
from sweepkit.manifest._executor import Executor, SweepPaths, manager_logger
from sweepkit.manifest._fold import Plan, fold, replay
from sweepkit.manifest._jobs import job_dirs_started
from sweepkit.manifest._repair import rebuild
from sweepkit.records import LOG_NAME, RESULTS_NAME, RUN_RECORD, ManifestRecord, job_run_id, read_run_record

#: A registration that leaves the top k alone rewrites ``sweep_results.json`` only when the file
#: lags the log by this many records, or was last written this many seconds ago.
WRITE_EVERY = 8
WRITE_AFTER_S = 1.0


class SweepManager:
    """The global top-k manifest of one sweep directory, safe across processes and hosts.

    Args:
        sweep_dir: the sweep directory (created by the first registration).
        top_k: how many checkpoints to keep, >= 1. None (default): the sweep's own setting,
            3 for a new sweep. A sweep keeps the ``top_k`` it was created with: a registration
            with another value is refused, and a read never changes it; change it with
            :meth:`set_top_k` (``sweepkit prune --top-k N``).
        metric_name: the ranked metric, recorded in every run, or a list of several: the sweep
            then keeps the checkpoints of its Pareto front (at most ``top_k`` of them, see
            ``docs/manifest.md``). None (default): the sweep's own, ``"val_loss"`` for a new
            sweep.
        mode: ``"min"`` or ``"max"``, or one per metric (a single mode applies to every
            metric). None (default): the sweep's own, ``"min"`` for a new sweep.
        lock_timeout: seconds to wait for the sweep lock before :class:`TimeoutError`.
        lock: ``"flock"`` (default; ``flock(2)``, released by the kernel when its holder
            dies) or ``"soft"`` (``SoftFileLock``, for file systems without flock). Also set by
            ``$SWEEPKIT_LOCK``. Every process of a sweep must use the same kind.
        fsync: flush the log record to disk before returning (default True). The manifest is
            derived from the log and not flushed per registration (see ``docs/manifest.md``).

    Reads (:meth:`get_best_models`, :meth:`state`, :meth:`load_runs`, :meth:`is_registered`)
    take no lock and change nothing on disk. Every other public method takes the lock on
    ``<sweep>/.sweep.lock``, first finishes any registration a killed process left half done
    (rebuilding a lost or corrupt manifest from every record that survives), and leaves the
    directory consistent.
    """

    def __init__(
        self,
        sweep_dir: str | os.PathLike[str],
        top_k: int | None = None,
        metric_name: str | Sequence[str] | None = None,
        mode: str | Sequence[str] | None = None,
        *,
        lock_timeout: float = 600.0,
        lock: str | None = None,
        fsync: bool = True,
    ) -> None:
        self._requested = Requested.parse(metric_name, mode, top_k)
        self.paths = paths = SweepPaths(Path(sweep_dir).absolute())
        self.sweep_dir, self.log_path, self.results_path = paths.sweep_dir, paths.log, paths.results
        self.summary_path, self.best_dir, self.marker_dir = paths.summary, paths.best_dir, paths.markers
        self.settings_path, self.fsync = paths.settings, fsync
        self.settings = resolve(self._requested, stored_settings(paths.stored_settings()))
        self._lock = _lock.make_lock(paths.lock, lock, lock_timeout)
        self._log = manager_logger(paths)
        self._executor = Executor(paths, self._log, fsync)
        self._behind = 0  # log records the loaded sweep_results.json does not reflect

    # The sweep's settings, as the manager resolved them (the sweep's own once it has any).
    top_k = property(lambda self: self.settings.top_k)
    metric_name = property(lambda self: self.settings.metric_name)
    mode = property(lambda self: self.settings.mode)
    metric_names = property(lambda self: list(self.settings.names))
    modes = property(lambda self: list(self.settings.modes))

    # ------------------------------------------------------------------ public API
    def register_model(
        self,
        run_id: str,
        run_name: str,
        metric_value: float | None,
        model_path: str | os.PathLike[str] | None,
        config_path: str | os.PathLike[str] | None = None,
        best_epoch: int | None = None,
        **extra: Any,
    ) -> bool:
        """Record a finished run and keep its checkpoint only if it ranks in the top k.

        ``extra`` fields are stored in the run's record: ``status`` (complete [default], pruned,
        failed, killed), ``params``, ``test``, ``data``, ``wandb``, ``error``, ``job_num``,
        ``started_at``/``ended_at`` (epoch seconds), ``labels`` (what the run trained, e.g.
        ``{"model": "mlp"}``; the first run's become the sweep's) and any other
        JSON-serialisable value. With several metrics ``metric_value`` is a list in their order
        or a dict keyed by their names. A NaN, infinite, missing or non-numeric metric (a string
        such as ``"0.01"`` included; with several, in any of them), or a failed/killed status,
        never ranks. Registering a ``run_id``
        again replaces its record. A checkpoint inside the sweep directory is moved into
        ``best_models/`` or deleted; one outside is hard-linked (copied across file systems)
        and never deleted. A checkpoint that is a directory, or empty, is refused before
        anything is written. ``best_epoch`` is the epoch of ``metric_value`` (``epoch=``, its
        name before manifest format 2, is taken too). Returns whether the run is in the top k.
        """
        new = intake.registration(
            self.settings, self.sweep_dir, run_id, run_name, metric_value, model_path, config_path, best_epoch, extra
        )
        record, source, status = new.record, new.record["source_checkpoint"], new.record["status"]
        with self._locked() as doc:
            prev = self._executor.previous(doc, run_id)
            record["seq"] = prev["seq"] if prev else doc["next_seq"]
            if new.may_be_staged:
                intake.keep_staged_file(doc, record, prev, self.best_dir)
            rule = rule_of(self.settings)
            in_top = not rule.stays_out(doc, record) and any(  # the common case: no ranking
                e["run_id"] == run_id for e in rule.rank(doc, record)[0]
            )
            if not in_top and new.owned:
                record["reclaimed_bytes"] = new.own_size  # the executor deletes it
            size = self._executor.append(record)
            doc, plan = fold(doc, record, prev, self.settings)
            doc = self._executor.carry_out(doc, plan, self.settings, owned=new.owned)
            doc["log"]["size"] = size
            self._behind += 1
            lagging = self._behind >= WRITE_EVERY or time.time() - doc["updated_at"] >= WRITE_AFTER_S
            if plan.changed or prev is not None or lagging:
                self._executor.save(doc)
            rank = next((e["rank"] for e in doc["top"] if e["run_id"] == run_id), None)
        freed = record.get("reclaimed_bytes")
        self._log.info(
            "register %s name=%s status=%s %s=%s rank=%s%s",
            run_id,
            record["run_name"],
            status,
            ",".join(self.settings.names),
            record.get("metric_values", record["metric_value"]),
            rank,
            "" if freed is None else f"; delete checkpoint {source} ({freed} bytes; not {self.settings.kept_by()})",
        )
        self._executor.flush_log()  # outside the lock: concurrent flushes share one disk commit
        return rank is not None

    def get_best_models(self, k: int | None = None) -> list[dict[str, Any]]:
        """The ranked runs, best first: at most the sweep's ``top_k`` (and ``k``, and the
        ``top_k`` this manager was opened with, when given). Takes no lock, changes nothing.

        Each dict is the run's record plus ``rank``, ``checkpoint`` and ``config`` (absolute
        paths of the files in ``best_models/``).
        """
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"k must be an integer >= 1 or None, got {k!r}")
        top = [reads.absolute(self.sweep_dir, entry) for entry in reads.state(self.paths, self.settings)["top"]]
        limit = min(n for n in (k, self._requested.top_k, len(top)) if n is not None)
        return top[:limit]

    def state(self) -> dict[str, Any]:
        """The manifest as of the whole log: counts, ``n_runs``, ``top``, ``disk``, ...

        ``sweep_results.json`` may lag the log by a few registrations that left the top k
        alone (its ``top`` is always current); this replays them in memory. Takes no lock and
        changes nothing on disk.
        """
        return cast("dict[str, Any]", reads.state(self.paths, self.settings))

    def load_runs(self) -> list[ManifestRecord]:
        """Every registered run's latest record, in registration order, with ``rank``,
        ``checkpoint`` and ``config`` filled in from the current ranking. Takes no lock."""
        return reads.runs(self.paths)

    def is_registered(self, run_id: str) -> bool:
        """Whether ``run_id`` has been registered: a stat, and a log read only for a marked id
        (or when the markers, a cache, were lost)."""
        return reads.is_registered(self.paths, run_id)

    def register_job_dir(
        self, job_dir: str | os.PathLike[str], status: str | None = None, error: str | None = None, **extra: Any
    ) -> bool:
        """Register a job from its ``run.json`` (written by :class:`BestModelTracker`).

        ``status``/``error`` override the record's (the hook passes ``failed`` when the job
        raised). A job whose record still says ``running`` is registered as ``killed``. A job
        without ``run.json`` is registered without metric or checkpoint. A recorded checkpoint
        that is missing, a directory or empty is not ranked (``checkpoint_note`` says why).
        With several metrics the values are ``run.json``'s ``best_values`` (or ``extra``'s
        ``metric_values``, a list or a dict keyed by metric name). A record of another metric
        than the sweep's (``run.json``'s ``metric_name``) is registered unranked, with a note.
        """
        fields = intake.job_fields(self.settings, self.sweep_dir, Path(job_dir).absolute(), status, error)
        fields.update(extra)
        if fields.get("metric_note"):
            self._log.warning("register %s: %s", fields["run_id"], fields["metric_note"])
        return self.register_model(**fields)

    def reconcile(self, job_dirs: list[str | os.PathLike[str]] | None = None) -> list[str]:
        """Register jobs that never registered (their hook never ran).

        ``job_dirs`` defaults to the sweep's direct sub-directories that hold a ``run.json``
        or, killed before they wrote one, Hydra's job files. Call it only when none of those
        jobs still runs (the hook calls it at multirun end): a record still ``running``, or a
        job without one, is registered as ``killed``. Returns the actions taken.
        """
        dirs: Sequence[str | os.PathLike[str]] = job_dirs_started(self.sweep_dir) if job_dirs is None else job_dirs
        actions = []
        if dirs and self.results_path.exists():
            with self._locked():  # a lost or cut log is recovered first: it says who registered
                pass
        registered = {r["run_id"] for r in store.latest_records(self.log_path)}  # one read, at the end
        for job_dir in map(Path, dirs):
            record = read_run_record(job_dir)
            run_id = job_run_id(self.sweep_dir, job_dir.absolute(), record)
            if (not record and job_dirs is not None) or run_id in registered:
                continue
            if record:
                self.register_job_dir(job_dir)
                actions.append(f"registered unreported job {run_id} ({record.get('status')})")
            else:
                self.register_job_dir(
                    job_dir, status="killed", error=f"job ended before it wrote {RUN_RECORD} (killed)"
                )
                actions.append(f"registered job {run_id} as killed (it ended before it wrote {RUN_RECORD})")
            self._log.info("reconcile %s", actions[-1])
        return actions

    def repair(self) -> list[str]:
        """Rebuild the manifest from every surviving record and restore invariants 1 and 2.

        Sources: ``runs.jsonl``, the manifest's ``top`` and ``runs``, every job's ``run.json``
        and the files in ``best_models/``. Records missing from the log are written back to it.
        Keeps a corrupt manifest or log aside (``*.corrupt-<ts>``), drops unreadable log lines,
        re-ranks every run whose checkpoint still exists and renames ``best_models/`` to match.
        It never deletes a checkpoint that any source ranks in the top k: where the sources
        disagree the file is kept (in ``kept_by_sweepkit/``) and the action says so. Rewrites
        ``sweep_results.json`` and ``sweep_summary.yaml``. Call it when no job of the sweep
        runs: it refuses (:class:`SweepRunningError`) while the sweep's driver or a job is
        alive. Returns the actions taken.
        """
        actions: list[str] = []
        with _liveness.exclusive(self.sweep_dir, "repair it"), _lock.held(self._lock, self._log):
            self._agree(self.paths.stored_settings())
            doc = self._rebuild(actions, scan_jobs=True)
            self._executor.write_summary(doc)
            for tmp in self.sweep_dir.glob(".sweep_*.tmp"):
                os.unlink(tmp)
                actions.append(f"delete {tmp.name}")
        self._log.info("repair: %s", actions[-1] if actions else "nothing to do")
        return actions

    def set_top_k(self, top_k: int, apply: bool = False) -> list[str]:
        """Change how many checkpoints the sweep keeps; returns what it does (or would do).

        With ``apply=False`` (default) nothing changes: the actions are a preview. A smaller
        ``top_k`` deletes the checkpoints (and configs) ranked below it (of a Pareto front: the
        most crowded ones); a larger one deletes nothing (checkpoints deleted earlier cannot
        come back). Applying refuses (:class:`SweepRunningError`) while the sweep runs.
        """
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
        if not apply:
            return top_k_plan(reads.state(self.paths, self.settings), top_k)
        self._requested = dataclasses.replace(self._requested, top_k=None)  # this call is the change
        with _liveness.exclusive(self.sweep_dir, "change its top_k"), self._locked() as doc:
            plan = top_k_plan(doc, top_k)
            doc["top_k"] = top_k
            self.settings = dataclasses.replace(self.settings, top_k=top_k)
            self._executor.flush_log()
            self._executor.place(doc, rule_of(self.settings).truncate(doc["top"], top_k), set(), self.settings)
            self._executor.save(doc, full=True)
            self._executor.write_settings(doc)
            self._executor.write_summary(doc)
        self._requested = dataclasses.replace(self._requested, top_k=top_k)
        self._log.info("top_k -> %d: %s", top_k, "; ".join(plan))
        return plan

    def finalize(self, reconcile: bool = True) -> dict[str, Any]:
        """End-of-sweep work: reconcile unreported jobs, write the full ``sweep_results.json``
        (every run, indented for people) and ``sweep_summary.yaml``. Returns the manifest."""
        if reconcile:
            self.reconcile()
        with self._locked() as doc:
            self._executor.save(doc, full=True)
            self._executor.write_summary(doc)
        return cast("dict[str, Any]", doc)

    def close(self) -> None:
        """Close the log file handle (the manager stays usable; it reopens on demand)."""
        for handler in self._log.handlers:
            handler.close()

    def __enter__(self) -> "SweepManager":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    @contextlib.contextmanager
    def _locked(self) -> Iterator[Manifest]:
        """Hold the lock; yield the manifest with any half-done registration finished."""
        with _lock.held(self._lock, self._log):
            yield self._load()

    def _agree(self, stored: dict[str, Any]) -> None:
        """Refuse to write with other settings than the sweep's own; adopt the sweep's own."""
        theirs = stored_settings(stored)
        refuse_conflict(self._requested, theirs, str(self.sweep_dir), str(self.results_path))
        mine = self.settings
        if (theirs.names, theirs.modes, theirs.top_k) != (mine.names, mine.modes, mine.top_k):  # else nothing to adopt
            self.settings = resolve(theirs, Requested(mine.names, mine.modes, mine.top_k))

    def _load(self) -> Manifest:
        """The manifest, caught up with the log, with every file where it belongs.

        A missing, corrupt or outdated manifest (its log shorter than it says) is rebuilt from
        every surviving record (:func:`_repair.rebuild`), which never deletes a checkpoint that
        any of them ranks.
        """
        try:
            found = store.read_manifest(self.results_path)
        except ManifestCorruptError as exc:
            self._agree(self.paths.stored_settings(with_manifest=False))
            return self._recover(f"{exc.path.name} was corrupt (kept aside as {exc.kept_as})")
        self._agree(found or self.paths.stored_settings(with_manifest=False))
        log_size = store.file_size(self.log_path)
        if found is None:
            if log_size or files.has_our_files(self.best_dir):
                return self._recover(f"{RESULTS_NAME} was missing")
            self._behind = WRITE_EVERY  # no file yet: the first registration writes it
            return new_manifest(str(self.sweep_dir), self.settings)
        doc, self._behind = cast(Manifest, found), 0
        known = doc["log"]["size"]
        if log_size < known:
            return self._recover(f"{LOG_NAME} is shorter ({log_size} bytes) than {RESULTS_NAME} expected ({known})")
        if log_size > known:  # registrations not written to the file (or left half done)
            if not store.line_starts_at(self.log_path, known):  # a log written anew since (a recovery killed)
                return self._recover(f"{LOG_NAME} does not continue where {RESULTS_NAME} left it (byte {known})")
            records, end = reads.logged_records(self.paths, known)
            if end < log_size:
                os.truncate(self.log_path, end)
                self._log.info("truncated torn last line of %s (%d bytes)", LOG_NAME, log_size - end)
            self._executor.replayed()
            previous = lambda d, r, o: reads.logged_before(self.paths, d, r, o)  # noqa: E731
            doc, changed = replay(doc, records, self.settings, previous, self._carry_out_replayed)
            doc["log"]["size"], self._behind = end, len(records)
            if changed or end < log_size:
                self._executor.save(doc)
        if any(not os.path.lexists(self.sweep_dir / str(e["checkpoint"])) for e in doc["top"]):
            # a ranked file deleted by hand: drop it first, so no better run loses its place
            self._executor.flush_log()
            self._executor.place(doc, doc["top"], set(), self.settings)
            self._executor.save(doc)
        return doc

    def _carry_out_replayed(self, doc: Manifest, plan: Plan) -> Manifest:
        doc = self._executor.carry_out(doc, plan, self.settings)
        if plan.changed:
            self._log.info("recover registration of %s from %s", plan.record["run_id"], LOG_NAME)
        return doc

    def _recover(self, reason: str) -> Manifest:
        self._log.warning("recover: %s; rebuilding it from every surviving record", reason)
        actions: list[str] = []
        doc = self._rebuild(actions, scan_jobs=False)
        self._behind = 0
        for action in actions:
            self._log.info("recover: %s", action)
        return doc

    def _rebuild(self, actions: list[str], scan_jobs: bool) -> Manifest:
        doc, self.settings = rebuild(
            self.paths, self.settings, self._requested.top_k is not None, self._executor, actions, scan_jobs=scan_jobs
        )
        return doc
