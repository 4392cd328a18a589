#!/usr/bin/env python3
"""The forecasting leaderboard of one dataset; the same as ``sweepkit leaderboard``.

    python scripts/leaderboard.py [PATH] --dataset Wind [--lookback 96] [--per-channel] [--seeds 3] [--json]

PATH (default outputs) is searched for finished sweeps of the dataset; each one's rank-1
checkpoint is scored on the test split beside the baselines of sweepkit/forecast/baselines.py
and the published anchors. ``--seeds N`` retrains the configuration that is best on val with
seeds 0..N-1 and reports the mean and standard deviation of its test scores.
"""

from __future__ import annotations

import sys

from sweepkit.cli import main

if __name__ == "__main__":
    sys.exit(main(["leaderboard", *sys.argv[1:]]))
