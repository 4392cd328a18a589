"""The training loop: AdamW, clipping, early stopping, pruning, best checkpoint, test metrics."""

from __future__ import annotations

import json
import logging
import math
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from sweepkit.errors import ConfigError
from sweepkit.forecast.baselines import fit_ridge
from sweepkit.forecast.data import Splits, load_series, split_and_scale
from sweepkit.forecast.models import build_model, check_model_config
from sweepkit.forecast.progress import EpochProgress, resolve_mode
from sweepkit.loggers import make_logger
from sweepkit.pruning import current_trial
from sweepkit.testing import fault_point
from sweepkit.tracker import BestModelTracker

log = logging.getLogger("sweepkit.train")

OBJECTIVES = ("val_loss", "val_mae")
# a list objective ([val_loss, n_params]) is a multi-objective sweep: the first entry is
# trained on and ranked; these may follow it
EXTRA_OBJECTIVES = ("n_params",)


@dataclass
class RunResult:
    """What one training run ends with."""

    status: str  # complete, pruned or failed
    objective: float  # best validation objective (NaN when the run failed)
    best_epoch: int | None
    test: dict[str, float] | None
    record: dict[str, Any]
    n_params: int | None = None  # the model's parameter count


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed)
    torch.manual_seed(seed)


#: trainer keys that say how a run runs, not what it trains: a resume checkpoint ignores them
_RESUME_FREE_KEYS = ("resume", "progress", "progress_every_s", "device", "num_threads", "test")


def run_fingerprint(cfg: Any) -> str:
    """What a resume checkpoint must match: model, dataset, objective and training settings."""
    from omegaconf import OmegaConf

    def plain(node: Any) -> Any:
        return OmegaConf.to_container(node, resolve=True) if OmegaConf.is_config(node) else node

    trainer = {k: v for k, v in plain(cfg.trainer).items() if k not in _RESUME_FREE_KEYS}
    parts = {
        "model": plain(cfg.model),
        "dataset": plain(cfg.dataset),
        "trainer": trainer,
        "objective": plain(cfg.get("objective", "val_loss")),
    }
    return json.dumps(parts, sort_keys=True, default=str)


