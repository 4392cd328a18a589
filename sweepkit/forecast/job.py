"""The Hydra task: one job of a run or sweep, returning the objective to the sweeper."""

from __future__ import annotations

import logging
import os
import sys
from pathlib import Path
from typing import Any

from hydra.core.hydra_config import HydraConfig
from hydra.types import RunMode
from omegaconf import DictConfig, OmegaConf

from sweepkit._overrides import override_values
from sweepkit.errors import SweepkitError
from sweepkit.forecast.training import log as TRAIN_LOG
from sweepkit.forecast.training import run_training


def job_params(cfg: DictConfig, overrides: list[str]) -> dict[str, Any]:
    """The job's command-line overrides as {dotted key: value} (group choices as their names)."""
    params: dict[str, Any] = {}
    for key, given in override_values(overrides, skip_hydra=False).items():
        value = OmegaConf.select(cfg, key, default=None)
        params[key] = given if value is None or OmegaConf.is_config(value) else value
    return params


class JobPrefix(logging.Filter):
    """Starts each line of the training log with the sweep's job number (``job 3: epoch 1/10 ...``),
    so the interleaved lines of jobs a parallel launcher runs at once say whose they are."""

    def __init__(self, job_num: int) -> None:
        super().__init__()
        self.prefix = f"job {job_num}: "

    def filter(self, record: logging.LogRecord) -> bool:
        record.msg = self.prefix + str(record.msg)
        return True


def run_job(cfg: DictConfig) -> float | dict[str, float]:
    """Train with ``cfg`` in Hydra's output directory and return the best validation objective.

    With a list ``objective`` (``[val_loss, n_params]``) it returns a dict keyed by those names.
    In a single run, a setting or data file that cannot work ends it with one line on stderr and
    exit status 1 (``HYDRA_FULL_ERROR=1`` shows the traceback).
    """
    hc = HydraConfig.get()
    run_dir = Path(hc.runtime.output_dir)
    multirun = hc.mode == RunMode.MULTIRUN
    job_num = int(hc.job.num) if multirun else None
    # a retried trial runs in its first attempt's directory and keeps that run's name
    suffix = (f"{int(run_dir.name):03d}" if run_dir.name.isdigit() else f"{job_num:03d}") if multirun else run_dir.name
    record = {
        "run_name": f"{cfg.model.name}_{cfg.dataset.name}_{suffix}",
        "job_num": job_num,
        "model": str(cfg.model.name),
        "dataset": str(cfg.dataset.name),
        "params": job_params(cfg, list(hc.overrides.task)),
        "group": Path(hc.sweep.dir).name if multirun else None,
        "tags": [
            str(cfg.model.name),
            str(cfg.dataset.name),
            str(hc.runtime.choices.get("sweeper", "single")) if multirun else "single",
        ],
        "config": OmegaConf.to_container(cfg, resolve=True),
    }
    prefix = JobPrefix(job_num) if job_num is not None else None
    if prefix is not None:
        TRAIN_LOG.addFilter(prefix)
    try:
        result = run_training(cfg, run_dir, record)
    except SweepkitError as exc:  # a setting or data file that cannot work: one line, no traceback
        if multirun or os.environ.get("HYDRA_FULL_ERROR") == "1":
            raise  # a trial fails with it; the sweeper reports it
        print(f"[sweepkit] ERROR: {exc}", file=sys.stderr)
        raise SystemExit(1) from None
    finally:
        if prefix is not None:
            TRAIN_LOG.removeFilter(prefix)
    objective = cfg.get("objective")
    if OmegaConf.is_list(objective):
        extra = {"n_params": float(result.n_params) if result.n_params is not None else float("nan")}
        return {str(name): result.objective if i == 0 else extra[str(name)] for i, name in enumerate(objective)}
    return result.objective
