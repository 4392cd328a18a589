"""The Hydra callback that registers every job of a sweep in the global top-k manifest.

Enable it with one line at the end of a defaults list (the config ships with sweepkit)::

    defaults:
      - override hydra/callbacks: sweepkit_topk

or name it yourself (every argument has a working default)::

    hydra:
      callbacks:
        topk:
          _target_: sweepkit.hooks.TopKCallback

``on_job_end`` runs in the job's process (the worker for joblib and submitit): it reads the
job's ``run.json`` and registers it, so the job-local checkpoint is promoted into
``best_models/`` or deleted. A job that finished without a ``run.json`` (an app with no
sweepkit code) is recorded from what it left: its return value is the metric and its
checkpoint is the file matching ``checkpoint`` (Lightning's ``checkpoints/*.ckpt``), see
:func:`record_job_return`. A single run (no ``-m``) is a sweep of one: its run directory is
its sweep directory. ``on_multirun_end`` (or, when a job raised, the launching process's exit)
marks jobs that never reported as killed and writes the full ``sweep_results.json`` and
``sweep_summary.yaml``. The hook publishes each job's outcome as events
(:mod:`sweepkit.events`) that loggers subscribe to.
"""

from __future__ import annotations

import atexit
import logging
import math
import os
import sys
import time
import traceback
from pathlib import Path
from typing import Any, Callable

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sweepkit import _liveness, events
from sweepkit._io import check_mode, safe_name
from sweepkit._settings import plain, resolve_settings
from sweepkit.records import (
    HYDRA_DIR,
    INTERNAL_DIR,
    JOB_CONFIG,
    JOB_LOCK,
    RUN_RECORD,
    UNREGISTERED_DIR,
    has_run_record,
    job_run_id,
    read_run_record,
)

#: Where a job without ``run.json`` is expected to leave its checkpoint (Lightning's layout).
DEFAULT_CHECKPOINT = "checkpoints/*.ckpt"

log = logging.getLogger("sweepkit.hooks")


