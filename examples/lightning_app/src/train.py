"""Train one model (``python src/train.py``) or sweep (``python src/train.py hparams_search=spirals``).

The layout follows lightning-hydra-template: everything is instantiated from configs/, and the
task returns the best value of the ModelCheckpoint's metric for the sweeper.
"""

from __future__ import annotations

import sys
from pathlib import Path

import hydra
import lightning as L
import torch
from omegaconf import DictConfig

from sweepkit.integrations.lightning import best_model_score

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))  # `src.` imports from any cwd


@hydra.main(version_base="1.3", config_path="../configs", config_name="train.yaml")
def main(cfg: DictConfig) -> float | None:
    torch.set_num_threads(int(cfg.get("num_threads", 1)))
    L.seed_everything(cfg.seed, workers=True)
    datamodule = hydra.utils.instantiate(cfg.data)
    model = hydra.utils.instantiate(cfg.model)
    callbacks = [
        hydra.utils.instantiate(c) for c in (cfg.get("callbacks") or {}).values() if c is not None and "_target_" in c
    ]
    trainer = hydra.utils.instantiate(cfg.trainer, callbacks=callbacks)
    trainer.fit(model=model, datamodule=datamodule)
    # the best epoch's value (as the template's val/acc_best), the same number the manifest ranks;
    # read from the best checkpoint under ddp_spawn, where this process gets back only its path
    best = best_model_score(trainer)
    checkpoint = trainer.checkpoint_callback
    if best is None and checkpoint is not None:  # nothing saved (fast_dev_run): the last value, as the template
        last = trainer.callback_metrics.get(str(getattr(checkpoint, "monitor", "")))
        best = None if last is None else last.item()
    if cfg.get("test"):  # the best checkpoint, or the current weights when none was saved
        best_path = getattr(checkpoint, "best_model_path", "") or None
        trainer.test(model=model, datamodule=datamodule, ckpt_path=best_path)
    return None if best is None else float(best)


if __name__ == "__main__":
    main()
