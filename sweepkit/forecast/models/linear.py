"""Linear forecasters in the NLinear / DLinear family (Zeng et al., AAAI 2023), trained by the loop.

One linear map from the lookback to the horizon per channel, shared by all channels (default) or
one per channel (``individual``). Before the map the window may be normalised (``norm``):

* ``none``: the globally standardised window as it is (a trained form of the ridge baseline);
* ``last``: subtract the window's last value and add it back (NLinear);
* ``mean``: subtract the window's mean and add it back;
* ``revin``: RevIN (each window's mean and std), see :mod:`sweepkit.forecast.models.revin`.

With ``decomposition`` the window is split by a moving average into trend and remainder, each
with its own map, summed (DLinear).
"""

from __future__ import annotations

import torch
from torch import nn

from sweepkit.forecast.models.dmixer import MovingAverage
from sweepkit.forecast.models.revin import make_revin

NORMS = ("none", "last", "mean", "revin", "level")


class ChannelLinear(nn.Module):
    """(B, L, C) -> (B, H, C): one (H, L) map shared by channels, or one per channel."""

    def __init__(self, n_features: int, lookback: int, horizon: int, individual: bool) -> None:
        super().__init__()
        channels = n_features if individual else 1
        bound = 1.0 / lookback**0.5  # nn.Linear's default init
        self.weight = nn.Parameter(torch.empty(channels, horizon, lookback).uniform_(-bound, bound))
        self.bias = nn.Parameter(torch.empty(channels, horizon).uniform_(-bound, bound))

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        if self.weight.shape[0] == 1:
            return torch.einsum("blc,hl->bhc", x, self.weight[0]) + self.bias[0][:, None]
        return torch.einsum("blc,chl->bhc", x, self.weight) + self.bias.T


class LinearForecaster(nn.Module):
    """Hyperparameters mirror ``conf/model/linear.yaml``.

    Args:
        individual: one map per channel instead of one shared map.
        norm: window normalisation, one of ``none, last, mean, revin, level`` (``level``: RevIN
            that adds back a learned share of each window's level, see ``make_revin``).
        decomposition: DLinear's trend + remainder split; kernel_size: its moving-average window.
        dropout: dropout on the (normalised) lookback.
    """

    def __init__(
        self,
        n_features: int,
        lookback: int,
        horizon: int,
        individual: bool = False,
        norm: str = "last",
        decomposition: bool = False,
        kernel_size: int = 25,
        dropout: float = 0.0,
    ) -> None:
        super().__init__()
        if norm not in NORMS:
            raise ValueError(f"unknown norm {norm!r}; choose one of {', '.join(NORMS)} (model.norm=...)")
        if not 0.0 <= dropout < 1.0:
            raise ValueError(f"linear dropout must be in [0, 1), got {dropout}")
        self.norm = norm
        self.revin = make_revin(norm if norm in ("revin", "level") else False, n_features, horizon)
        self.dropout = nn.Dropout(float(dropout))
        self.decompose = MovingAverage(int(kernel_size)) if decomposition else None
        self.head = ChannelLinear(n_features, lookback, horizon, bool(individual))
        self.trend_head = ChannelLinear(n_features, lookback, horizon, bool(individual)) if decomposition else None

    def forward(self, x: torch.Tensor) -> torch.Tensor:  # (B, L, C) -> (B, H, C)
        level = stats = None
        if self.revin is not None:
            x, stats = self.revin.normalize(x)
        elif self.norm == "last":
            level = x[:, -1:].detach()
        elif self.norm == "mean":
            level = x.mean(dim=1, keepdim=True).detach()
        if level is not None:
            x = x - level
        x = self.dropout(x)
        if self.decompose is not None:
            trend = self.decompose(x)
            y = self.head(x - trend) + self.trend_head(trend)
        else:
            y = self.head(x)
        if level is not None:
            y = y + level
        return self.revin.denormalize(y, stats) if self.revin is not None else y
