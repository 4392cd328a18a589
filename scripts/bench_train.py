#!/usr/bin/env python3
"""Training throughput of DMixer on the real Wind file: windows per second for one epoch.

    python scripts/bench_train.py [--data-dir ../shared/data] [--batch-size 64] [--epochs 1]

Reads ``<data-dir>/Wind/wind.csv.gz``, or the copy the package ships when that is absent.

Prints the machine's core count, torch's thread count and the figure. Uses the same sampler,
model and optimiser as ``train.py`` (default DMixer config, lookback 96, horizon 96).
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import torch
from omegaconf import OmegaConf

from sweepkit.forecast.data import packaged_file, read_series_file, split_and_scale
from sweepkit.forecast.models import build_model
from sweepkit.forecast.training import WindowSampler, make_optimizer

REPO = Path(__file__).resolve().parents[1]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--data-dir", type=Path,
                        default=Path(os.environ.get("SWEEPKIT_DATA_DIR", REPO.parent / "shared" / "data")))
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--epochs", type=int, default=1)
    parser.add_argument("--model", default="dmixer")
    args = parser.parse_args()

    path = args.data_dir / "Wind" / "wind.csv.gz"
    values, _ = read_series_file(path if path.is_file() else packaged_file("wind.csv.gz"))
    splits = split_and_scale(values, 96, 96)
    model_cfg = OmegaConf.load(REPO / "conf" / "model" / f"{args.model}.yaml")
    model = build_model(model_cfg, values.shape[1], 96, 96)
    optimizer = make_optimizer(model, 1e-3, 1e-2)
    sampler = WindowSampler(splits, torch.device("cpu"))
    n_windows = len(splits.starts["train"])
    loss_fn = torch.nn.MSELoss()
    model.train()
    started = time.perf_counter()
    for _ in range(args.epochs):
        for x, y in sampler.batches("train", args.batch_size, shuffle=True):
            optimizer.zero_grad(set_to_none=True)
            loss = loss_fn(model(x), y)
            loss.backward()
            torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
            optimizer.step()
    seconds = time.perf_counter() - started
    rate = n_windows * args.epochs / seconds
    print(f"cores {os.cpu_count()}  torch threads {torch.get_num_threads()}  model {args.model}  "
          f"batch {args.batch_size}  windows/epoch {n_windows}")
    print(f"{args.epochs} epoch(s) in {seconds:.1f} s: {rate:,.0f} training windows/s")


if __name__ == "__main__":
    main()