class TopKCallback(Callback):
    """Register each job of a Hydra multirun with :class:`sweepkit.SweepManager`. A single run
    (no ``-m``) is not a sweep: the callback leaves it alone.

    Args:
        top_k: checkpoints kept per sweep (default 3).
        metric_name: the ranked metric, or a list of several: the manifest then keeps the
            checkpoints of the Pareto front. Default: the sweeper's ``metric_names`` when it
            has several objectives, else the metric the runs record in ``run.json`` (the
            Lightning callback's ``monitor``), else ``objective`` (the job's return value).
        mode: ``min`` or ``max``, or one per metric. Default: from
            ``hydra.sweeper.direction``, else the runs' records, else ``min``.
        checkpoint: where a job without ``run.json`` left its checkpoint, a glob relative to
            the job directory (default Lightning's ``checkpoints/*.ckpt``).
        enabled: set False to switch the manifest off (``hydra.callbacks.topk.enabled=false``).
        verbose: print the "Sweep update" after every job (default True; under sweepkit's own
            sweeper, whose update after each trial shows the manifest's top k, it stays quiet).
    """

    publishes_job_events = True  # see sweepkit.events.PUBLISHER_ATTR
    #: set by :func:`sweeper_topk`: the callback a sweeper config added (multiruns only)
    from_sweeper = False

    def __init__(
        self,
        top_k: int = 3,
        metric_name: str | None = None,
        mode: str | None = None,
        checkpoint: str = DEFAULT_CHECKPOINT,
        enabled: bool = True,
        verbose: bool = True,
    ) -> None:
        from sweepkit.manifest import SweepManager

        del SweepManager  # imported here so a bad setting fails when Hydra builds the callback
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"sweepkit.top_k must be an integer >= 1, got {top_k!r}")
        metric_name, mode = plain(metric_name), plain(mode)
        for one in mode if isinstance(mode, list) else [mode]:
            if one is not None:
                check_mode(one, "sweepkit.mode")
        names = metric_name if isinstance(metric_name, list) else [metric_name]
        if metric_name is not None and (not names or not all(isinstance(n, str) and n for n in names)):
            raise ValueError(
                f"hydra.callbacks.topk.metric_name must be a non-empty string, a "
                f"list of them, or null (taken from the runs), got {metric_name!r}"
            )
        if isinstance(mode, list) and metric_name is not None and len(mode) != len(names):
            raise ValueError(
                f"hydra.callbacks.topk.mode {mode!r} has {len(mode)} entries for "
                f"the {len(names)} metrics {names}: give one mode, or one per metric"
            )
        self.top_k, self.metric_name, self.mode = top_k, metric_name, mode
        self.checkpoint = checkpoint
        self.enabled, self.verbose = enabled, verbose
        self._finalizer: Callable[[], bool] | None = None
        self._driver_lock: int | None = None  # held from multirun start to its end
        self._job_lock: int | None = None  # held while a job runs in this process

    def _manager(
        self, sweep_dir: Path, record: dict[str, Any] | None = None, hydra_cfg: Any = None, value: Any = None
    ) -> Any:
        from sweepkit.manifest import SweepManager

        metric_name, mode = self._settings(sweep_dir, record or {}, hydra_cfg, value)
        return SweepManager(sweep_dir, top_k=self.top_k, metric_name=metric_name, mode=mode)

    def _settings(self, sweep_dir: Path, record: dict[str, Any], hydra_cfg: Any, value: Any = None) -> tuple[Any, Any]:
        """Metric(s) and mode(s): as set, else the sweep's stored settings, the sweeper, the
        run's record (a list of each for several metrics)."""
        from sweepkit.manifest import read_settings

        try:
            stored = read_settings(sweep_dir)  # the sweep's own, once a job registered
        except Exception:  # the manager names the problem when it opens the sweep
            stored = {}
        explicit = {"metric_name": self.metric_name, "mode": self.mode}
        settings = resolve_settings(explicit=explicit, stored=stored, sweeper=hydra_cfg, records=[record], value=value)
        return list(settings.names), list(settings.modes)

    # -------------------------------------------------------------- per job (worker)
    def _acts_in(self, config: DictConfig) -> bool:
        """Enabled, and the job is part of a multirun: a single run (no ``-m``) is not a sweep;
        it keeps its checkpoint where it wrote it."""
        return self.enabled and OmegaConf.select(config, "hydra.mode", default=None) == RunMode.MULTIRUN

    def on_job_start(self, config: DictConfig, **kwargs: Any) -> None:
        """Hold the job's lock while it runs: the sweep counts as running (sweepkit._liveness)."""
        if not self._acts_in(config):
            return
        job_dir = Path(str(config.hydra.runtime.output_dir)).absolute()
        try:
            self._job_lock = _liveness.hold_lock(job_dir / JOB_LOCK)
        except (_liveness.SweepRunningError, OSError) as exc:
            _warn(f"job {job_dir.name} could not take its lock ({exc}); cleanup and repair may not see it run")

    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if not self._acts_in(config):
            return
        try:
            self._register(config, job_return)
        except Exception as exc:  # never turn a finished job into a failed one
            _say(f"[sweepkit] ERROR: could not register the job in the sweep manifest: {exc}", file=sys.stderr)
            traceback.print_exc()
            _note_unregistered(config, job_return, exc)
        finally:  # loggers end the job's run even when registration failed
            _liveness.release_lock(self._job_lock)
            self._job_lock = None
            events.publish(events.JobEnded())

    def _register(self, config: DictConfig, job_return: JobReturn) -> None:
        hydra = (job_return.hydra_cfg or config).hydra
        job_dir = Path(hydra.runtime.output_dir).absolute()
        depth = len(Path(str(hydra.sweep.subdir)).parts)
        sweep_dir = job_dir.parents[depth - 1]
        status = error = None
        if job_return.status == JobStatus.FAILED:  # return_value would re-raise: check first
            exc = job_return._return_value
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        from sweepkit.tracker import hydra_job_fields

        record: dict[str, Any] = dict(read_run_record(job_dir) or {})
        value = job_return.return_value if status is None else None
        if status is None:  # the job finished: it is never recorded as failed for want of a record
            record, status = self._finished_job(sweep_dir, job_dir, hydra, job_return, record)
        extra = {
            "job_num": OmegaConf.select(config, "hydra.job.num"),
            "labels": record.get("labels") or hydra_job_fields(hydra)["labels"] or None,
        }
        with self._manager(sweep_dir, record, hydra, value) as manager:
            n_metrics = len(manager.metric_names)
            if status != "failed" and n_metrics > 1 and _sweepkit_sweeper(config) and _one_number(value, record):
                # the study fails this trial (one value for several objectives): so does the manifest
                status, error = (
                    "failed",
                    (
                        f"the job returned one number ({_short(value)}) for the {n_metrics} objectives "
                        f"{manager.metric_names}; return a tuple of numbers or a dict keyed by their names"
                    ),
                )
            if n_metrics > 1:
                if status != "failed":
                    extra["metric_values"] = job_values(manager.metric_names, record, value, job_dir)
            elif record.get("metric_name") not in (None, manager.metric_name):
                _warn(
                    f"job {job_dir.name} records {record['metric_name']!r} but the sweep ranks "
                    f"{manager.metric_name!r}: the run is kept unranked. Set sweepkit.metric_name="
                    f"{record['metric_name']} (hydra.callbacks.topk.metric_name), or record "
                    f"{manager.metric_name!r} in the job"
                )
            in_top = manager.register_job_dir(
                job_dir, status=status, error=error, **{k: v for k, v in extra.items() if v is not None}
            )
            if self.verbose and not _sweepkit_sweeper(config):  # sweepkit's sweeper reports each trial itself
                _say(sweep_update(manager, job_dir, in_top))
            if events.subscribed(events.JobRegistered):  # e.g. logger=wandb: its run waits for us
                events.publish(registered_event(manager, sweep_dir, job_dir, in_top))

    def _finished_job(
        self, sweep_dir: Path, job_dir: Path, hydra: Any, job_return: JobReturn, record: dict[str, Any]
    ) -> tuple[dict[str, Any], str | None]:
        """The record and status of a job that returned: its ``run.json``, or one written from
        its return value (:func:`record_job_return`); a record left ``running`` is complete."""
        if not record:
            metric_name, mode = self._settings(sweep_dir, record, hydra, job_return.return_value)
            return record_job_return(job_dir, hydra, job_return.return_value, metric_name, mode, self.checkpoint), None
        if record.get("status") in (None, "running"):
            _warn(
                f"job {job_dir.name} returned but its run.json says status "
                f"{record.get('status')!r}; recorded as complete (call "
                f"BestModelTracker.finish(status) at the end of training)"
            )
            return record, "complete"
        return record, None

    # ------------------------------------------------------- launching process
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if self.from_sweeper:
            from sweepkit.sweeper import SWEEPER_TOPK, use_chosen_preset

            use_chosen_preset(config)  # before Hydra builds the sweeper from this config
            if configured_topk(config, besides=SWEEPER_TOPK):
                self.enabled = False  # hydra.callbacks has its own: it wins
        if not self.enabled:
            return
        sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
        try:  # one live driver per sweep dir, whatever the sweeper (sweepkit's takes it too)
            self._driver_lock = _liveness.hold_driver_lock(sweep_dir)
        except _liveness.SweepRunningError as exc:
            raise SystemExit(f"[sweepkit] ERROR: {_liveness.launch_refused(sweep_dir, exc.activity)}") from None
        try:
            self._check_resumed(sweep_dir)
        except BaseException:
            self._release_driver(sweep_dir)
            raise
        # A failed job or Ctrl-C makes Hydra exit before on_multirun_end: finish the manifest at exit.
        self._finalizer = lambda: self._finish_multirun(sweep_dir, stopped=True)
        atexit.register(self._finalizer)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        if self._finalizer is not None:
            atexit.unregister(self._finalizer)
            self._finalizer = None
        if not self._finish_multirun(Path(str(config.hydra.sweep.dir)).absolute()):
            raise SystemExit(1)  # Hydra turns callback errors into warnings; this is not one

    def _finish_multirun(self, sweep_dir: Path, stopped: bool = False) -> bool:
        try:
            return self._finish(sweep_dir, stopped=stopped)
        finally:
            self._release_driver(sweep_dir)

    def _release_driver(self, sweep_dir: Path) -> None:
        _liveness.release_driver_lock(self._driver_lock, sweep_dir)
        self._driver_lock = None

    def _check_resumed(self, sweep_dir: Path) -> None:
        """Stop before any job when a resumed sweep keeps another top_k, metric or mode."""
        from sweepkit.manifest import read_settings

        stored = read_settings(sweep_dir)
        objectives = stored.pop("objectives", None)
        mine = {"top_k": self.top_k, "metric_name": self.metric_name, "mode": self.mode}
        if objectives:  # several metrics: compare the lists (one mode stands for every metric)
            stored["metric_name"] = [o["name"] for o in objectives]
            stored["mode"] = [o["mode"] for o in objectives]
            if isinstance(self.mode, str):
                mine["mode"] = [self.mode] * len(objectives)
        # a setting left null follows the sweep's own (see _settings)
        wrong = {k: v for k, v in stored.items() if k in mine and mine[k] is not None and mine[k] != v}
        if wrong:
            said = ", ".join(f"{k}={v!r} (this launch: {mine[k]!r})" for k, v in wrong.items())
            hint = (
                f" To keep another number of checkpoints, run `sweepkit prune --top-k {self.top_k} {sweep_dir}` first."
                if "top_k" in wrong
                else ""
            )
            raise SystemExit(
                f"[sweepkit] ERROR: {sweep_dir} is a sweep with {said}; resume it with the same settings.{hint}"
            )

    def _finish(self, sweep_dir: Path, reconcile: bool = True, stopped: bool = False) -> bool:
        """Finish the manifest; False (after saying why, loudly) when jobs stay unregistered."""
        from sweepkit.manifest import job_dirs_started
        from sweepkit.records import LOG_NAME, RESULTS_NAME

        if not any((sweep_dir / name).exists() for name in (LOG_NAME, RESULTS_NAME)) and not (
            reconcile and job_dirs_started(sweep_dir)
        ):
            return True  # no job ran (the sweep stopped before any): nothing to finish
        try:
            with self._manager(sweep_dir, _any_run_record(sweep_dir)) as manager:
                doc = manager.finalize(reconcile=reconcile)
                missing = unregistered_jobs(manager)
        except Exception as exc:
            _say(
                f"[sweepkit] ERROR: could not finish the sweep manifest in {sweep_dir}: {exc}\n"
                f"  Checkpoints may be left in job directories; run `sweepkit verify "
                f"{sweep_dir}` to see what needs repair.",
                file=sys.stderr,
            )
            return False
        if self.verbose:
            _say(sweep_finished(doc, stopped))
        if missing:
            _say(
                f"[sweepkit] ERROR: {len(missing)} job(s) could not register in the top-k "
                f"manifest of {sweep_dir}: {', '.join(missing)}. Their checkpoints are not "
                f"managed; run `sweepkit verify {sweep_dir}` and `--repair` once the cause "
                "is fixed.",
                file=sys.stderr,
            )
            return False
        return True


