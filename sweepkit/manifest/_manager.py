"""SweepManager: the file-locked global top-k manifest of one sweep directory."""

from __future__ import annotations

import contextlib
import logging
import os
import time
from pathlib import Path
from typing import AbstractSet, Any, Iterator, Sequence, cast

from sweepkit import _liveness
from sweepkit._io import atomic_write_text, check_mode, finite, jsonable
from sweepkit.errors import ManifestCorruptError, ManifestError
from sweepkit.manifest import _files as files
from sweepkit.manifest import _lock
from sweepkit.manifest import _store as store
from sweepkit.manifest._jobs import job_dirs_started, job_record
from sweepkit.manifest._ranking import Rule, count, rule_of
from sweepkit.records import (
    BEST_DIR,
    FINISHED_STATUSES,
    INTERNAL_DIR,
    LOCK_NAME,
    LOG_NAME,
    MANAGER_LOG_NAME,
    MARKER_DIR,
    RANKED_STATUSES,
    RESULTS_NAME,
    RUN_RECORD,
    SETTINGS_NAME,
    SUMMARY_NAME,
    ManifestRecord,
    job_run_id,
    read_run_record,
    with_ranks,
)
from sweepkit.testing import fault_point

#: A registration that leaves the top k alone rewrites ``sweep_results.json`` only when the file
#: lags the log by this many records, or was last written this many seconds ago.
WRITE_EVERY = 8
WRITE_AFTER_S = 1.0
#: How many checkpoints a new sweep keeps.
DEFAULT_TOP_K = 3


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
        metric_name: str | None = None,
        mode: str | None = None,
        *,
        lock_timeout: float = 600.0,
        lock: str | None = None,
        fsync: bool = True,
    ) -> None:
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
        names, modes = _objectives(metric_name, mode)
        self.sweep_dir = Path(sweep_dir).absolute()
        self.log_path = self.sweep_dir / LOG_NAME
        self.results_path = self.sweep_dir / RESULTS_NAME
        self.summary_path = self.sweep_dir / SUMMARY_NAME
        self.best_dir = self.sweep_dir / BEST_DIR
        self.marker_dir = self.sweep_dir / INTERNAL_DIR / MARKER_DIR
        self.settings_path = self.sweep_dir / INTERNAL_DIR / SETTINGS_NAME
        self._requested: dict[str, Any] = {"top_k": top_k, "names": names, "modes": modes}
        stored = store.read_settings(self.settings_path, self.results_path)
        self.top_k = top_k or stored.get("top_k") or DEFAULT_TOP_K
        names = names or _stored_names(stored) or ["val_loss"]
        same = names == _stored_names(stored)  # the stored modes belong to these metrics
        self._set_objectives(names, modes or (_stored_modes(stored) if same else None) or ["min"])
        self.fsync = fsync
        self._lock = _lock.make_lock(self.sweep_dir / LOCK_NAME, lock, lock_timeout)
        self._log = self._make_logger()
        self._unflushed = False  # the log may hold records not yet fsync'd
        self._behind = 0  # log records the loaded sweep_results.json does not reflect
        self._settings_saved = False

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
        if not run_id or not isinstance(run_id, str):
            raise ValueError(f"run_id must be a non-empty string, got {run_id!r}")
        format_1_epoch = extra.pop("epoch", None)  # best_epoch's keyword in format 1
        best_epoch = format_1_epoch if best_epoch is None else best_epoch
        status = extra.pop("status", "complete")
        if status not in FINISHED_STATUSES:
            raise ValueError(f"status must be one of {FINISHED_STATUSES}, got {status!r}")
        values = self._values(run_id, metric_value)
        rankable = status in RANKED_STATUSES and None not in values and model_path is not None
        model_path = _checked_checkpoint(run_id, model_path, rankable)
        if config_path is not None and not os.path.isfile(config_path):
            raise FileNotFoundError(f"config {config_path} of run {run_id!r} does not exist")
        record = self._make_record(
            run_id, run_name, metric_value, values, model_path, config_path, best_epoch, status, extra
        )
        source = record["source_checkpoint"]
        owned = files.is_owned(source, self.sweep_dir)  # checked before the lock: a lstat,
        own_size = os.lstat(source).st_size if owned else 0  # realpaths, unaffected by it
        if source is not None:
            record["source_id"] = files.fingerprint(source)  # which file this record means
        with self._locked() as doc:
            prev = self._previous(doc, run_id)
            record["seq"] = prev["seq"] if prev else doc["next_seq"]
            if source is None and rankable is False and None not in values and status in RANKED_STATUSES:
                # Registered again without a path: its file was promoted (it is ranked), or staged
                # by a registration killed before it finished. Keep that file.
                ranked = next((e for e in doc["top"] if e["run_id"] == run_id), None) if prev else None
                if ranked is not None:  # the file it names, as fingerprinted then (not a newer one)
                    record["source_checkpoint"] = ranked["source_checkpoint"]
                    record["source_id"] = ranked.get("source_id")
                elif (own := files.own_file_in(self.best_dir, run_id, record["run_name"])) is not None and not any(
                    Path(e["checkpoint"]).name == own.name
                    for e in doc["top"]  # not another run's
                ):
                    record["source_checkpoint"], record["source_id"] = str(own), files.fingerprint(own)
            rule = self._rule()
            in_top = not rule.stays_out(doc, record) and any(  # the common case: no ranking
                e["run_id"] == run_id for e in rule.rank(doc, record)[0]
            )
            if not in_top and owned:
                record["reclaimed_bytes"] = own_size  # _apply deletes it
            fault_point("before_log_append")
            offset, size = store.append_record(self.log_path, record, fsync=False)
            self._unflushed = True
            self._log.debug("append %s offset=%d", self.log_path.name, offset)
            fault_point("after_log_append")
            changed = self._apply(doc, record, prev, owned=owned)
            doc["log"]["size"] = size
            self._behind += 1
            if (
                changed
                or prev is not None
                or self._behind >= WRITE_EVERY
                or time.time() - doc["updated_at"] >= WRITE_AFTER_S
            ):
                self._save(doc)
            rank = next((e["rank"] for e in doc["top"] if e["run_id"] == run_id), None)
        freed = record.get("reclaimed_bytes")
        self._log.info(
            "register %s name=%s status=%s %s=%s rank=%s%s",
            run_id,
            record["run_name"],
            status,
            ",".join(self.metric_names),
            record.get("metric_values", record["metric_value"]),
            rank,
            "" if freed is None else f"; delete checkpoint {source} ({freed} bytes; not {self._kept_by()})",
        )
        self._flush_log()  # outside the lock: concurrent flushes share one disk commit
        return rank is not None

    def get_best_models(self, k: int | None = None) -> list[dict[str, Any]]:
        """The ranked runs, best first: at most the sweep's ``top_k`` (and ``k``, and the
        ``top_k`` this manager was opened with, when given). Takes no lock, changes nothing.

        Each dict is the run's record plus ``rank``, ``checkpoint`` and ``config`` (absolute
        paths of the files in ``best_models/``).
        """
        if k is not None and (isinstance(k, bool) or not isinstance(k, int) or k < 1):
            raise ValueError(f"k must be an integer >= 1 or None, got {k!r}")
        top = [self._absolute(entry) for entry in self._snapshot()["top"]]
        limit = min(n for n in (k, self._requested["top_k"], len(top)) if n is not None)
        return top[:limit]

    def state(self) -> dict[str, Any]:
        """The manifest as of the whole log: counts, ``n_runs``, ``top``, ``disk``, ...

        ``sweep_results.json`` may lag the log by a few registrations that left the top k
        alone (its ``top`` is always current); this replays them in memory. Takes no lock and
        changes nothing on disk.
        """
        return self._snapshot()

    def load_runs(self) -> list[ManifestRecord]:
        """Every registered run's latest record, in registration order, with ``rank``,
        ``checkpoint`` and ``config`` filled in from the current ranking. Takes no lock."""
        doc = store.read_manifest(self.results_path, move_corrupt=False) or {"top": []}
        return with_ranks(
            cast("list[ManifestRecord]", store.latest_records(self.log_path)), doc["top"], doc.get("front")
        )

    def is_registered(self, run_id: str) -> bool:
        """Whether ``run_id`` has been registered: a stat, and a log read only for a marked id
        (or when the markers, a cache, were lost)."""
        if not os.path.lexists(self.marker_dir / files.run_key(run_id)):
            doc = store.read_manifest(self.results_path, move_corrupt=False) if os.path.isdir(self.marker_dir) else None
            if doc is not None and not store.markers_lost(self.marker_dir, doc["n_runs"]):
                return False
        return store.find_record(self.log_path, run_id) is not None

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
        job_dir = Path(job_dir).absolute()
        fields = job_record(self.sweep_dir, job_dir, status, error)
        fields.update(extra)
        self._pick_values(fields)
        recorded = (read_run_record(job_dir) or {}).get("metric_name")
        if len(self.metric_names) == 1 and isinstance(recorded, str) and recorded != self.metric_name:
            fields["metric_value"] = None  # another metric's value under this one's name ranks nothing
            fields["metric_note"] = (
                f"run.json records {recorded!r}, but this sweep ranks {self.metric_name!r}; set the "
                f"sweep's metric_name to {recorded!r} (sweepkit.metric_name), or record {self.metric_name!r}"
            )
            self._log.warning("register %s: %s", fields["run_id"], fields["metric_note"])
        return self.register_model(**fields)

    def _pick_values(self, fields: dict[str, Any]) -> None:
        """Set a job's ``metric_value`` for this sweep's metrics from its recorded values."""
        values = fields.pop("metric_values", None)
        if len(self.metric_names) == 1:
            return
        if values is None:
            fields["metric_value"] = None
            fields.setdefault("metric_note", f"no value recorded for {self.metric_names} (run.json best_values)")
            return
        fields["metric_value"] = values

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
            if not record and job_dirs is not None:
                continue
            if run_id in registered:
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
        from sweepkit.manifest import _repair

        actions: list[str] = []
        with _liveness.exclusive(self.sweep_dir, "repair it"), self._lock_only():
            self._check_settings(store.read_settings(self.settings_path, self.results_path))
            doc = _repair.rebuild(self, actions, scan_jobs=True)
            self._write_summary(doc)
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
            doc = self._snapshot()
            return _top_k_plan(doc, top_k)
        self._requested["top_k"] = None  # this call is the explicit change
        with _liveness.exclusive(self.sweep_dir, "change its top_k"), self._locked() as doc:
            plan = _top_k_plan(doc, top_k)
            doc["top_k"] = self.top_k = top_k
            self._flush_log()
            self._sync(doc, rule_of(doc).truncate(doc["top"], top_k), set())
            self._save(doc, full=True)
            self._write_settings(doc)
            self._write_summary(doc)
        self._requested["top_k"] = top_k
        self._log.info("top_k -> %d: %s", top_k, "; ".join(plan))
        return plan

    def finalize(self, reconcile: bool = True) -> dict[str, Any]:
        """End-of-sweep work: reconcile unreported jobs, write the full ``sweep_results.json``
        (every run, indented for people) and ``sweep_summary.yaml``. Returns the manifest."""
        if reconcile:
            self.reconcile()
        with self._locked() as doc:
            self._save(doc, full=True)
            self._write_summary(doc)
        return doc

    def close(self) -> None:
        """Close the log file handle (the manager stays usable; it reopens on demand)."""
        for handler in self._log.handlers:
            handler.close()

    def __enter__(self) -> "SweepManager":
        return self

    def __exit__(self, *exc: Any) -> None:
        self.close()

    # ------------------------------------------------------------------ internals
    def _make_logger(self) -> logging.Logger:
        # A private Logger (not registered with logging.getLogger): no global side effects.
        # The file is opened by the first line written, and only write operations write.
        logger = logging.Logger(f"sweepkit.manifest[{self.sweep_dir}]")
        debug = os.environ.get("SWEEP_DEBUG", "") not in ("", "0", "false", "False")
        logger.setLevel(logging.DEBUG if debug else logging.INFO)
        handler = logging.FileHandler(self.sweep_dir / MANAGER_LOG_NAME, delay=True)
        handler.setFormatter(logging.Formatter("%(asctime)s pid=%(process)d %(levelname)s %(message)s"))
        logger.addHandler(handler)
        return logger

    @contextlib.contextmanager
    def _lock_only(self) -> Iterator[None]:
        self.sweep_dir.mkdir(parents=True, exist_ok=True)
        self._log.debug("lock acquire %s", self._lock.lock_file)
        try:
            self._lock.acquire()
        except TimeoutError as exc:
            raise TimeoutError(
                f"could not lock {self._lock.lock_file} within {self._lock.timeout} s; another "
                "process holds it (raise lock_timeout, or check for a hung process)"
            ) from exc
        try:
            yield
        finally:
            self._lock.release()
            self._log.debug("lock release %s", self._lock.lock_file)

    @contextlib.contextmanager
    def _locked(self) -> Iterator[dict[str, Any]]:
        """Hold the lock; yield the manifest with any half-done registration finished."""
        with self._lock_only():
            yield self._load()

    def _check_settings(self, stored: dict[str, Any]) -> None:
        """Refuse to write with other metrics, modes or top_k than the sweep's own."""
        names = _stored_names(stored)
        theirs_all = {"top_k": stored.get("top_k"), "names": names, "modes": _stored_modes(stored)}
        for field in ("names", "modes", "top_k"):
            mine, theirs = self._requested[field], theirs_all[field]
            if field == "modes" and mine is not None and theirs is not None and len(mine) == 1:
                mine = mine * len(theirs)  # one mode for every metric
            if mine is None or theirs is None or mine == theirs:
                continue
            if field == "top_k":
                raise ManifestError(
                    f"{self.sweep_dir} keeps its top {theirs}, but this manager was opened with "
                    f"top_k={mine}. Opening a sweep never changes that: to keep the top {mine} "
                    f"from now on, preview it with `sweepkit prune --top-k {mine} "
                    f"{self.sweep_dir}` and apply it with `--live` (SweepManager.set_top_k), or "
                    f"open the sweep with top_k={theirs} (or None)"
                )
            label = {"names": "metric_name", "modes": "mode"}[field]
            raise ManifestError(
                f"{self.results_path} ranks by {label}={_one_or_list(theirs)!r} but this manager "
                f"uses {_one_or_list(mine)!r}; open the sweep with the same {label} (or None)"
            )
        if stored.get("top_k") is not None:
            self.top_k = stored["top_k"]
        if names is not None:
            self._set_objectives(names, theirs_all["modes"] or self.modes)

    def _set_objectives(self, names: list[str], modes: list[str]) -> None:
        if len(modes) == 1:
            modes = modes * len(names)
        if len(modes) != len(names):
            raise ValueError(
                f"mode {modes!r} has {len(modes)} entries for {len(names)} metrics "
                f"{names!r}: give one mode, or one per metric"
            )
        self.metric_names, self.modes = list(names), list(modes)
        self.metric_name, self.mode = names[0], modes[0]

    def _rule(self) -> Rule:
        return Rule(self.metric_names, self.modes, self.top_k)

    def _kept_by(self) -> str:
        """What keeps a checkpoint, in words: ``in top 3`` or ``on the front (top 3)``."""
        return f"on the front (top {self.top_k})" if len(self.metric_names) > 1 else f"in top {self.top_k}"

    def _values(self, run_id: str, metric_value: Any) -> list[float | None]:
        """The run's value of each metric (None where not a finite number)."""
        names = self.metric_names
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

    def _load(self) -> dict[str, Any]:
        """The manifest, caught up with the log, with every file where it belongs.

        A missing, corrupt or outdated manifest (its log shorter than it says) is rebuilt from
        every surviving record (:func:`_repair.rebuild`), which never deletes a checkpoint that
        any of them ranks.
        """
        try:
            doc = store.read_manifest(self.results_path)
        except ManifestCorruptError as exc:
            self._check_settings(store.read_settings(self.settings_path, None))
            return self._recover(f"{exc.path.name} was corrupt (kept aside as {exc.kept_as})")
        self._check_settings(doc or store.read_settings(self.settings_path, None))
        log_size = self._log_size()
        if doc is None:
            if log_size or files.has_our_files(self.best_dir):
                return self._recover(f"{RESULTS_NAME} was missing")
            self._behind = WRITE_EVERY  # no file yet: the first registration writes it
            return self._new_doc()
        self._behind = 0
        known = doc["log"]["size"]
        if log_size < known:
            return self._recover(f"{LOG_NAME} is shorter ({log_size} bytes) than {RESULTS_NAME} expected ({known})")
        if log_size > known:  # registrations not written to the file (or left half done)
            if not store.line_starts_at(self.log_path, known):  # a log written anew since (a recovery killed)
                return self._recover(f"{LOG_NAME} does not continue where {RESULTS_NAME} left it (byte {known})")
            records, end = store.read_log(self.log_path, known)
            changed = end < log_size
            if changed:
                os.truncate(self.log_path, end)
                self._log.info("truncated torn last line of %s (%d bytes)", self.log_path.name, log_size - end)
            self._unflushed = True  # a killed process may not have flushed them
            for offset, record in records:
                self._log.debug("replay %s from %s", record["run_id"], self.log_path.name)
                prev = self._logged_before(doc, record, offset)
                if self._apply(doc, record, prev):
                    changed = True
                    self._log.info("recover registration of %s from %s", record["run_id"], self.log_path.name)
            doc["log"]["size"] = end
            self._behind = len(records)
            if changed:
                self._save(doc)
        if any(not os.path.lexists(self.sweep_dir / e["checkpoint"]) for e in doc["top"]):
            # a ranked file deleted by hand: drop it first, so no better run loses its place
            self._flush_log()
            self._sync(doc, doc["top"], set())
            self._save(doc)
        return doc

    def _recover(self, reason: str) -> dict[str, Any]:
        from sweepkit.manifest import _repair

        actions: list[str] = []
        self._log.warning("recover: %s; rebuilding it from every surviving record", reason)
        doc = _repair.rebuild(self, actions, scan_jobs=False)
        self._behind = 0
        for action in actions:
            self._log.info("recover: %s", action)
        return doc

    def _log_size(self) -> int:
        return store.file_size(self.log_path)

    def _logged_before(self, doc: dict[str, Any], record: dict[str, Any], offset: int) -> dict[str, Any] | None:
        """The run's record before log byte ``offset``; None for a new run id (no read)."""
        seq = record.get("seq")
        if isinstance(seq, int) and seq >= doc["next_seq"]:  # seq of a new run id
            return None
        return store.find_record(self.log_path, record["run_id"], offset)

    def _snapshot(self) -> dict[str, Any]:
        """The manifest as of the whole log, computed in memory: no lock, no file touched."""
        doc = store.read_manifest(self.results_path, move_corrupt=False)
        log_size = self._log_size()
        if doc is None:
            if log_size:
                raise ManifestError(
                    f"{self.results_path} is missing but {self.log_path} holds runs; the next "
                    "registration rebuilds it, or run `sweepkit verify --repair` "
                    "(SweepManager.repair())"
                )
            return self._new_doc()
        known = doc["log"]["size"]
        if log_size < known:
            raise ManifestError(
                f"{self.log_path} is shorter ({log_size} bytes) than {self.results_path.name} "
                f"expects ({known}); the next registration rebuilds the manifest from every "
                "surviving record, or run `sweepkit verify --repair`"
            )
        if log_size > known:
            records, end = store.read_log(self.log_path, known)
            rule = rule_of(doc)
            for offset, record in records:
                prev = self._logged_before(doc, record, offset)
                count(doc, record, prev)
                if not rule.stays_out(doc, record):
                    top, front = rule.rank(doc, record)
                    doc["top"] = self._pending_top(doc, top, rule.prefix)
                    if front is not None:
                        doc["front"] = front
                if "reclaimed_bytes" in record and all(e["run_id"] != record["run_id"] for e in doc["top"]):
                    doc["disk"]["reclaimed_bytes"] += record["reclaimed_bytes"]
                    doc["disk"]["deleted_checkpoints"] += 1
            doc["log"]["size"] = end
        return doc

    def _pending_top(self, doc: dict[str, Any], top: list[dict[str, Any]], prefix: str) -> list[dict[str, Any]]:
        """A ranking not yet applied to the files (a registration in progress or killed):
        each entry names where its checkpoint is now."""
        names = files.labels(dict(e, key=files.run_key(e["run_id"])) for e in top)
        out = []
        for rank, entry in enumerate(top, 1):
            key = files.run_key(entry["run_id"])
            kind = files.entry_kind(entry, fresh=not entry.get("rank"))
            where = [
                entry.get("checkpoint") if entry.get("rank") else None,
                f"{BEST_DIR}/{files.final_name(rank, names[key], kind, prefix)}",
                f"{BEST_DIR}/{files.tmp_name(key, kind)}",
                f"{BEST_DIR}/{files.incoming_name(key, kind)}",
                entry.get("source_checkpoint"),
            ]
            found = next((w for w in where if w and os.path.lexists(self.sweep_dir / w)), None)
            if found is None:
                continue
            out.append(
                dict(entry, rank=rank, checkpoint=found, config=entry.get("config") or entry.get("source_config"))
            )
        return out

    def _new_doc(self) -> dict[str, Any]:
        now = time.time()
        doc: dict[str, Any] = {
            "format": store.FORMAT_VERSION,
            "sweep_dir": str(self.sweep_dir),
            "metric_name": self.metric_name,
            "mode": self.mode,
            "top_k": self.top_k,
            "created_at": now,
            "updated_at": now,
            "labels": None,
            "n_runs": 0,
            "next_seq": 0,
            "counts": {},
            "best": None,
            "top": [],
            "disk": {"best_models_bytes": 0, "reclaimed_bytes": 0, "deleted_checkpoints": 0},
            "log": {"path": LOG_NAME, "size": 0},
            "runs_complete": False,
        }
        if len(self.metric_names) > 1:  # a Pareto front: every non-dominated run's values
            doc["objectives"] = [{"name": n, "mode": m} for n, m in zip(self.metric_names, self.modes)]
            doc["front"] = []
        return doc

    def _make_record(
        self,
        run_id: str,
        run_name: str,
        raw_metric: Any,
        values: list[float | None],
        model_path: str | os.PathLike[str] | None,
        config_path: str | os.PathLike[str] | None,
        best_epoch: int | None,
        status: str,
        extra: dict[str, Any],
    ) -> dict[str, Any]:
        started, ended = extra.pop("started_at", None), extra.pop("ended_at", None)
        record = {
            "run_id": run_id,
            "run_name": str(run_name),
            "job_num": extra.pop("job_num", None),
            "status": status,
            "metric_name": self.metric_name,
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
            record["metric_names"], record["metric_values"] = self.metric_names, values
        if None in values and raw_metric is not None:
            kind = (
                "not a number"
                if isinstance(raw_metric, (str, bytes))
                or any(isinstance(v, (str, bytes)) for v in _as_list(raw_metric))
                else "not finite"
            )
            shown = repr(raw_metric)
            record["metric_note"] = f"{kind}: {shown if len(shown) <= 80 else shown[:60] + '...'}"
        record.update(extra)
        checked: dict[str, Any] = jsonable(record)
        store.dumps(checked)  # fail early on a non-serialisable extra
        return checked

    def _flush_log(self) -> None:
        """fsync the log if this process appended to it (or replayed it) since the last flush."""
        if self._unflushed and self.fsync:
            store.flush_file(self.log_path)
            self._log.debug("fsync %s", self.log_path.name)
        self._unflushed = False

    def _previous(self, doc: dict[str, Any], run_id: str) -> dict[str, Any] | None:
        """The run's latest record in the log; None for a run id never registered.

        Marks the run id first: an unmarked id needs no log read (the common case). The
        markers are a cache in the hidden folder: when they count fewer runs than the manifest
        (the folder was lost, or the sweep copied without it) they are rebuilt from the log.
        """
        end = doc["log"]["size"]
        if store.markers_lost(self.marker_dir, doc["n_runs"]):
            ids = {record["run_id"] for record in store.latest_records(self.log_path)}
            store.rebuild_markers(self.marker_dir, map(files.run_key, ids))
            self._log.info("rebuilt %d registration markers from %s", len(ids), LOG_NAME)
        if store.mark_registered(self.marker_dir, files.run_key(run_id)):
            return None
        return store.find_record(self.log_path, run_id, end)

    def _apply(
        self, doc: dict[str, Any], record: dict[str, Any], previous: dict[str, Any] | None, owned: bool | None = None
    ) -> bool:
        """Fold one logged record into ``doc``: counts, ranking and files. ``previous`` is the
        run's earlier record (:meth:`_previous`), None for a new run; ``owned`` whether its
        checkpoint is sweepkit's to delete (None: check here). Returns whether the top
        k or the sweep's labels changed (then ``sweep_results.json`` must be written)."""
        run_id = record["run_id"]
        changed = count(doc, record, previous)
        source: str | None = record.get("source_checkpoint")
        # A replayed record whose file was replaced since (its job ran again) must neither
        # promote nor delete the newer file: that one is the next registration's.
        stale = owned is None and not files.is_the_recorded_file(source, record)
        rule = self._rule()
        if rule.stays_out(doc, record):  # the common case
            top, in_top = doc["top"], False
        else:
            top, front = rule.rank(doc, record)
            in_top = any(e["run_id"] == run_id for e in top)
            if front is not None and front != doc["front"]:
                doc["front"], changed = front, True
        if in_top or [e["run_id"] for e in top] != [e["run_id"] for e in doc["top"]]:
            self._flush_log()  # the record is on disk before any ranked file moves or goes
            fresh = {files.run_key(run_id)} if in_top and not stale else set()
            self._sync(doc, top, fresh, also=[record])
            changed = True
        if not in_top and "reclaimed_bytes" in record:  # counted once, whether or not replayed
            if (
                source is not None
                and os.path.lexists(source)
                and not stale
                and (owned or files.is_owned(source, self.sweep_dir))
            ):
                files.safe_unlink(Path(source), self._log)
                self._log.debug("delete checkpoint %s (not %s)", source, self._kept_by())
            doc["disk"]["reclaimed_bytes"] += record["reclaimed_bytes"]
            doc["disk"]["deleted_checkpoints"] += 1
        elif (
            not in_top and owned is None and not stale and source is not None and files.is_owned(source, self.sweep_dir)
        ):
            # a replayed record without the field (written before it existed)
            self._delete_checkpoint(doc, Path(source))
        fault_point("after_apply")
        return changed

    def _sync(
        self,
        doc: dict[str, Any],
        top: list[dict[str, Any]],
        fresh: set[str],
        also: Sequence[dict[str, Any]] = (),
        keep: AbstractSet[tuple[str, str]] = frozenset(),
        why_kept: str | None = None,
    ) -> list[str]:
        """Make ``best_models/`` hold ``top``; the ranking is what survives (files found).
        Returns what it did, one line each (also written to the manager's log).

        A file no ranked run uses is deleted only when it belongs to a run this call knows
        of (the old top, the new top, ``also``) and carries none of the ``keep`` marks
        (:func:`files.run_marks`); any other is kept in ``kept_by_sweepkit/``.
        """
        entries = []
        for rank, entry in enumerate(top, 1):
            entry = dict(entry, key=files.run_key(entry["run_id"]), rank=rank)
            entry["file_ckpt"] = Path(entry["checkpoint"]).name if entry.get("checkpoint") else None
            entry["file_config"] = Path(entry["config"]).name if entry.get("config") else None
            entries.append(entry)
        known = files.run_marks([*doc["top"], *top, *also])

        def deletable(name: str) -> bool:
            owner = files.owner_of(name)
            return owner in known and owner not in keep

        actions: list[str] = []
        located, freed, deleted = files.sync_best_models(
            self.best_dir,
            self.sweep_dir,
            entries,
            fresh,
            self._log,
            actions,
            deletable,
            why_kept or "no run this sweep knows of uses it",
            self._rule().prefix,
        )
        doc["disk"]["reclaimed_bytes"] += freed
        doc["disk"]["deleted_checkpoints"] += deleted
        new_top = []
        for entry in entries:
            names = located[entry.pop("key")]
            for field in ("file_ckpt", "file_config"):
                entry.pop(field)
            if names["checkpoint"] is None:
                continue  # lost (reported in the actions); it cannot stay ranked
            entry["checkpoint"] = f"{BEST_DIR}/{names['checkpoint']}"
            entry["config"] = f"{BEST_DIR}/{names['config']}" if names["config"] else None
            new_top.append(entry)
        for rank, entry in enumerate(new_top, 1):
            entry["rank"] = rank
        doc["top"] = new_top
        for action in actions:
            self._log.info(action)
        return actions

    def _delete_checkpoint(self, doc: dict[str, Any], path: Path) -> None:
        freed = files.safe_unlink(path, self._log)
        doc["disk"]["reclaimed_bytes"] += freed
        doc["disk"]["deleted_checkpoints"] += 1
        self._log.info("delete checkpoint %s (%d bytes; not %s)", path, freed, self._kept_by())

    def _save(self, doc: dict[str, Any], full: bool = False) -> None:
        doc["updated_at"] = time.time()
        moved_from, doc["sweep_dir"] = doc.get("sweep_dir"), str(self.sweep_dir)  # a copy names itself
        top = doc["top"]
        doc["best"] = _brief(top[0]) if top else None
        doc["disk"]["best_models_bytes"] = sum(
            (self.sweep_dir / e["checkpoint"]).stat().st_size
            for e in top
            if (self.sweep_dir / e["checkpoint"]).exists()
        )
        if full:  # every run, indented: the file a person opens after the sweep
            doc["runs"] = with_ranks(
                cast("list[ManifestRecord]", store.latest_records(self.log_path)), top, doc.get("front")
            )
            if moved_from and moved_from != doc["sweep_dir"]:
                for run in doc["runs"]:
                    for key in ("source_checkpoint", "source_config", "config"):
                        run[key] = files.rebased(run.get(key), moved_from, doc["sweep_dir"])
            doc["runs_complete"] = True
        else:  # top k and counts only: the cost does not grow with the sweep
            doc.pop("runs", None)
            doc["runs_complete"] = False
        fault_point("before_manifest_write")
        store.write_json(self.results_path, doc, durable=full and self.fsync, indent=2 if full else None)
        self._log.debug("write %s", self.results_path)
        if not self._settings_saved:
            if not self.settings_path.exists():
                self._write_settings(doc)
            self._settings_saved = True

    def _write_settings(self, doc: dict[str, Any]) -> None:
        """``.sweepkit/settings.json``: the sweep's metric, mode and top_k, which outlive the
        manifest (a repair after the manifest was lost keeps them)."""
        self.settings_path.parent.mkdir(parents=True, exist_ok=True)
        settings = {k: doc[k] for k in store.SETTINGS_FIELDS if k in doc}
        store.write_json(self.settings_path, settings, durable=self.fsync)

    def _write_summary(self, doc: dict[str, Any]) -> None:
        import yaml

        summary = summary_dict(doc)
        atomic_write_text(self.summary_path, yaml.safe_dump(summary, sort_keys=False))
        self._log.info("write %s", self.summary_path.name)

    def _absolute(self, entry: dict[str, Any]) -> dict[str, Any]:
        out = dict(entry)
        for field in ("checkpoint", "config"):
            if out.get(field):
                out[field] = str(self.sweep_dir / out[field])
        return out


# ---------------------------------------------------------------------- settings
def _objectives(metric_name: Any, mode: Any) -> tuple[list[str] | None, list[str] | None]:
    """``metric_name`` and ``mode`` as lists (None where not given), checked."""
    names = None
    if metric_name is not None:
        names = list(metric_name) if isinstance(metric_name, (list, tuple)) else [metric_name]
        if not names or not all(isinstance(n, str) and n for n in names):
            raise ValueError(f"metric_name must be a non-empty string or a list of them, got {metric_name!r}")
        if len(set(names)) != len(names):
            raise ValueError(f"metric_name {names!r} names a metric twice")
    modes = None
    if mode is not None:
        modes = list(mode) if isinstance(mode, (list, tuple)) else [mode]
        if not modes:
            raise ValueError("mode must be 'min' or 'max', or a list of them, got []")
        for m in modes:
            check_mode(m)
        if names is not None and len(modes) not in (1, len(names)):
            raise ValueError(
                f"mode {modes!r} has {len(modes)} entries for {len(names)} metrics "
                f"{names!r}: give one mode, or one per metric"
            )
    return names, modes


def _stored_names(stored: dict[str, Any]) -> list[str] | None:
    if stored.get("objectives"):
        return [o["name"] for o in stored["objectives"]]
    return [stored["metric_name"]] if stored.get("metric_name") else None


def _stored_modes(stored: dict[str, Any]) -> list[str] | None:
    if stored.get("objectives"):
        return [o["mode"] for o in stored["objectives"]]
    return [stored["mode"]] if stored.get("mode") else None


def _one_or_list(items: list[Any] | None) -> Any:
    return items[0] if items and len(items) == 1 else items


def _as_list(value: Any) -> list[Any]:
    if isinstance(value, dict):
        return list(value.values())
    return list(value) if isinstance(value, (list, tuple)) else [value]


def _checked_checkpoint(
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


def _top_k_plan(doc: dict[str, Any], top_k: int) -> list[str]:
    old = doc["top_k"]
    if top_k >= old:
        return [f"top_k {old} -> {top_k}: nothing is deleted (checkpoints deleted earlier cannot come back)"]
    plan = [f"top_k {old} -> {top_k}"]
    kept = {e["run_id"] for e in rule_of(doc).truncate(doc["top"], top_k)}
    for entry in doc["top"]:
        if entry["run_id"] not in kept:
            value = entry.get("metric_values", entry["metric_value"])
            names = ",".join(o["name"] for o in doc.get("objectives") or ()) or doc["metric_name"]
            plan.append(f"delete {entry['checkpoint']} (rank {entry['rank']}, {entry['run_name']}, {names} {value})")
    return plan


def _brief(entry: dict[str, Any]) -> dict[str, Any]:
    brief = {
        k: entry.get(k) for k in ("rank", "run_id", "run_name", "metric_value", "best_epoch", "checkpoint", "config")
    }
    if "metric_values" in entry:
        brief["metric_values"] = entry["metric_values"]
    return brief


def summary_dict(doc: dict[str, Any]) -> dict[str, Any]:
    """The content of ``sweep_summary.yaml``."""
    disk = doc["disk"]
    return {
        "sweep_dir": doc["sweep_dir"],
        "labels": doc.get("labels"),
        "metric": doc["metric_name"],
        "mode": doc["mode"],
        "top_k": doc["top_k"],
        **(
            {
                "objectives": doc["objectives"],
                "front": [{k: e[k] for k in ("run_name", "metric_values")} for e in doc["front"]],
            }
            if doc.get("objectives")
            else {}
        ),
        "runs": doc["n_runs"],
        "counts": dict(sorted(doc["counts"].items())),
        "best": _brief(doc["top"][0]) if doc["top"] else None,
        "top": [_brief(e) for e in doc["top"]],
        "disk": {
            "best_models_mb": round(disk["best_models_bytes"] / 2**20, 3),
            "reclaimed_mb": round(disk["reclaimed_bytes"] / 2**20, 3),
            "deleted_checkpoints": disk["deleted_checkpoints"],
        },
        "updated_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(doc["updated_at"])),
    }


def read_run_json(job_dir: Path) -> dict[str, Any]:
    """A job's ``run.json`` as a dict ({} when absent or unreadable); the old name of
    :func:`sweepkit.records.read_run_record`, kept for callers of the public API."""
    return dict(read_run_record(job_dir) or {})


def read_settings(sweep_dir: str | os.PathLike[str]) -> dict[str, Any]:
    """A sweep's own ``top_k``, ``metric_name`` and ``mode`` ({} for a new sweep). Read-only."""
    sweep_dir = Path(sweep_dir)
    return store.read_settings(sweep_dir / INTERNAL_DIR / SETTINGS_NAME, sweep_dir / RESULTS_NAME)
