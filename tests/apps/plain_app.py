"""A Hydra app with no sweepkit code: it writes Lightning-style checkpoints and returns its metric.

Each job writes ``checkpoints/epoch_NNN.ckpt`` for its best epoch (a torch file holding a
ModelCheckpoint-like callback state naming it ``best_model_path``) and, with ``save_last``,
``checkpoints/last.ckpt``, then returns the best loss ``(x - 0.3)^2``. ``no_checkpoint`` and
``return_text`` make a job leave no checkpoint or return a string (bad input for the hook);
``unfinished_record`` writes a run.json that still says ``running``. ``+pareto=true`` returns
two metrics as a tuple, ``(loss, size)`` with ``size = x``.
With ``epochs`` > 0 it is a custom training loop first: the loss of epoch e is
``(x - 0.3)^2 + 1 / e``, reported with ``sweepkit.report`` and stopped by ``sweepkit.should_prune``.
"""

from pathlib import Path

import hydra
import torch
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import sweepkit


@hydra.main(version_base=None, config_path="plain_conf", config_name="plain")
def main(cfg: DictConfig):
    out = Path(HydraConfig.get().runtime.output_dir)
    loss = (cfg.x - 0.3) ** 2
    for epoch in range(1, cfg.epochs + 1):
        sweepkit.report(loss + 1.0 / epoch, epoch)
        if sweepkit.should_prune():
            break
    loss += 1.0 / cfg.epochs if cfg.epochs else 0.0
    if not cfg.no_checkpoint:
        ckpt_dir = out / "checkpoints"
        ckpt_dir.mkdir(parents=True, exist_ok=True)
        best = ckpt_dir / "epoch_002.ckpt"
        state = {
            "state_dict": {"w": torch.tensor([cfg.x])},
            "callbacks": {
                "ModelCheckpoint{'monitor': 'val/loss', 'mode': 'min'}": {
                    "best_model_path": str(best),
                    "best_model_score": loss,
                }
            },
        }
        torch.save(state, best)
        if cfg.save_last:  # written after the best one: the newest file is not the best
            torch.save(state, ckpt_dir / "last.ckpt")
    if cfg.unfinished_record:  # a trainer that writes run.json but never calls finish()
        tracker = sweepkit.BestModelTracker(out, metric_name="objective")
        tracker.update(1, loss)
        tracker.log_epoch({"epoch": 1, "objective": loss})
    if cfg.return_text:
        return "done"
    if cfg.get("pareto"):
        return loss, float(cfg.x)
    return loss


if __name__ == "__main__":
    main()