def _sweepkit_sweeper(config: DictConfig) -> bool:
    """Whether sweepkit's sweeper drives this job (its update after each trial shows the top k)."""
    from sweepkit.sweeper.config import SWEEPER_TARGET

    return bool(OmegaConf.select(config, "hydra.sweeper._target_", default=None) == SWEEPER_TARGET)


def _note_unregistered(config: DictConfig, job_return: JobReturn, exc: Exception) -> None:
    """Leave a note in the sweep that this job could not register (the launcher reports it)."""
    try:
        hydra = (job_return.hydra_cfg or config).hydra
        if hydra.mode != RunMode.MULTIRUN:
            return
        job_dir = Path(hydra.runtime.output_dir).absolute()
        depth = len(Path(str(hydra.sweep.subdir)).parts)
        notes = job_dir.parents[depth - 1] / INTERNAL_DIR / UNREGISTERED_DIR
        notes.mkdir(parents=True, exist_ok=True)
        (notes / safe_name(job_dir.name)).write_text(f"{job_dir}\n{type(exc).__name__}: {exc}\n")
    except Exception:  # noqa: BLE001 - the error itself was already printed
        pass


def unregistered_jobs(manager: Any) -> list[str]:
    """Jobs whose hook could not register them and that are still not registered (the notes
    of those registered since, e.g. by reconcile, are removed)."""
    notes = manager.sweep_dir / INTERNAL_DIR / UNREGISTERED_DIR
    missing = []
    for note in sorted(notes.glob("*")) if notes.is_dir() else []:
        job_dir = Path(note.read_text().splitlines()[0])
        run_id = job_run_id(manager.sweep_dir, job_dir, read_run_record(job_dir))
        if manager.is_registered(run_id):
            note.unlink()
        else:
            missing.append(run_id)
    return missing


