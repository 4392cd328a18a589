"""A Lightning callback that connects a Trainer to a sweepkit sweep.

Add it to the Trainer's callbacks (in lightning-hydra-template: ``configs/callbacks/``)::

    callbacks:
      sweepkit:
        _target_: sweepkit.integrations.lightning.SweepkitCallback

In a job of a Hydra multirun it

- reports the monitored metric after every validation to the sweep's Optuna trial (step = the
  number of validations so far, the epoch with one validation per epoch), and stops the Trainer
  when the pruner says so (``trainer.should_stop``; the last epoch is never pruned);
- writes the job's ``run.json`` (the same record as sweepkit's own training loop, see
  ``docs/run-record.md``): status, best value and epoch, a history of the validation metrics,
  test metrics (any ``test*`` metric logged by ``trainer.test``), the error of a failed fit;
- names ModelCheckpoint's ``best_model_path`` as the run's checkpoint, which the top-k hook then
  moves into ``best_models/`` or deletes (no second copy is written).

Outside a multirun (a single run, a notebook, a test) every hook returns at once.
``monitor`` and ``mode`` default to those of the Trainer's ModelCheckpoint. With several
processes per trial (DDP, ``ddp_spawn`` included: the callback carries the job's Hydra settings
into the processes it is pickled to), rank 0 reports through the study's storage and records
the run, and a prune stops every rank together (rank 0's answer, reduced across the ranks as
Lightning's EarlyStopping does).
"""

from __future__ import annotations

import atexit
import functools
import logging
import math
from pathlib import Path
from typing import Any

try:
    from lightning.pytorch.callbacks import Callback, ModelCheckpoint
except ImportError as err:  # pragma: no cover - depends on the environment
    raise ImportError(
        f"sweepkit.integrations.lightning needs Lightning ({err}); install it with `pip install 'sweepkit[lightning]'`"
    ) from None

from sweepkit._io import check_mode
from sweepkit._settings import direction_modes

log = logging.getLogger("sweepkit.lightning")

__all__ = ["SweepkitCallback"]


