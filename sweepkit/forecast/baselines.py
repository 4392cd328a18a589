"""Reference forecasts computed on the training loop's own split, for the leaderboard.

Every baseline maps a window's lookback to its horizon, channel by channel, on the same
standardised scale and the same (train, val, test) windows as :func:`split_and_scale` gives the
trained models, and is scored like :func:`sweepkit.forecast.training.evaluate`: the mean of the
squared (absolute) error over every window, horizon step and channel.

* ``naive_mean``: repeat the lookback's mean.
* ``repeat_last``: repeat the last lookback value.
* ``seasonal_naive``: repeat the last ``period`` values of the lookback (one day by default).
* ``ridge``: closed-form ridge regression from the lookback (plus an intercept) to the horizon,
  one weight matrix shared by all channels, fitted on the training windows; ``alpha`` is chosen
  on the val windows, never on test.

Only numpy is needed: this module does not import torch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Iterator, Sequence

import numpy as np

from sweepkit.forecast.data import Splits

SPLITS = ("train", "val", "test")
RIDGE_ALPHAS = (0.0, 1e-2, 1e-1, 1.0, 10.0, 100.0, 1e3, 1e4, 1e5)  # relative to the mean diagonal of X'X


@dataclass
class Score:
    """MSE and MAE of a forecast on one split, overall and per channel (standardised scale)."""

    mse: float
    mae: float
    mse_per_channel: list[float] = field(default_factory=list)
    mae_per_channel: list[float] = field(default_factory=list)


class _Accumulator:
    """Sums of squared and absolute errors per channel, in float64."""

    def __init__(self, channels: int) -> None:
        self.sq = np.zeros(channels)
        self.ab = np.zeros(channels)
        self.count = 0  # windows x horizon steps (per channel)

    def add(self, pred: np.ndarray, target: np.ndarray) -> None:  # (n, H, C) each
        err = pred.astype(np.float64) - target
        self.sq += np.einsum("nhc,nhc->c", err, err)
        self.ab += np.abs(err).sum(axis=(0, 1))
        self.count += err.shape[0] * err.shape[1]

    def score(self) -> Score:
        mse, mae = self.sq / self.count, self.ab / self.count
        return Score(float(mse.mean()), float(mae.mean()), mse.tolist(), mae.tolist())


def iter_windows(splits: Splits, split: str, chunk: int = 4096) -> Iterator[tuple[np.ndarray, np.ndarray]]:
    """The split's (lookback, horizon) windows in chunks: (n, L, C), (n, H, C) float32."""
    view = np.lib.stride_tricks.sliding_window_view(splits.data, splits.lookback + splits.horizon, axis=0)
    starts = splits.starts[split]
    for i in range(0, len(starts), chunk):
        block = view[starts[i : i + chunk]]  # (n, C, L + H)
        block = np.ascontiguousarray(block.transpose(0, 2, 1))
        yield block[:, : splits.lookback], block[:, splits.lookback :]


def score_forecaster(splits: Splits, split: str, forecast) -> Score:
    """Score ``forecast(x) -> y`` ((n, L, C) -> (n, H, C)) on every window of ``split``."""
    acc = _Accumulator(splits.data.shape[1])
    for x, y in iter_windows(splits, split):
        acc.add(forecast(x), y)
    return acc.score()


def naive_mean(horizon: int):
    return lambda x: np.repeat(x.mean(axis=1, keepdims=True), horizon, axis=1)


def repeat_last(horizon: int):
    return lambda x: np.repeat(x[:, -1:], horizon, axis=1)


def seasonal_naive(horizon: int, period: int):
    """Repeat the last ``period`` lookback steps over the horizon (needs period <= lookback)."""

    def forecast(x: np.ndarray) -> np.ndarray:
        if period > x.shape[1]:
            raise ValueError(f"seasonal period {period} is longer than the lookback {x.shape[1]}")
        last = x[:, -period:]
        reps = -(-horizon // period)
        return np.tile(last, (1, reps, 1))[:, :horizon]

    return forecast


@dataclass
class Ridge:
    """A fitted channel-shared ridge map: y = [x, 1] @ weights, weights (L + 1, H)."""

    weights: np.ndarray
    alpha: float
    val: Score

    def __call__(self, x: np.ndarray) -> np.ndarray:  # (n, L, C) -> (n, H, C)
        n, lookback, channels = x.shape
        rows = x.transpose(0, 2, 1).reshape(n * channels, lookback).astype(np.float64)
        y = rows @ self.weights[:-1] + self.weights[-1]
        return y.reshape(n, channels, -1).transpose(0, 2, 1)


def fit_ridge(splits: Splits, alphas: Sequence[float] = RIDGE_ALPHAS) -> Ridge:
    """Fit the shared ridge map on the train windows (every channel's window is one sample) and
    keep the ``alpha`` (a multiple of X'X's mean diagonal; the intercept is not penalised) with
    the lowest val MSE."""
    lookback = splits.lookback
    xtx = np.zeros((lookback + 1, lookback + 1))
    xty = np.zeros((lookback + 1, splits.horizon))
    for x, y in iter_windows(splits, "train"):
        n, _, channels = x.shape
        rows = np.empty((n * channels, lookback + 1))
        rows[:, :-1] = x.transpose(0, 2, 1).reshape(n * channels, lookback)
        rows[:, -1] = 1.0
        xtx += rows.T @ rows
        xty += rows.T @ y.transpose(0, 2, 1).reshape(n * channels, -1)
    scale = np.trace(xtx[:-1, :-1]) / lookback
    best: Ridge | None = None
    for alpha in alphas:
        penalty = np.full(lookback + 1, alpha * scale)
        penalty[-1] = 0.0
        weights = np.linalg.solve(xtx + np.diag(penalty) + 1e-10 * scale * np.eye(lookback + 1), xty)
        candidate = Ridge(weights, float(alpha), Score(0.0, 0.0))
        candidate.val = score_forecaster(splits, "val", candidate)
        if best is None or candidate.val.mse < best.val.mse:
            best = candidate
    assert best is not None
    return best


def baseline_scores(
    splits: Splits, period: int | None = None, split_names: Sequence[str] = ("val", "test")
) -> dict[str, dict]:
    """Every baseline scored on ``split_names``: {name: {"val": Score, "test": Score, ...}}.

    ``period`` is the seasonal naive's season in steps (the dataset's ``steps_per_day``); it is
    skipped when missing or longer than the lookback. The ridge entry also holds the chosen alpha.
    """
    horizon = splits.horizon
    forecasters = {"naive_mean": naive_mean(horizon), "repeat_last": repeat_last(horizon)}
    if period and period <= splits.lookback:
        forecasters["seasonal_naive"] = seasonal_naive(horizon, int(period))
    ridge = fit_ridge(splits)
    forecasters["ridge"] = ridge
    out: dict[str, dict] = {}
    for name, forecast in forecasters.items():
        out[name] = {split: score_forecaster(splits, split, forecast) for split in split_names}
    out["ridge"]["alpha"] = ridge.alpha
    return out