def _one_number(value: Any, record: dict[str, Any]) -> bool:
    """Whether a job gave one plain number where several objectives need one each."""
    value = plain(value)
    return not record.get("best_values") and isinstance(value, (int, float)) and not isinstance(value, bool)


def job_values(names: list[str], record: dict[str, Any], value: Any, job_dir: Path) -> list[Any]:
    """A job's value of each metric: ``run.json``'s ``best_values``, else what the job
    returned (a dict keyed by metric name, or a tuple/list in their order), else the record's
    ``best_value`` for its own metric. A metric with no value is said loudly; the run is
    recorded and never on the front."""
    value = plain(value)
    found = dict(record.get("best_values") or {})
    if isinstance(value, dict):
        for name in names:
            if name in value:
                found.setdefault(name, value[name])
    elif isinstance(value, (list, tuple)) and len(value) == len(names):
        for name, item in zip(names, value):
            found.setdefault(name, item)
    if record.get("metric_name") in names and record.get("best_value") is not None:
        found.setdefault(record["metric_name"], record["best_value"])
    missing = [n for n in names if n not in found]
    if missing:
        what = (
            f"keys {', '.join(map(str, value))}"
            if isinstance(value, dict)
            else f"{len(value)} values {_short(value)}"
            if isinstance(value, (list, tuple))
            else _short(value)
        )
        _warn(
            f"job {job_dir.name} recorded no {', '.join(map(repr, missing))} (it returned "
            f"{what}): recorded, never on the front. Return a dict keyed by the metric names "
            f"{names}, or fix hydra.callbacks.topk.metric_name"
        )
    return [_as_number(found.get(n), n) if n in found else None for n in names]