class SweepkitCallback(Callback):
    """Report validations to the sweep's trial, prune, and record the run for the top-k manifest.

    Args:
        monitor: the logged validation metric (``"val/loss"``). Default: the monitor of the
            Trainer's ModelCheckpoint.
        mode: ``"min"`` or ``"max"``. Default: the ModelCheckpoint's mode for the same metric,
            else ``hydra.sweeper.direction``, else ``"min"``.
    """

    def __init__(self, monitor: str | None = None, mode: str | None = None) -> None:
        super().__init__()
        if mode is not None:
            check_mode(mode, "SweepkitCallback(mode=...)")
        self.monitor, self.mode = monitor, mode
        self.tracker: Any = None  # a BestModelTracker while a sweep job trains; None otherwise
        self.reporter: Any = None
        self._pruned_at: int | None = None
        self._validations = 0
        self._last_epoch = 0
        self._warned_min = False
        self._fitting = False  # validations of trainer.validate() after fit are not the trial's
        self._in_sweep = False  # this process trains a trial of a sweep (any rank)
        # the job's Hydra settings, taken where the callback is made (the job's process): a
        # DDP rank that Lightning spawns has no Hydra of its own
        self._job_hydra = _sweep_job()

    # ------------------------------------------------------------------ fit
    def on_fit_start(self, trainer: Any, pl_module: Any) -> None:
        if self._job_hydra is not None and _sweep_job() is None:  # a rank ddp_spawn started
            _release_process_group_at_exit()
        hydra_cfg = _sweep_job() or self._job_hydra
        self._in_sweep, self._fitting = hydra_cfg is not None, hydra_cfg is not None
        self._pruned_at, self._validations, self._last_epoch = None, 0, 0
        if hydra_cfg is None or not trainer.is_global_zero:
            self.tracker = None
            return
        from sweepkit.pruning import current_trial
        from sweepkit.tracker import BestModelTracker, hydra_job_fields

        monitor, mode = self._resolve(trainer, hydra_cfg)
        fields = hydra_job_fields(hydra_cfg)
        max_epochs = trainer.max_epochs if trainer.max_epochs not in (None, -1) else None
        self.tracker = BestModelTracker(
            Path(hydra_cfg.runtime.output_dir),
            metric_name=monitor,
            mode=mode,
            extra={**fields, "max_epochs": max_epochs, "source": "lightning"},
        )
        self.reporter = current_trial(hydra_cfg)
        if not self.reporter.active:
            log.warning(
                "SweepkitCallback: this job's trial cannot be reached (hydra.sweeper.storage is not "
                "set, or the sweeper is not sweepkit's): nothing is reported or pruned"
            )

    def on_validation_end(self, trainer: Any, pl_module: Any) -> None:
        if not self._in_sweep or not self._fitting or trainer.sanity_checking:
            return
        prune = self._validated(trainer) if self.tracker is not None else False
        if trainer.world_size > 1:  # every rank takes part: all stop together, or none
            prune = bool(trainer.strategy.reduce_boolean_decision(prune, all=False))
        if not prune:
            return
        self._pruned_at = self._pruned_at or trainer.current_epoch + 1
        trainer.should_stop = True
        if self.tracker is not None:
            log.info(
                "trial %s pruned by the sweeper at epoch %d; keeping the best checkpoint so far",
                self.reporter.number,
                self._pruned_at,
            )
            self._warn_if_held(trainer, self._pruned_at)

    def _validated(self, trainer: Any) -> bool:
        """Rank 0: record and report the validation; whether the pruner stops the trial now."""
        monitor = self.tracker.metric_name
        value = trainer.callback_metrics.get(monitor)
        if value is None:
            logged = ", ".join(sorted(trainer.callback_metrics)) or "nothing"
            raise ValueError(
                f"SweepkitCallback(monitor={monitor!r}): the LightningModule logged no "
                f"{monitor!r} during validation (logged: {logged}); log it with "
                f"self.log({monitor!r}, ...) in validation_step, or set monitor= to a logged name"
            )
        value = _number(value)
        epoch = trainer.current_epoch + 1
        self._validations += 1
        self._last_epoch = epoch
        entry = {"epoch": epoch, "step": trainer.global_step}
        entry.update(
            {k: _number(v) for k, v in trainer.callback_metrics.items() if not k.startswith("test") and _is_scalar(v)}
        )
        self.tracker.update(epoch, value)
        self.tracker.log_epoch(entry)
        if value is None or not math.isfinite(value):
            return False  # Optuna takes finite values only; the record keeps the NaN in the history
        self.reporter.report(value, self._validations)
        last = self.tracker.record.get("max_epochs") and epoch >= self.tracker.record["max_epochs"]
        return self._pruned_at is None and not last and self.reporter.should_prune(mark=False)

    def on_train_end(self, trainer: Any, pl_module: Any) -> None:
        fitting, self._fitting = self._fitting, False  # every rank: later validations are not the trial's
        if self.tracker is None or not fitting:
            return
        max_epochs = self.tracker.record.get("max_epochs")
        trained_to_end = bool(max_epochs) and self._last_epoch >= max_epochs
        status = "pruned" if self._pruned_at is not None and not trained_to_end else "complete"
        if status == "pruned":
            self.reporter.mark_pruned()  # the sweeper tells the trial PRUNED, not COMPLETE
        self.tracker.set_checkpoint(self._best_checkpoint(trainer))
        self.tracker.finish(status)

    def on_test_end(self, trainer: Any, pl_module: Any) -> None:
        if self.tracker is None:
            return
        metrics = {k: _number(v) for k, v in trainer.callback_metrics.items() if k.startswith("test") and _is_scalar(v)}
        self.tracker.set_test(metrics or None)

    def on_exception(self, trainer: Any, pl_module: Any, exception: BaseException) -> None:
        if self.tracker is not None:
            self.tracker.finish("failed", error=f"{type(exception).__name__}: {exception}")

    # ------------------------------------------------------------------ helpers
    def _resolve(self, trainer: Any, hydra_cfg: Any) -> tuple[str, str]:
        checkpoints = [cb for cb in trainer.checkpoint_callbacks if getattr(cb, "monitor", None)]
        monitor = self.monitor or (checkpoints[0].monitor if checkpoints else None)
        if not monitor:
            raise ValueError(
                "SweepkitCallback needs the metric to rank and prune by: pass monitor= "
                "(e.g. SweepkitCallback(monitor='val/loss', mode='min')) or give the Trainer a "
                "ModelCheckpoint(monitor=...)"
            )
        same = next((cb for cb in checkpoints if cb.monitor == monitor), None)
        mode = self.mode or (same.mode if same else None) or _direction_mode(hydra_cfg) or "min"
        if same is not None and same.mode != mode:
            log.warning(
                "SweepkitCallback ranks %s by mode=%s but ModelCheckpoint keeps mode=%s: "
                "the checkpoint kept is not the best run's best; use one mode",
                monitor,
                mode,
                same.mode,
            )
        return monitor, mode

    def _best_checkpoint(self, trainer: Any) -> str | None:
        monitor = self.tracker.metric_name
        callbacks = [cb for cb in trainer.checkpoint_callbacks if isinstance(cb, ModelCheckpoint)]
        same = [cb for cb in callbacks if cb.monitor == monitor and cb.best_model_path]
        if same:
            return same[0].best_model_path
        other = next((cb for cb in callbacks if cb.best_model_path or cb.last_model_path), None)
        if other is None and getattr(trainer, "fast_dev_run", False):
            log.info("SweepkitCallback: fast_dev_run saves no checkpoint; this run is recorded without one")
            return None
        if other is None:
            log.warning(
                "SweepkitCallback: the Trainer saved no checkpoint, so this run is recorded "
                "without one and cannot rank; add ModelCheckpoint(monitor=%r) to the "
                "Trainer's callbacks",
                monitor,
            )
            return None
        log.warning(
            "SweepkitCallback: no ModelCheckpoint monitors %r; handing over %s (monitor "
            "%r) instead; set ModelCheckpoint(monitor=%r) so the kept file is the best "
            "epoch",
            monitor,
            other.best_model_path or other.last_model_path,
            other.monitor,
            monitor,
        )
        return other.best_model_path or other.last_model_path

    def _warn_if_held(self, trainer: Any, epoch: int) -> None:
        min_epochs = trainer.fit_loop.min_epochs
        min_steps = trainer.fit_loop.epoch_loop.min_steps
        held = (min_epochs and epoch < min_epochs) or (min_steps and trainer.global_step < min_steps)
        if held and not self._warned_min:
            self._warned_min = True
            log.warning(
                "trial %s was pruned at epoch %d, but Trainer(min_epochs=%s, min_steps=%s) keeps "
                "it training: pruning saves nothing until then (a run that still trains to the "
                "end is recorded complete). Set trainer.min_epochs/min_steps to null or below "
                "the first Hyperband rung (hydra.sweeper.pruner.min_resource)",
                self.reporter.number,
                epoch,
                min_epochs,
                min_steps,
            )