def rng_state() -> dict[str, Any]:
    """Python, numpy and torch (CPU and CUDA) random states, as plain values and tensors."""
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    state = {
        "python": random.getstate(),
        "numpy": (kind, keys.tolist(), pos, has_gauss, gauss),  # type: ignore[attr-defined]
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available() and torch.cuda.is_initialized():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def set_rng_state(state: dict[str, Any]) -> None:
    version, internal, gauss_next = state["python"]
    random.setstate((version, tuple(internal), gauss_next))
    kind, keys, pos, has_gauss, gauss = state["numpy"]
    np.random.set_state((kind, np.asarray(keys, dtype=np.uint32), pos, has_gauss, gauss))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def load_resume(path: Path, fingerprint: str, max_epochs: int) -> dict[str, Any] | None:
    """The resume checkpoint at ``path`` if it belongs to this run, else None (said why)."""
    if not path.is_file() or path.is_symlink():
        return None
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
        epoch = int(state["epoch"])
        state["model_state"], state["optimizer"], state["scheduler"], state["rng"]  # noqa: B018
    except Exception as exc:  # a torn or foreign file: train from the start, say so
        log.warning(
            "resume checkpoint %s is unreadable (%s: %s); starting from epoch 1 (it is replaced after the first epoch)",
            path,
            type(exc).__name__,
            exc,
        )
        return None
    if state.get("fingerprint") != fingerprint:
        log.warning(
            "resume checkpoint %s was written with other settings (model, dataset or "
            "trainer changed); starting from epoch 1",
            path,
        )
        return None
    if not 1 <= epoch < max_epochs:
        log.warning("resume checkpoint %s is at epoch %d of %d; starting from epoch 1", path, epoch, max_epochs)
        return None
    return state


def pick_device(name: str) -> torch.device:
    """``trainer.device``: auto (a CUDA GPU if there is one, else the CPU), cpu, cuda, cuda:N."""
    if name in (None, "auto"):
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    try:
        device = torch.device(name)
    except (RuntimeError, TypeError):
        raise ConfigError(f"trainer.device={name!r} is not a device: use auto, cpu, cuda or cuda:N") from None
    if device.type == "cuda" and not torch.cuda.is_available():
        raise ConfigError(f"trainer.device={name}, but torch sees no CUDA GPU here: use trainer.device=auto or cpu")
    if device.type == "cuda" and device.index is not None and device.index >= torch.cuda.device_count():
        raise ConfigError(f"trainer.device={name}: this machine has {torch.cuda.device_count()} GPU(s), 0 to N-1")
    return device


class WindowSampler:
    """Cuts (lookback, horizon) windows out of one series tensor by index, without copies per epoch."""

    def __init__(self, splits: Splits, device: torch.device) -> None:
        self.data = torch.from_numpy(splits.data).to(device)
        self.past = torch.arange(splits.lookback, device=device)
        self.future = torch.arange(splits.lookback, splits.lookback + splits.horizon, device=device)
        self.starts = {k: torch.from_numpy(v).to(device) for k, v in splits.starts.items()}

    def batch(self, starts: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        return self.data[starts[:, None] + self.past], self.data[starts[:, None] + self.future]

    def batches(self, split: str, batch_size: int, shuffle: bool = False, generator=None, limit: int | None = None):
        """Batches of ``split``'s windows; shuffled, with ``limit`` a fresh random ``limit`` of them."""
        starts = self.starts[split]
        if shuffle:
            order = torch.randperm(len(starts), generator=generator, device="cpu")[:limit]
            starts = starts[order.to(starts.device)]
        for i in range(0, len(starts), batch_size):
            yield self.batch(starts[i : i + batch_size])


@torch.no_grad()
def evaluate(
    model: nn.Module, sampler: WindowSampler, split: str, batch_size: int, per_channel: bool = False
) -> dict[str, Any]:
    """MSE and MAE over every window, horizon step and channel of a split, on the standardised
    scale; with ``per_channel`` also ``mse_per_channel`` and ``mae_per_channel`` (lists)."""
    model.eval()
    channels = sampler.data.shape[1]
    sq = torch.zeros(channels, dtype=torch.float64, device=sampler.data.device)
    ab = torch.zeros(channels, dtype=torch.float64, device=sampler.data.device)
    count = 0
    for x, y in sampler.batches(split, batch_size):
        err = model(x) - y
        sq = sq + torch.sum(err * err, dim=(0, 1), dtype=torch.float64)
        ab = ab + torch.sum(torch.abs(err), dim=(0, 1), dtype=torch.float64)
        count += y.shape[0] * y.shape[1]
    out: dict[str, Any] = {"mse": sq.sum().item() / (count * channels), "mae": ab.sum().item() / (count * channels)}
    if per_channel:
        out.update(mse_per_channel=(sq / count).tolist(), mae_per_channel=(ab / count).tolist())
    return out


def make_optimizer(model: nn.Module, lr: float, weight_decay: float) -> torch.optim.Optimizer:
    groups = model.optimizer_groups(lr, weight_decay) if hasattr(model, "optimizer_groups") else model.parameters()
    return torch.optim.AdamW(groups, lr=lr, weight_decay=weight_decay)


def lr_factor(epoch: float, warmup_epochs: float, schedule_epochs: float, kind: str = "cosine") -> float:
    """The learning-rate multiplier at fractional epoch ``epoch`` (0 = the first step).

    A linear warm-up from near 0 to 1 over ``warmup_epochs``, then (``cosine``) a cosine decay that
    reaches 0 at ``schedule_epochs`` and stays there, or (``none``) a constant 1. The schedule
    length is its own setting (``trainer.schedule_epochs``, default ``max_epochs``), so a run that
    stops early, or a sweep that changes ``max_epochs``, keeps the same curve.
    """
    if warmup_epochs > 0 and epoch < warmup_epochs:
        return max(epoch, 1e-3 * warmup_epochs) / warmup_epochs
    if kind != "cosine":
        return 1.0
    span = max(schedule_epochs - warmup_epochs, 1e-9)
    progress = min(max(epoch - warmup_epochs, 0.0) / span, 1.0)
    return 0.5 * (1.0 + math.cos(math.pi * progress))


def check_trainer_config(tcfg: Any) -> None:
    """Refuse a ``trainer.*`` value that cannot work, before any data loads (ConfigError)."""
    kind = str(tcfg.get("scheduler", "cosine"))
    if kind not in ("cosine", "none"):
        raise ConfigError(f"trainer.scheduler must be cosine or none, got {kind!r}")
    epoch_windows = tcfg.get("epoch_windows")
    valid = isinstance(epoch_windows, int) and not isinstance(epoch_windows, bool) and epoch_windows > 0
    if epoch_windows is not None and not valid:
        raise ConfigError(f"trainer.epoch_windows={epoch_windows!r}: use a number of windows > 0, or null for all")
    score_test = tcfg.get("test", True)
    if not isinstance(score_test, bool):
        raise ConfigError(f"trainer.test={score_test!r}: use true (score the best checkpoint on test) or false")
    max_time = tcfg.get("max_time")
    if max_time is not None and not (isinstance(max_time, (int, float)) and max_time > 0):
        raise ConfigError(f"trainer.max_time={max_time!r}: use seconds > 0, or null for no limit")
    try:
        resolve_mode(tcfg.get("progress", "auto"))
    except ValueError as exc:
        raise ConfigError(str(exc)) from None


def run_training(cfg: Any, run_dir: str | Path, record: dict[str, Any] | None = None) -> RunResult:
    """Train ``cfg.model`` on ``cfg.dataset`` with ``cfg.trainer``; write run.json and the best checkpoint.

    A diverging run (non-finite loss) ends with status ``failed`` and a NaN objective instead of
    raising, so one bad trial never stops a sweep.
    """
    tcfg, dcfg = cfg.trainer, cfg.dataset
    objective = cfg.get("objective", "val_loss")
    objectives = [str(objective)] if isinstance(objective, str) else [str(o) for o in objective]
    objective = objectives[0]
    if objective not in OBJECTIVES or any(o not in EXTRA_OBJECTIVES for o in objectives[1:]):
        raise ConfigError(
            f"objective must be one of {OBJECTIVES}, or a list of one of them and "
            f"any of {EXTRA_OBJECTIVES}, got {objectives!r}"
        )
    mode = str(cfg.sweepkit.mode) if "sweepkit" in cfg else "min"
    seed_everything(int(tcfg.seed))
    if tcfg.get("num_threads"):
        torch.set_num_threads(int(tcfg.num_threads))
    device = pick_device(tcfg.get("device", "auto"))
    check_model_config(cfg.model)  # before the data loads
    check_trainer_config(tcfg)
    logger = make_logger(cfg.get("logger"))  # a bad logger setting fails before any work

    series = load_series(dcfg)
    splits = split_and_scale(series.values, int(dcfg.lookback), int(dcfg.horizon), tuple(dcfg.split))
    n_features = splits.data.shape[1]
    model = build_model(cfg.model, n_features, splits.lookback, splits.horizon).to(device)
    optimizer = make_optimizer(model, float(tcfg.lr), float(tcfg.weight_decay))
    max_epochs = int(tcfg.max_epochs)
    kind = str(tcfg.get("scheduler", "cosine"))
    warmup = float(tcfg.get("warmup_epochs") or 0.0)
    schedule_epochs = float(tcfg.get("schedule_epochs") or max_epochs)
    sampler = WindowSampler(splits, device)
    epoch_windows = tcfg.get("epoch_windows")
    score_test = tcfg.get("test", True)
    n_train = len(splits.starts["train"]) if epoch_windows is None else min(epoch_windows, len(splits.starts["train"]))
    steps_per_epoch = max(1, math.ceil(n_train / int(tcfg.batch_size)))
    scheduler = torch.optim.lr_scheduler.LambdaLR(  # stepped every batch
        optimizer, lambda step: lr_factor(step / steps_per_epoch, warmup, schedule_epochs, kind)
    )
    generator = torch.Generator().manual_seed(int(tcfg.seed))

    extra = dict(record or {})
    extra.update(max_epochs=max_epochs, data=series.provenance())
    tracker = BestModelTracker(run_dir, metric_name=objective, mode=mode, extra=extra)
    resume = bool(tcfg.get("resume", True))
    fingerprint = run_fingerprint(cfg)
    resumed = load_resume(tracker.resume_path, fingerprint, max_epochs) if resume else None
    first_epoch, stale = 1, 0
    if resumed is not None:
        model.load_state_dict(resumed["model_state"])
        optimizer.load_state_dict(resumed["optimizer"])
        scheduler.load_state_dict(resumed["scheduler"])
        generator.set_state(resumed["generator"])
        set_rng_state(resumed["rng"])
        tracker.resume_from(resumed["tracker"], int(resumed["epoch"]))
        first_epoch, stale = int(resumed["epoch"]) + 1, int(resumed.get("stale", 0))
        log.info(
            "resuming from epoch %d/%d: epochs 1-%d restored from %s",
            first_epoch,
            max_epochs,
            first_epoch - 1,
            tracker.resume_path,
        )
    elif getattr(model, "skip_from_ridge", False):  # model.linear_skip=ridge
        ridge = fit_ridge(splits)
        model.start_from_ridge(ridge.weights)
        log.info("linear skip starts from ridge (alpha %g, val mse %.5f)", ridge.alpha, ridge.val.mse)
    extra["run_name"] = tracker.record["run_name"]
    run_name = str(extra.get("run_name", Path(run_dir).name))
    try:
        wandb_info = logger.start(
            config=extra.get("config", {}), run_name=run_name, group=extra.get("group"), tags=extra.get("tags")
        )
    except BaseException as exc:  # e.g. W&B online init timed out: record the failure
        tracker.finish("failed", error=f"{type(exc).__name__}: {exc}")
        raise
    if wandb_info:
        tracker.record["wandb"] = wandb_info
    reporter = current_trial()
    for entry in tracker.record["history"] if resumed is not None else ():
        reporter.report(entry[objective], int(entry["epoch"]))  # steps the trial has are skipped
    n_params = sum(p.numel() for p in model.parameters())
    log.info(
        "%s on %s (%s, %d x %d), %d parameters, %d/%d/%d windows, device %s",
        cfg.model.name,
        series.name,
        series.source,
        *series.values.shape,
        n_params,
        *(len(splits.starts[s]) for s in ("train", "val", "test")),
        device,
    )

    def save(path: Path) -> None:
        torch.save(
            {
                "model_state": model.state_dict(),
                "epoch": epoch,
                "metric_name": objective,
                "metric_value": val_objective,
                "model": dict(cfg.model),
                "n_features": n_features,
                "lookback": splits.lookback,
                "horizon": splits.horizon,
                "scaler": {"mean": splits.mean.tolist(), "std": splits.std.tolist()},
            },
            path,
        )

    def save_resume(path: Path) -> None:
        torch.save(
            {
                "epoch": epoch,
                "fingerprint": fingerprint,
                "stale": stale,
                "model_state": model.state_dict(),
                "optimizer": optimizer.state_dict(),
                "scheduler": scheduler.state_dict(),
                "generator": generator.get_state(),
                "rng": rng_state(),
                "tracker": tracker.resume_state(),
            },
            path,
        )

    loss_fn = nn.MSELoss()
    status, error = "complete", None
    batch_size, clip = int(tcfg.batch_size), tcfg.get("grad_clip")
    patience = tcfg.get("patience")
    max_time = tcfg.get("max_time")
    deadline = time.monotonic() + float(max_time) if max_time else math.inf
    out_of_time = False
    progress_mode = resolve_mode(tcfg.get("progress", "auto"))
    every_s = float(tcfg.get("progress_every_s") or 30.0)
    try:
        for epoch in range(first_epoch, max_epochs + 1):
            started = time.perf_counter()
            lr = optimizer.param_groups[0]["lr"]  # at the epoch's first step
            model.train()
            total, n_batches = torch.zeros((), device=device), 0  # summed on the device: no sync per step
            progress = EpochProgress(progress_mode, epoch, max_epochs, steps_per_epoch, every_s)
            for x, y in sampler.batches("train", batch_size, shuffle=True, generator=generator, limit=epoch_windows):
                optimizer.zero_grad(set_to_none=True)
                loss = loss_fn(model(x), y)
                loss.backward()
                if clip:
                    nn.utils.clip_grad_norm_(model.parameters(), float(clip))
                optimizer.step()
                scheduler.step()
                total += loss.detach()
                n_batches += 1
                progress.update(len(x))
                if time.monotonic() >= deadline:  # this epoch ends here, is validated, and is the last
                    out_of_time = True
                    break
            progress.close()
            train_loss = total.item() / max(n_batches, 1)
            windows_per_s = progress.rate()
            val = evaluate(model, sampler, "val", batch_size * 4)
            val_objective = val["mse"] if objective == "val_loss" else val["mae"]
            entry = {
                "epoch": epoch,
                "train_loss": train_loss,
                "val_loss": val["mse"],
                "val_mae": val["mae"],
                "lr": lr,
                "time": time.perf_counter() - started,
                "windows_per_s": windows_per_s,
            }
            if not (math.isfinite(train_loss) and math.isfinite(val_objective)):
                tracker.log_epoch(entry)
                status, error = "failed", f"training diverged: non-finite loss at epoch {epoch}"
                log.error("epoch %d: %s; ending this run", epoch, error)
                break
            improved = tracker.update(epoch, val_objective, save)
            tracker.log_epoch(entry)
            stale = 0 if improved else stale + 1
            if resume and epoch < max_epochs:
                tracker.save_resume(save_resume)
            fault_point(f"after_epoch_{epoch}")
            logger.log({k: v for k, v in entry.items() if k != "epoch"}, step=epoch)
            log.info(
                "epoch %3d/%d  train_loss %.5f  val_loss %.5f  val_mae %.5f  %.1fs  %s windows/s%s",
                epoch,
                max_epochs,
                train_loss,
                val["mse"],
                val["mae"],
                entry["time"],
                f"{windows_per_s:,.0f}",
                "  *" if improved else "",
            )
            reporter.report(val_objective, epoch)
            # the last epoch is not pruned: it saves nothing, and the sampler should see a
            # fully trained trial as complete
            if epoch < max_epochs and reporter.should_prune():
                status = "pruned"
                log.info("epoch %d: trial pruned by the sweeper; keeping the best checkpoint so far", epoch)
                break
            if patience and stale >= int(patience):
                log.info("early stopping: no improvement of %s for %d epochs", objective, stale)
                break
            if out_of_time and epoch < max_epochs:
                tracker.record["time_limit"] = {"max_time": float(max_time), "epoch": epoch}
                log.info("trainer.max_time=%gs reached in epoch %d: training ends here", float(max_time), epoch)
                break
        test = None
        if tracker.checkpoint_path is not None and score_test:
            state = torch.load(tracker.checkpoint_path, map_location=device, weights_only=True)
            model.load_state_dict(state["model_state"])
            test = evaluate(model, sampler, "test", batch_size * 4)
    except BaseException as exc:
        tracker.finish("failed", error=f"{type(exc).__name__}: {exc}", keep_resume=True)
        logger.finish("failed", {"error": f"{type(exc).__name__}: {exc}"})
        raise
    tracker.finish(status, test=test, error=error)
    best = tracker.best_value if status != "failed" and tracker.best_value is not None else float("nan")
    summary = {f"best_{objective}": best, "best_epoch": tracker.best_epoch, "status": status}
    if test:
        summary.update({f"test_{k}": v for k, v in test.items()})
    logger.finish(status, summary)
    if tracker.checkpoint_path is not None:
        scored = f"test mse {test['mse']:.5f} mae {test['mae']:.5f}" if test else "test not scored (trainer.test=false)"
        log.info("best %s %.5f at epoch %s; %s (%s)", objective, tracker.best_value, tracker.best_epoch, scored, status)
    else:
        log.info("run %s with no finite %s", status, objective)
    return RunResult(status, best, tracker.best_epoch, test, tracker.record, n_params)
