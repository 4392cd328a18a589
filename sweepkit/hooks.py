"""The Hydra callback that registers every job of a sweep in the global top-k manifest.

Enable it in ``conf/config.yaml``::

    hydra:
      callbacks:
        topk:
          _target_: sweepkit.hooks.TopKCallback
          top_k: ${sweepkit.top_k}
          metric_name: ${sweepkit.metric_name}
          mode: ${sweepkit.mode}

``on_job_end`` runs in the job's process (the worker for joblib and submitit): it reads the
job's ``run.json`` and registers it, so the job-local checkpoint is promoted into
``best_models/`` or deleted. A single run (no ``-m``) is a sweep of one: its run directory is
its sweep directory. ``on_multirun_end`` (or, when a job raised, the launching process's exit)
marks jobs that never reported as killed and writes the full ``sweep_results.json`` and
``sweep_summary.yaml``.
"""

from __future__ import annotations

import atexit
import sys
import traceback
from pathlib import Path
from typing import Any

from hydra.core.utils import JobReturn, JobStatus
from hydra.experimental.callback import Callback
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sweepkit._io import check_mode, safe_name
from sweepkit.manifest._manager import job_run_id, read_run_json


class TopKCallback(Callback):
    """Register each Hydra job with :class:`sweepkit.SweepManager`.

    Args:
        top_k: checkpoints kept per sweep (default 3).
        metric_name: the ranked metric (default ``val_loss``).
        mode: ``min`` (default) or ``max``.
        enabled: set False to switch the manifest off (``hydra.callbacks.topk.enabled=false``).
        verbose: print the "Sweep update" after every job (default True).
    """

    def __init__(self, top_k: int = 3, metric_name: str = "val_loss", mode: str = "min",
                 enabled: bool = True, verbose: bool = True) -> None:
        from sweepkit.manifest import SweepManager

        SweepManager  # imported here so a bad setting fails when Hydra builds the callback
        if isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1:
            raise ValueError(f"sweepkit.top_k must be an integer >= 1, got {top_k!r}")
        check_mode(mode, "sweepkit.mode")
        self.top_k, self.metric_name, self.mode = top_k, metric_name, mode
        self.enabled, self.verbose = enabled, verbose
        self._finalizer = None

    def _manager(self, sweep_dir: Path):
        from sweepkit.manifest import SweepManager

        return SweepManager(sweep_dir, top_k=self.top_k, metric_name=self.metric_name,
                            mode=self.mode)

    # -------------------------------------------------------------- per job (worker)
    def on_job_end(self, config: DictConfig, job_return: JobReturn, **kwargs: Any) -> None:
        if not self.enabled:
            return
        try:
            self._register(config, job_return)
        except Exception as exc:  # never turn a finished job into a failed one
            print(f"[sweepkit] ERROR: could not register the job in the sweep manifest: {exc}",
                  file=sys.stderr)
            traceback.print_exc()
            _note_unregistered(config, job_return, exc)
        finally:  # end the job's W&B run even when registration failed (no-op once ended)
            wandb_tracking = sys.modules.get("sweepkit.tracking.wandb")
            if wandb_tracking is not None:
                wandb_tracking.finish_job_run(None, None, "")

    def _register(self, config: DictConfig, job_return: JobReturn) -> None:
        hydra = (job_return.hydra_cfg or config).hydra
        job_dir = Path(hydra.runtime.output_dir).absolute()
        multirun = hydra.mode == RunMode.MULTIRUN
        sweep_dir = job_dir
        if multirun:
            depth = len(Path(str(hydra.sweep.subdir)).parts)
            sweep_dir = job_dir.parents[depth - 1]
        status = error = None
        if job_return.status == JobStatus.FAILED:  # return_value would re-raise: check first
            exc = job_return._return_value
            status, error = "failed", f"{type(exc).__name__}: {exc}"
        extra = {"model": OmegaConf.select(config, "model.name"),
                 "dataset": OmegaConf.select(config, "dataset.name"),
                 "job_num": OmegaConf.select(config, "hydra.job.num")}
        with self._manager(sweep_dir) as manager:
            in_top = manager.register_job_dir(
                job_dir, status=status, error=error,
                **{k: v for k, v in extra.items() if v is not None})
            if self.verbose:
                print(sweep_update(manager, job_dir, in_top))
            if "sweepkit.tracking.wandb" in sys.modules:  # logger=wandb: the W&B run waits for us
                finish_wandb_run(manager, sweep_dir, job_dir, in_top)

    # ------------------------------------------------------- launching process
    def on_multirun_start(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        sweep_dir = Path(str(config.hydra.sweep.dir)).absolute()
        self._check_resumed(sweep_dir)
        # A failed job makes Hydra exit before on_multirun_end: finish the manifest at exit.
        self._finalizer = lambda: self._finish(sweep_dir)
        atexit.register(self._finalizer)

    def on_multirun_end(self, config: DictConfig, **kwargs: Any) -> None:
        if not self.enabled:
            return
        if self._finalizer is not None:
            atexit.unregister(self._finalizer)
            self._finalizer = None
        if not self._finish(Path(str(config.hydra.sweep.dir)).absolute()):
            raise SystemExit(1)  # Hydra turns callback errors into warnings; this is not one

    def on_run_end(self, config: DictConfig, **kwargs: Any) -> None:
        if self.enabled:
            self._finish(Path(str(config.hydra.run.dir)).absolute(), reconcile=False)

    def _check_resumed(self, sweep_dir: Path) -> None:
        """Stop before any job when a resumed sweep keeps another top_k, metric or mode."""
        from sweepkit.manifest import read_settings

        stored = read_settings(sweep_dir)
        mine = {"top_k": self.top_k, "metric_name": self.metric_name, "mode": self.mode}
        wrong = {k: v for k, v in stored.items() if mine[k] != v}
        if wrong:
            said = ", ".join(f"{k}={v!r} (this launch: {mine[k]!r})" for k, v in wrong.items())
            hint = (f" To keep another number of checkpoints, run `sweepkit prune --top-k "
                    f"{self.top_k} {sweep_dir}` first." if "top_k" in wrong else "")
            raise SystemExit(f"[sweepkit] ERROR: {sweep_dir} is a sweep with {said}; resume it "
                             f"with the same settings.{hint}")

    def _finish(self, sweep_dir: Path, reconcile: bool = True) -> bool:
        """Finish the manifest; False (after saying why, loudly) when jobs stay unregistered."""
        from sweepkit.manifest import LOG_NAME, RESULTS_NAME, job_dirs_with_records

        if not any((sweep_dir / name).exists() for name in (LOG_NAME, RESULTS_NAME)) \
                and not (reconcile and job_dirs_with_records(sweep_dir)):
            return True  # no job ran (the sweep stopped before any): nothing to finish
        try:
            with self._manager(sweep_dir) as manager:
                doc = manager.finalize(reconcile=reconcile)
                missing = unregistered_jobs(manager)
        except Exception as exc:
            print(f"[sweepkit] ERROR: could not finish the sweep manifest in {sweep_dir}: {exc}\n"
                  f"  Checkpoints may be left in job directories; run `sweepkit verify "
                  f"{sweep_dir}` to see what needs repair.", file=sys.stderr)
            return False
        if self.verbose:
            print(sweep_finished(doc))
        if missing:
            print(f"[sweepkit] ERROR: {len(missing)} job(s) could not register in the top-k "
                  f"manifest of {sweep_dir}: {', '.join(missing)}. Their checkpoints are not "
                  f"managed; run `sweepkit verify {sweep_dir}` and `--repair` once the cause "
                  "is fixed.", file=sys.stderr)
            return False
        return True


def _note_unregistered(config: DictConfig, job_return: JobReturn, exc: Exception) -> None:
    """Leave a note in the sweep that this job could not register (the launcher reports it)."""
    try:
        hydra = (job_return.hydra_cfg or config).hydra
        if hydra.mode != RunMode.MULTIRUN:
            return
        job_dir = Path(hydra.runtime.output_dir).absolute()
        depth = len(Path(str(hydra.sweep.subdir)).parts)
        notes = job_dir.parents[depth - 1] / ".sweepkit" / "unregistered"
        notes.mkdir(parents=True, exist_ok=True)
        (notes / safe_name(job_dir.name)).write_text(f"{job_dir}\n{type(exc).__name__}: {exc}\n")
    except Exception:  # noqa: BLE001 - the error itself was already printed
        pass


def unregistered_jobs(manager) -> list[str]:
    """Jobs whose hook could not register them and that are still not registered (the notes
    of those registered since, e.g. by reconcile, are removed)."""
    notes = manager.sweep_dir / ".sweepkit" / "unregistered"
    missing = []
    for note in sorted(notes.glob("*")) if notes.is_dir() else []:
        job_dir = Path(note.read_text().splitlines()[0])
        run_id = job_run_id(manager.sweep_dir, job_dir, read_run_json(job_dir))
        if manager.is_registered(run_id):
            note.unlink()
        else:
            missing.append(run_id)
    return missing


def finish_wandb_run(manager, sweep_dir: Path, job_dir: Path, in_top: bool) -> None:
    """End the job's W&B run, logging its checkpoint as a model artifact when it is in the top k."""
    from sweepkit.manifest import job_run_id, read_run_json
    from sweepkit.tracking.wandb import finish_job_run

    entry = None
    if in_top:
        run_id = job_run_id(sweep_dir, job_dir, read_run_json(job_dir))
        entry = next((e for e in manager.get_best_models() if e["run_id"] == run_id), None)
    finish_job_run(rank=entry["rank"] if entry else None,
                   checkpoint_path=entry["checkpoint"] if entry else None,
                   sweep_name=sweep_dir.name,
                   metadata={"metric_name": manager.metric_name,
                             "metric_value": entry["metric_value"] if entry else None})


def _fmt(value: Any) -> str:
    return "n/a" if value is None else f"{value:.6g}"


def sweep_update(manager, job_dir: Path, in_top: bool) -> str:
    """The short console report after one job."""
    doc = manager.state()  # counts as of the whole log, under the lock
    top = doc["top"]
    counts = ", ".join(f"{k} {v}" for k, v in sorted(doc.get("counts", {}).items()))
    lines = [f"[sweepkit] Sweep update: job {job_dir.name} "
             f"{'is in the top ' + str(manager.top_k) if in_top else 'not in the top ' + str(manager.top_k)}"
             f" | runs: {doc.get('n_runs')} ({counts})"]
    if top:
        best = top[0]
        lines.append(f"  best {manager.metric_name}: {_fmt(best['metric_value'])} "
                     f"(run {best['run_name']})")
        lines.append("  top: " + ", ".join(
            f"#{e['rank']} {e['run_name']} {_fmt(e['metric_value'])}" for e in top))
    return "\n".join(lines)


def sweep_finished(doc: dict) -> str:
    """The console report at the end of a sweep."""
    best = doc.get("best")
    text = f"[sweepkit] Sweep finished: {doc['n_runs']} runs, results in {doc['sweep_dir']}"
    if best:
        text += (f"\n  best {doc['metric_name']}: {_fmt(best['metric_value'])} "
                 f"(run {best['run_name']}) -> {best['checkpoint']}")
    return text
