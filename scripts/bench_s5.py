"""Benchmark one S5 layer (forward + backward) against the PyPI package s5-pytorch.

    python scripts/bench_s5.py                    # batch 32, H=128, P=256, J=8, L = 96, 336, 720
    python scripts/bench_s5.py --lengths 96 --reps 3 --no-reference

Each measurement runs in its own process on 2 threads so that its peak memory (resident set growth
during forward + backward) is its own. s5-pytorch is installed into a temporary folder for this
run only (``pip install --no-deps --target``); it is not a dependency of this project.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import subprocess
import sys
import tempfile
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
REFERENCE = ["s5-pytorch==0.2.1", "scipy"]  # s5-pytorch imports scipy; numpy comes with torch


def build(impl: str, scan: str, args: argparse.Namespace):
    """One layer of the benchmarked shape."""
    import torch

    torch.manual_seed(0)
    if impl == "s5-pytorch":
        sys.path.insert(0, args.reference_dir)
        from s5 import S5

        return S5(args.width, state_width=args.state, block_count=args.blocks)
    sys.path.insert(0, str(REPO))
    from sweepkit.forecast.models.s5 import S5SSM

    return S5SSM(args.width, args.state, args.blocks, scan_method=scan, conj_sym=impl == "sweepkit")


def worker(args: argparse.Namespace) -> None:
    """Print a JSON line: the times of every configuration at one length (measured in turns, so that
    a busy machine slows them alike), or the peak memory of one configuration."""
    import resource
    import time

    import torch

    torch.set_num_threads(args.threads)
    configs = json.loads(args.configs)
    layers = {name: build(impl, scan, args) for name, impl, scan in configs}
    u = torch.randn(args.batch, args.length, args.width, requires_grad=True)
    grad = torch.randn(args.batch, args.length, args.width)

    def run(layer) -> float:
        start = time.perf_counter()
        layer(u).backward(grad)
        return time.perf_counter() - start

    if args.worker == "memory":
        before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
        run(next(iter(layers.values())))
        print(json.dumps({"peak_mb": (resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before) / 1024}))
        return
    times: dict[str, list[float]] = {name: [] for name in layers}
    for layer in layers.values():
        run(layer)  # warm-up
    for rep in range(args.reps):
        for name, layer in layers.items():
            if name.endswith("/sequential") and rep >= max(1, args.reps // 3):
                continue  # the reference loop is slow; fewer turns
            times[name].append(run(layer))
    print(
        json.dumps({name: {"ms": 1e3 * min(t), "median_ms": 1e3 * statistics.median(t)} for name, t in times.items()})
    )


def call_worker(mode: str, configs: list, length: int, args: argparse.Namespace, reference_dir: str) -> dict | None:
    command = [
        sys.executable,
        __file__,
        "--worker",
        mode,
        "--configs",
        json.dumps(configs),
        "--length",
        str(length),
        "--reps",
        str(args.reps),
        "--batch",
        str(args.batch),
        "--width",
        str(args.width),
        "--state",
        str(args.state),
        "--blocks",
        str(args.blocks),
        "--threads",
        str(args.threads),
        "--reference-dir",
        reference_dir,
    ]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(f"  {mode} {configs} L={length} failed:\n{done.stderr[-2000:]}")
        return None
    return json.loads(done.stdout.strip().splitlines()[-1])


def install_reference(target: str) -> bool:
    command = [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--target", target, *REFERENCE]
    done = subprocess.run(command, capture_output=True, text=True)
    if done.returncode != 0:
        print(
            f"s5-pytorch could NOT be installed ({' '.join(REFERENCE)}); timing this project only.\n"
            f"{done.stderr.strip()[-500:]}"
        )
        return False
    return True


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--lengths", type=int, nargs="+", default=[96, 336, 720])
    parser.add_argument("--scans", nargs="+", default=["chunked", "parallel", "sequential"])
    parser.add_argument("--reps", type=int, default=5)
    parser.add_argument("--batch", type=int, default=32)
    parser.add_argument("--width", type=int, default=128, help="H")
    parser.add_argument("--state", type=int, default=256, help="P")
    parser.add_argument("--blocks", type=int, default=8, help="J")
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--no-reference", action="store_true", help="skip s5-pytorch")
    parser.add_argument("--worker", choices=["time", "memory"], help=argparse.SUPPRESS)
    parser.add_argument("--configs", default="[]", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, default=96, help=argparse.SUPPRESS)
    parser.add_argument("--reference-dir", default="", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.worker:
        worker(args)
        return

    print(
        f"S5 layer forward+backward: batch {args.batch}, H={args.width}, P={args.state}, J={args.blocks}, "
        f"{args.threads} threads; best of {args.reps} turns (sequential: {max(1, args.reps // 3)}), "
        "configurations measured in turns; peak memory = growth of the resident set in one pass"
    )
    with tempfile.TemporaryDirectory(prefix="s5-pytorch-") as reference_dir:
        have_reference = not args.no_reference and install_reference(reference_dir)
        configs = [[f"sweepkit/{scan}", "sweepkit", scan] for scan in args.scans]
        configs.append([f"sweepkit-noconj/{args.scans[0]}", "sweepkit-noconj", args.scans[0]])
        if have_reference:
            configs.insert(0, ["s5-pytorch/assoc. scan", "s5-pytorch", "-"])
        rows = []
        for length in args.lengths:
            times = call_worker("time", configs, length, args, reference_dir) or {}
            reference = times.get("s5-pytorch/assoc. scan")
            for config in configs:
                if config[0] not in times:
                    continue
                memory = call_worker("memory", [config], length, args, reference_dir) or {"peak_mb": float("nan")}
                speedup = reference["ms"] / times[config[0]]["ms"] if reference else None
                rows.append((*config[0].split("/"), length, times[config[0]], memory["peak_mb"], speedup))
    print(
        f"\n{'implementation':<16} {'scan':<12} {'L':>5} {'best ms':>9} {'median ms':>10} {'peak MB':>8} "
        f"{'x faster than s5-pytorch':>25}"
    )
    for impl, scan, length, result, peak, speedup in rows:
        ratio = f"{speedup:.2f}" if speedup is not None else "n/a"
        print(
            f"{impl:<16} {scan:<12} {length:>5} {result['ms']:>9.1f} {result['median_ms']:>10.1f} {peak:>8.0f} "
            f"{ratio:>25}"
        )
    print(
        f"\nsweepkit: conj_sym (P/2 = {args.state // 2} complex states, the reference S5); sweepkit-noconj: all "
        f"P = {args.state} states, as s5-pytorch. Ratios use the best time."
    )


if __name__ == "__main__":
    os.environ.setdefault("OMP_NUM_THREADS", "2")
    main()
