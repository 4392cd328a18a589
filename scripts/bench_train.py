#!/usr/bin/env python3
"""Training throughput on the real Wind file: training windows per second, per model and thread count.

    python scripts/bench_train.py [--models dmixer s5 linear] [--threads 1 2] [--batches 100]
                                  [--batch-size 64] [--data-dir ../shared/data] [--profile 15]

Reads ``<data-dir>/Wind/wind.csv.gz``, or the copy the package ships when that is absent. Uses
the same sampler, model configs (``conf/model/<name>.yaml``), optimiser and clipping as
``train.py`` (lookback 96, horizon 96) and times ``--batches`` training steps after two warm-up
steps (0 = a whole epoch). Prints the machine's core count and one line per (model, threads).
``--profile N`` also prints, per model at the first thread count, the N operators that cost the
most CPU time in 20 training steps (torch.profiler, self time).
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


def training_steps(model_name: str, splits, batch_size: int):
    """Yield after each training step of ``model_name``, built and trained as ``train.py`` does."""
    model_cfg = OmegaConf.load(REPO / "conf" / "model" / f"{model_name}.yaml")
    torch.manual_seed(0)
    model = build_model(model_cfg, splits.data.shape[1], 96, 96)
    optimizer = make_optimizer(model, 1e-3, 1e-2)
    sampler = WindowSampler(splits, torch.device("cpu"))
    loss_fn = torch.nn.MSELoss()
    model.train()
    for x, y in sampler.batches("train", batch_size, shuffle=True, generator=torch.Generator().manual_seed(0)):
        optimizer.zero_grad(set_to_none=True)
        loss = loss_fn(model(x), y)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(model.parameters(), 1.0)
        optimizer.step()
        yield len(x)


def windows_per_second(model_name: str, splits, batch_size: int, batches: int) -> float:
    done = windows = 0
    started = time.perf_counter()
    for size in training_steps(model_name, splits, batch_size):
        done += 1
        windows += size
        if done == 2:  # two warm-up steps, not timed
            started, windows = time.perf_counter(), 0
        if batches and done >= batches + 2:
            break
    return windows / (time.perf_counter() - started)


def print_profile(model_name: str, splits, batch_size: int, rows: int) -> None:
    """The operators that cost most CPU time (self time) over 20 steps after 2 warm-up steps."""
    from torch.profiler import ProfilerActivity, profile

    steps = training_steps(model_name, splits, batch_size)
    for _ in range(2):
        next(steps)
    with profile(activities=[ProfilerActivity.CPU]) as prof:
        for _ in range(20):
            next(steps)
    print(f"--- {model_name}: top {rows} operators by self CPU time, 20 steps")
    print(prof.key_averages().table(sort_by="self_cpu_time_total", row_limit=rows))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument(
        "--data-dir", type=Path, default=Path(os.environ.get("SWEEPKIT_DATA_DIR", REPO.parent / "shared" / "data"))
    )
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--batches", type=int, default=100, help="timed steps per measurement (0 = one epoch)")
    parser.add_argument("--models", nargs="+", default=["dmixer", "s5", "linear"])
    parser.add_argument("--threads", nargs="+", type=int, default=[1, 2])
    parser.add_argument(
        "--profile",
        type=int,
        default=0,
        metavar="N",
        help="also print each model's N costliest operators (torch.profiler)",
    )
    args = parser.parse_args()

    path = args.data_dir / "Wind" / "wind.csv.gz"
    values, _ = read_series_file(path if path.is_file() else packaged_file("wind.csv.gz"))
    splits = split_and_scale(values, 96, 96)
    print(
        f"cores {os.cpu_count()}  batch {args.batch_size}  windows/epoch {len(splits.starts['train'])}  "
        f"timed steps {args.batches or 'one epoch'}"
    )
    for name in args.models:
        for threads in args.threads:
            torch.set_num_threads(threads)
            rate = windows_per_second(name, splits, args.batch_size, args.batches)
            print(f"{name:<8} threads {threads}: {rate:,.0f} training windows/s")
    if args.profile:
        torch.set_num_threads(args.threads[0])
        for name in args.models:
            print_profile(name, splits, args.batch_size, args.profile)


if __name__ == "__main__":
    main()
