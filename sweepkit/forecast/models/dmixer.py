"""DMixer: a decomposition mixer forecaster.

RevIN, then a moving-average split of the lookback into trend and seasonal parts; each part is
mixed along time (an MLP over the lookback axis, shared by channels) and across channels (an
MLP over the feature axis), with residuals; linear heads map each part to the horizon and the
two forecasts are summed.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from sweepkit.forecast.models.revin import make_revin


class MovingAverage(nn.Module):
    """Trend by a centred moving average over time, edges padded by repetition."""

    def __init__(self, kernel_size: int) -> None:
        super().__init__()
        if kernel_size < 1:
            raise ValueError(f"kernel_size must be >= 1, got {kernel_size}")
        self.kernel_size = kernel_size

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, C)
        front = (self.kernel_size - 1) // 2
        back = self.kernel_size - 1 - front
        padded = torch.cat([x[:, :1].expand(-1, front, -1), x, x[:, -1:].expand(-1, back, -1)], dim=1)
        return F.avg_pool1d(padded.transpose(1, 2), self.kernel_size, stride=1).transpose(1, 2)


class MixerBlock(nn.Module):
    """Time mixing then feature mixing, each a residual two-layer MLP behind a LayerNorm."""

    def __init__(self, length: int, n_features: int, d_model: int, d_ff: int, dropout: float) -> None:
        super().__init__()
        self.time_norm = nn.LayerNorm(n_features)
        self.time_mlp = nn.Sequential(
            nn.Linear(length, d_model), nn.GELU(), nn.Dropout(dropout), nn.Linear(d_model, length), nn.Dropout(dropout)
        )
        self.feat_norm = nn.LayerNorm(n_features)
        self.feat_mlp = nn.Sequential(
            nn.Linear(n_features, d_ff),
            nn.GELU(),
            nn.Dropout(dropout),
            nn.Linear(d_ff, n_features),
            nn.Dropout(dropout),
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, C)
        x = x + self.time_mlp(self.time_norm(x).transpose(1, 2)).transpose(1, 2)
        return x + self.feat_mlp(self.feat_norm(x))


class DMixer(nn.Module):
    """Decomposition mixer. Hyperparameters mirror ``conf/model/dmixer.yaml``.

    Args:
        d_model: width of the time-mixing MLP. d_ff: width of the feature-mixing MLP.
        n_blocks: mixer blocks per branch. dropout: dropout rate. kernel_size: moving-average
        window of the decomposition (25 by default). revin: true (RevIN), false, or ``level``
        (RevIN that learns how much of each window's level to carry forward). revin_affine:
        learnable RevIN scale/shift.
    """

    def __init__(
        self,
        n_features: int,
        lookback: int,
        horizon: int,
        d_model: int = 64,
        d_ff: int = 64,
        n_blocks: int = 2,
        dropout: float = 0.1,
        kernel_size: int = 25,
        revin: bool | str = True,
        revin_affine: bool = True,
    ) -> None:
        super().__init__()
        for name, value in (("d_model", d_model), ("d_ff", d_ff), ("n_blocks", n_blocks)):
            if int(value) < 1:
                raise ValueError(f"DMixer {name} must be >= 1, got {value}")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"DMixer dropout must be in [0, 1), got {dropout}")
        self.revin = make_revin(revin, n_features, horizon, affine=bool(revin_affine))
        self.decompose = MovingAverage(int(kernel_size))
        args = (lookback, n_features, int(d_model), int(d_ff), float(dropout))
        self.seasonal = nn.Sequential(*[MixerBlock(*args) for _ in range(int(n_blocks))])
        self.trend = nn.Sequential(*[MixerBlock(*args) for _ in range(int(n_blocks))])
        self.seasonal_head = nn.Linear(lookback, horizon)
        self.trend_head = nn.Linear(lookback, horizon)

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, C) -> (B, H, C)
        stats = None
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        trend = self.decompose(x)
        seasonal = x - trend
        seasonal = self.seasonal_head(self.seasonal(seasonal).transpose(1, 2))
        trend = self.trend_head(self.trend(trend).transpose(1, 2))
        y = (seasonal + trend).transpose(1, 2)
        return self.revin.denormalize(y, stats) if self.revin is not None else y
