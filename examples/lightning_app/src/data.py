"""A DataModule over data it generates: two interleaved spirals (a small classification task)."""

from __future__ import annotations

import math

import lightning as L
import torch
from torch.utils.data import DataLoader, TensorDataset


def spirals(n: int, noise: float, seed: int) -> tuple[torch.Tensor, torch.Tensor]:
    """``n`` points of two spirals in the plane and their class (0 or 1)."""
    g = torch.Generator().manual_seed(seed)
    label = torch.randint(0, 2, (n,), generator=g)
    t = torch.rand(n, generator=g) * 3 * math.pi + 0.5
    angle = t + label * math.pi
    x = torch.stack([t * torch.cos(angle), t * torch.sin(angle)], dim=1) / (3 * math.pi)
    return x + noise * torch.randn(n, 2, generator=g), label


class SpiralDataModule(L.LightningDataModule):
    def __init__(
        self,
        n_train: int = 512,
        n_val: int = 256,
        n_test: int = 256,
        noise: float = 0.02,
        batch_size: int = 64,
        seed: int = 0,
    ) -> None:
        super().__init__()
        self.save_hyperparameters()

    def setup(self, stage: str | None = None) -> None:
        h = self.hparams
        x, y = spirals(h.n_train + h.n_val + h.n_test, h.noise, h.seed)
        a, b = h.n_train, h.n_train + h.n_val
        self.train = TensorDataset(x[:a], y[:a])
        self.val = TensorDataset(x[a:b], y[a:b])
        self.test = TensorDataset(x[b:], y[b:])

    def train_dataloader(self) -> DataLoader:
        return DataLoader(
            self.train,
            batch_size=self.hparams.batch_size,
            shuffle=True,
            generator=torch.Generator().manual_seed(self.hparams.seed),
        )

    def val_dataloader(self) -> DataLoader:
        return DataLoader(self.val, batch_size=len(self.val))

    def test_dataloader(self) -> DataLoader:
        return DataLoader(self.test, batch_size=len(self.test))