def _any_run_record(sweep_dir: Path) -> dict[str, Any]:
    """The first job record of a sweep (its metric and mode name the manifest's), or {}."""
    for path in [sweep_dir / RUN_RECORD, *sorted(sweep_dir.glob(f"*/{RUN_RECORD}"))[:1]]:
        if has_run_record(path.parent):
            return dict(read_run_record(path.parent) or {})
    return {}


# ------------------------------------------------------------- zero-glue: no run.json
def record_job_return(
    job_dir: Path, hydra_cfg: Any, value: Any, metric_name: Any, mode: Any, pattern: str = DEFAULT_CHECKPOINT
) -> dict[str, Any]:
    """Write the ``run.json`` of a finished job that wrote none, from what it left behind.

    The metric is the job's return value (a number, or ``value[metric_name]`` of a dict); the
    checkpoint is the file matching ``pattern`` in the job directory (see
    :func:`find_checkpoint`). Anything missing is said loudly and the run is recorded without
    it: a run with no number or no checkpoint never ranks, and its files stay where they are.
    With several metrics (lists of names and modes) their values go to ``best_values``.
    """
    from sweepkit.tracker import BestModelTracker, hydra_job_fields

    fields = hydra_job_fields(hydra_cfg)
    where = f"job {job_dir.name} ({job_dir})"
    names = metric_name if isinstance(metric_name, list) else [metric_name]
    values = job_values(names, {}, value, job_dir) if len(names) > 1 else None
    metric_name, mode = names[0], mode[0] if isinstance(mode, list) else mode
    metric = values[0] if values else _as_number(value, metric_name)
    if metric is None:
        _warn(
            f"{where} returned {_short(value)} ({type(value).__name__}), not a finite number: it "
            f"is recorded complete with no {metric_name} and cannot rank. Return the metric "
            f"from the task function (e.g. `return trainer.callback_metrics['val/loss'].item()`) "
            f"or add sweepkit.integrations.lightning.SweepkitCallback to the Trainer"
        )
    checkpoint, how = find_checkpoint(job_dir, pattern)
    if checkpoint is None:
        _warn(
            f"{where} left no checkpoint matching {pattern!r}: it is recorded without one "
            f"and cannot rank. Save it there (ModelCheckpoint(dirpath=<job dir>/checkpoints)) "
            f"or point hydra.callbacks.topk.checkpoint at it (a glob relative to the job dir)"
        )
    elif how != "the only match":
        _say(
            f"[sweepkit] {where}: several files match {pattern!r}; using "
            f"{checkpoint.relative_to(job_dir)} ({how}), the others stay in the job dir "
            f"(`sweepkit verify` lists them)",
            file=sys.stderr,
        )
    tracker = BestModelTracker(job_dir, metric_name=metric_name, mode=mode, extra={**fields, "source": "return_value"})
    tracker.record["started_at"] = _mtime(job_dir / HYDRA_DIR / JOB_CONFIG)
    if values:
        tracker.record["best_values"] = dict(zip(names, values))
    if metric is not None:
        tracker.record.update(best_value=metric, best_epoch=None)
        tracker.set_checkpoint(checkpoint)  # only a run that can rank hands its file over
    elif value is not None:
        tracker.record["metric_note"] = f"return value {_short(value)} is not a number"
    pruning = sys.modules.get("sweepkit.pruning")  # the job asked sweepkit.should_prune()
    return tracker.finish("pruned" if pruning and pruning.job_was_pruned() else "complete")