def _sweep_job() -> Any:
    """The Hydra config of the running multirun job, or None (not in a sweep)."""
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    if not HydraConfig.initialized():
        return None
    hydra_cfg = HydraConfig.get()
    return hydra_cfg if hydra_cfg.mode == RunMode.MULTIRUN else None


@functools.lru_cache(maxsize=None)  # once per process
def _release_process_group_at_exit() -> None:
    """Destroy torch's process group when this process exits, before the interpreter's own
    teardown (as Lightning does for NCCL only): left to it, a gloo group's threads can abort the
    process (``terminate called without an active exception``), and a trial that finished fails."""
    atexit.register(_destroy_process_group)


def _destroy_process_group() -> None:
    import torch.distributed as dist

    if dist.is_available() and dist.is_initialized():
        dist.destroy_process_group()


def _direction_mode(hydra_cfg: Any) -> str | None:
    """The sweeper's (first) direction as min/max; the monitored metric is the first one."""
    modes = direction_modes(hydra_cfg)
    return modes[0] if modes else None


def _is_scalar(value: Any) -> bool:
    return isinstance(value, (int, float)) or getattr(value, "numel", lambda: 0)() == 1


def _number(value: Any) -> float | None:
    try:
        return float(value.item() if hasattr(value, "item") else value)
    except (TypeError, ValueError, RuntimeError):
        return None
