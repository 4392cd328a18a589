"""A tiny Hydra app for sweeper tests: a deterministic fake training loop that reports each epoch.

The loss of epoch e is (x - 0.3)^2 + (y - 0.7)^2 + 1 / e: trials differ from the first epoch
on, so a pruner can stop the bad ones early. Each job writes run.json (BestModelTracker) and
toy.json (pid, epochs trained, whether it was pruned).
"""

import json
import math
import os
import time
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

from sweepkit.forecast import resolvers
from sweepkit.pruning import current_trial
from sweepkit.tracker import BestModelTracker

resolvers.register()  # the project's conf/sweeper presets use them


def toy_loss(cfg: DictConfig, epoch: int) -> float:
    return (cfg.model.x - 0.3) ** 2 + (cfg.model.y - 0.7) ** 2 + 1.0 / epoch


@hydra.main(version_base=None, config_path="conf", config_name="toy")
def main(cfg: DictConfig):
    hydra_cfg = HydraConfig.get()
    job_num = hydra_cfg.job.num if hydra_cfg.mode.name == "MULTIRUN" else None
    run_dir = Path(hydra_cfg.runtime.output_dir)
    if job_num in cfg.fail_trials:
        raise RuntimeError(f"toy failure in trial {job_num}")
    if job_num in cfg.hang_trials:  # stands in for a job that never ends (the test kills the sweep)
        time.sleep(120)
    if cfg.model.dt_min >= cfg.model.dt_max:
        raise ValueError(f"dt_min {cfg.model.dt_min} >= dt_max {cfg.model.dt_max}")
    tracker = BestModelTracker(run_dir, extra={"job_num": job_num})
    reporter = current_trial()
    status, epochs = "complete", 0
    for epoch in range(1, cfg.trainer.max_epochs + 1):
        time.sleep(cfg.epoch_seconds)
        loss = toy_loss(cfg, epoch)
        epochs = epoch
        tracker.update(epoch, loss, save=lambda path, loss=loss: path.write_text(str(loss)))
        tracker.log_epoch({"epoch": epoch, "val_loss": loss})
        reporter.report(loss, epoch)
        if reporter.should_prune():
            status = "pruned"
            break
    tracker.finish(status)
    seen = None
    if reporter.active:
        import optuna

        seen = len(reporter.trial.study.get_trials(states=(optuna.trial.TrialState.COMPLETE,)))
    record = {"pid": os.getpid(), "epochs": epochs, "status": status, "trial": reporter.number, "complete_seen": seen}
    (run_dir / "toy.json").write_text(json.dumps(record))
    if job_num in cfg.nan_trials:
        return math.nan
    if cfg.return_text:
        return "not a number"
    if cfg.return_width:  # a second objective: the model's "size"
        return {"val_loss": tracker.best_value, "width": float(cfg.model.width)}
    return tracker.best_value


if __name__ == "__main__":
    main()
