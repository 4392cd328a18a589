"""Reversible instance normalisation (Kim et al., ICLR 2022), and a level-preserving variant."""

from __future__ import annotations

import torch
from torch import nn

REVIN_MODES = ("full", "level", "none")


class RevIN(nn.Module):
    """Normalise each series by its own lookback statistics and undo it on the forecast.

    With ``horizon`` given (the ``level`` variant) the forecast gets back a learned share of the
    window's mean per horizon step and channel, ``y * std + w[h, c] * mean``, with ``w``
    initialised at 1 (plain RevIN). Plain RevIN always carries the window's level forward in
    full, so a model cannot forecast a return towards the series' overall mean; on the
    standardised scale that mean is 0, and ``w < 1`` learns such a return.
    """

    def __init__(self, n_features: int, affine: bool = True, eps: float = 1e-5, horizon: int | None = None) -> None:
        super().__init__()
        self.eps = eps
        self.affine = affine
        if affine:
            self.weight = nn.Parameter(torch.ones(n_features))
            self.bias = nn.Parameter(torch.zeros(n_features))
        self.level_weight = nn.Parameter(torch.ones(horizon, n_features)) if horizon else None

    def normalize(self, x: torch.Tensor) -> tuple[torch.Tensor, tuple[torch.Tensor, torch.Tensor]]:
        mean = x.mean(dim=1, keepdim=True).detach()
        std = torch.sqrt(x.var(dim=1, keepdim=True, unbiased=False) + self.eps).detach()
        x = (x - mean) / std
        if self.affine:
            x = x * self.weight + self.bias
        return x, (mean, std)

    def denormalize(
        self, y: torch.Tensor, stats: tuple[torch.Tensor, torch.Tensor], level: bool = True
    ) -> torch.Tensor:
        """Map ``y`` back to the data's scale; ``level=False`` only rescales it (no shift, no mean)."""
        mean, std = stats
        if not level:
            return y / (self.weight + self.eps * self.eps) * std if self.affine else y * std
        if self.affine:
            y = (y - self.bias) / (self.weight + self.eps * self.eps)
        if self.level_weight is not None:
            return y * std + self.level_weight * mean
        return y * std + mean


def revin_mode(value) -> str:
    """Normalise a ``revin`` setting: true/"full" -> full, false/null/"none" -> none, "level"."""
    if value is True or (isinstance(value, str) and value.lower() in ("full", "true", "revin")):
        return "full"
    if value is None or value is False or (isinstance(value, str) and value.lower() in ("none", "false")):
        return "none"
    if isinstance(value, str) and value.lower() == "level":
        return "level"
    raise ValueError(f"unknown revin setting {value!r}; choose one of true (full), false (none), level")


def make_revin(value, n_features: int, horizon: int, affine: bool = True) -> RevIN | None:
    """The RevIN module a ``revin`` setting asks for (None for none)."""
    mode = revin_mode(value)
    if mode == "none":
        return None
    return RevIN(n_features, affine=affine, horizon=horizon if mode == "level" else None)