def find_checkpoint(job_dir: Path, pattern: str = DEFAULT_CHECKPOINT) -> tuple[Path | None, str]:
    """The job's best checkpoint among the regular files matching ``pattern``, and why it.

    One match is it. Of several, the file that Lightning's ModelCheckpoint recorded as its
    ``best_model_path`` (read from the newest checkpoint's callback state), else the newest that
    is not a ``last*`` copy, else the newest.
    """
    found = sorted(
        (p for p in Path(job_dir).glob(pattern) if p.is_file() and not p.is_symlink()),
        key=lambda p: (_mtime(p), p.name),
    )
    if len(found) <= 1:
        return (found[0], "the only match") if found else (None, "no match")
    from sweepkit.integrations.lightning import recorded_best  # Lightning's format, not torch

    best = recorded_best(found)
    if best is not None:
        return best, "ModelCheckpoint's best_model_path"
    kept = [p for p in found if not p.name.startswith("last")] or found
    return kept[-1], "the newest"


def _as_number(value: Any, metric_name: str) -> float | None:
    """A finite float from a return value (a number, a 0-d tensor/array, or a dict's entry)."""
    if isinstance(value, dict):
        if metric_name not in value:
            _warn(
                f"the job returned a dict without {metric_name!r} (keys: "
                f"{', '.join(map(str, value)) or 'none'}); set hydra.callbacks.topk.metric_name "
                f"to one of them"
            )
            return None
        value = value[metric_name]
    if isinstance(value, bool) or value is None or isinstance(value, (str, bytes)):
        return None
    try:
        number = float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError, RuntimeError, OverflowError):
        return None
    return number if math.isfinite(number) else None


def _short(value: Any) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return time.time()


def _warn(message: str) -> None:
    """A warning about a job, through logging (Hydra's job log and console, ``sweepkit.hooks``)."""
    log.warning(message)


def registered_event(manager: Any, sweep_dir: Path, job_dir: Path, in_top: bool) -> events.JobRegistered:
    """The job's rank and checkpoint in ``best_models/`` (None outside the top k), as an event."""
    entry = None
    if in_top:
        run_id = job_run_id(sweep_dir, job_dir, read_run_record(job_dir))
        entry = next((e for e in manager.get_best_models() if e["run_id"] == run_id), None)
    return events.JobRegistered(
        sweep_name=sweep_dir.name,
        rank=entry["rank"] if entry else None,
        checkpoint=entry["checkpoint"] if entry else None,
        metadata={"metric_name": manager.metric_name, "metric_value": entry["metric_value"] if entry else None},
    )


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def _fmt_values(entry: dict[str, Any]) -> str:
    if "metric_values" in entry:
        return "(" + ", ".join(map(_fmt, entry["metric_values"])) + ")"
    return _fmt(entry["metric_value"])


def _say(text: str, file: Any = None) -> None:
    """Print one of sweepkit's console reports with the time first, as Hydra's own lines have it
    (``[2026-12-08 00:10:38,123][sweepkit] Sweep finished: ...``)."""
    now = time.time()
    stamp = time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(now)) + f",{int(now % 1 * 1000):03d}"
    print(f"[{stamp}]{text}", file=file or sys.stdout, flush=True)


