"""A Hydra app with no torch, numpy or Lightning: a ridge regression fitted by gradient descent
in plain Python, swept by sweepkit (TPE + Hyperband, global top-k checkpoints).

    python train.py -m                          # 12 trials; the best 3 checkpoints are kept
    python train.py -m hydra.sweeper.n_trials=30

Each epoch reports the validation loss to the sweep (``sweepkit.report``) and stops early when
the pruner says so (``sweepkit.should_prune``); the best epoch's weights are saved as
``checkpoints/best.json`` in the job's folder, the file the top-k manifest keeps or deletes.
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import hydra
from hydra.core.hydra_config import HydraConfig
from omegaconf import DictConfig

import sweepkit


def make_data(n: int, n_features: int, seed: int) -> list[tuple[list[float], float]]:
    """``y = w . x + noise`` with fixed true weights (the same data in every job)."""
    rng = random.Random(seed)
    true_w = [rng.uniform(-2, 2) for _ in range(n_features)]
    rows = []
    for _ in range(n):
        x = [rng.gauss(0, 1) for _ in range(n_features)]
        rows.append((x, sum(w * xi for w, xi in zip(true_w, x)) + rng.gauss(0, 0.5)))
    return rows


def mse(w: list[float], rows: list[tuple[list[float], float]]) -> float:
    return sum((sum(wi * xi for wi, xi in zip(w, x)) - y) ** 2 for x, y in rows) / len(rows)


@hydra.main(version_base=None, config_path="conf", config_name="config")
def main(cfg: DictConfig) -> float:
    rows = make_data(cfg.data.n, cfg.data.n_features, cfg.data.seed)
    train, val = rows[: int(0.8 * len(rows))], rows[int(0.8 * len(rows)) :]
    rng = random.Random(cfg.seed)
    w = [0.0] * cfg.data.n_features
    best = float("inf")
    out = Path(HydraConfig.get().runtime.output_dir) / "checkpoints"
    for epoch in range(1, cfg.epochs + 1):
        rng.shuffle(train)
        for start in range(0, len(train), cfg.batch_size):
            batch = train[start : start + cfg.batch_size]
            grad = [cfg.l2 * wi for wi in w]
            for x, y in batch:
                err = sum(wi * xi for wi, xi in zip(w, x)) - y
                grad = [g + 2 * err * xi / len(batch) for g, xi in zip(grad, x)]
            w = [wi - cfg.lr * g for wi, g in zip(w, grad)]
        loss = mse(w, val)
        if loss < best:
            best = loss
            out.mkdir(parents=True, exist_ok=True)
            (out / "best.json").write_text(json.dumps({"epoch": epoch, "weights": w, "val_loss": loss}))
        sweepkit.report(loss, epoch)
        if sweepkit.should_prune():
            break
    return best


if __name__ == "__main__":
    main()