def sweep_update(manager: Any, job_dir: Path, in_top: bool) -> str:
    """The short console report after one job."""
    doc = manager.state()  # counts as of the whole log, under the lock
    top = doc["top"]
    counts = ", ".join(f"{k} {v}" for k, v in sorted(doc.get("counts", {}).items()))
    if doc.get("objectives"):  # several metrics: the Pareto front
        names = ", ".join(o["name"] for o in doc["objectives"])
        lines = [
            f"[sweepkit] Sweep update: job {job_dir.name} "
            f"{'keeps its checkpoint on' if in_top else 'is not kept on'} the Pareto front "
            f"| runs: {doc.get('n_runs')} ({counts})",
            f"  front ({names}): {len(doc['front'])} run(s), {len(top)} kept (top_k {manager.top_k})",
        ]
        if top:
            lines.append("  kept: " + ", ".join(f"#{e['rank']} {e['run_name']} {_fmt_values(e)}" for e in top))
        return "\n".join(lines)
    lines = [
        f"[sweepkit] Sweep update: job {job_dir.name} "
        f"{'is in the top ' + str(manager.top_k) if in_top else 'not in the top ' + str(manager.top_k)}"
        f" | runs: {doc.get('n_runs')} ({counts})"
    ]
    if top:
        best = top[0]
        lines.append(f"  best {manager.metric_name}: {_fmt(best['metric_value'])} (run {best['run_name']})")
        lines.append("  top: " + ", ".join(f"#{e['rank']} {e['run_name']} {_fmt(e['metric_value'])}" for e in top))
    return "\n".join(lines)


def sweep_finished(doc: dict[str, Any], stopped: bool = False) -> str:
    """The console report at the end of a sweep (``stopped``: it ended early, e.g. on Ctrl-C)."""
    best = doc.get("best")
    if stopped:
        text = (
            f"[sweepkit] Sweep stopped before its end (interrupted, or a job failed): {doc['n_runs']} runs "
            f"recorded in {doc['sweep_dir']}; run the same command to resume it"
        )
    else:
        text = f"[sweepkit] Sweep finished: {doc['n_runs']} runs, results in {doc['sweep_dir']}"
    if doc.get("objectives"):
        names = ", ".join(o["name"] for o in doc["objectives"])
        text += f"\n  Pareto front ({names}): {len(doc['front'])} run(s), {len(doc['top'])} kept"
        for entry in doc["top"]:
            text += f"\n    #{entry['rank']} {entry['run_name']} {_fmt_values(entry)} -> {entry['checkpoint']}"
    elif best:
        text += (
            f"\n  best {doc['metric_name']}: {_fmt(best['metric_value'])} "
            f"(run {best['run_name']}) -> {best['checkpoint']}"
        )
    return text


def sweeper_topk(settings: Any = None) -> TopKCallback:
    """The top-k callback that sweepkit's sweeper configs add to ``hydra.callbacks`` (as
    ``sweepkit.sweeper.SWEEPER_TOPK``), built from ``hydra.sweeper.topk``: a mapping of
    :class:`TopKCallback`'s settings (``{top_k: 3}``), or null/false for none.

    It stands down when ``hydra.callbacks`` configures a ``TopKCallback`` of its own
    (``hydra/callbacks=sweepkit_topk``), which then wins.
    """
    if OmegaConf.is_config(settings):
        settings = OmegaConf.to_container(settings, resolve=True)
    if settings is True:
        settings = {}
    if settings is None or settings is False:
        settings = {"enabled": False}
    if not isinstance(settings, dict):
        raise ValueError(
            f"hydra.sweeper.topk must be a mapping of the top-k callback's settings "
            f"(e.g. {{top_k: 3}}) or null to switch it off, got {settings!r}"
        )
    known = {"top_k", "metric_name", "mode", "checkpoint", "enabled", "verbose"}
    unknown = sorted(set(settings) - known)
    if unknown:
        raise ValueError(
            f"hydra.sweeper.topk: unknown setting(s) {', '.join(unknown)}; known: {', '.join(sorted(known))}"
        )
    callback = TopKCallback(**settings)
    callback.from_sweeper = True
    return callback


def configured_topk(config: DictConfig, besides: str) -> bool:
    """Whether ``hydra.callbacks`` has a ``TopKCallback`` entry other than ``besides``."""
    entries = OmegaConf.select(config, "hydra.callbacks", default=None) or {}
    return any(
        name != besides and str(OmegaConf.select(entry, "_target_", default="")).endswith(".TopKCallback")
        for name, entry in entries.items()
    )
