"""Benchmark the global top-k manifest: registration cost, flatness, promotion, peak disk.

    python scripts/bench_manifest.py            # everything (about two minutes on 2 cores)
    python scripts/bench_manifest.py --quick    # smaller counts, no real multirun
    python scripts/bench_manifest.py --only cost --repeat 3   # registration cost, 3 rounds

Prints what the disk costs first (one fsync of a small append, one atomic replace of a small
file), then medians and p99 of one `register_model` call (tiny checkpoints, so the figures are
the manager's own cost), the cost at 10 vs 10,000 runs already registered (one metric, and two
metrics with a Pareto front), promoting a 1 GB
checkpoint against a plain copy, and the most checkpoints on disk during a real multirun.
"""

from __future__ import annotations

import argparse
import multiprocessing as mp
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import threading
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

from sweepkit import SweepManager  # noqa: E402


def _register_timed(manager: SweepManager, run_id: str, value) -> float:
    job = manager.sweep_dir / "jobs" / run_id
    job.mkdir(parents=True, exist_ok=True)
    (job / "best_model.pth").write_bytes(b"x" * 64)
    start = time.perf_counter()
    manager.register_model(run_id, run_id, value, job / "best_model.pth", best_epoch=1)
    return time.perf_counter() - start


def _worker(sweep: str, proc: int, n: int, queue, fsync: bool) -> None:
    manager = SweepManager(sweep, top_k=3, fsync=fsync)
    import random

    rng = random.Random(proc)
    queue.put([_register_timed(manager, f"p{proc}-{i}", rng.random()) for i in range(n)])


def _stats(times: list[float]) -> str:
    times = sorted(times)
    p99 = times[min(len(times) - 1, int(0.99 * len(times)))]
    return f"median {statistics.median(times) * 1e3:6.2f} ms   p99 {p99 * 1e3:6.2f} ms"


def bench_disk(root: Path, n: int = 100) -> None:
    """What the file system itself costs: the floor under a registration."""
    print(f"== this disk (median of {n}) ==")
    log, fsyncs, replaces = root / "disk.log", [], []
    fd = os.open(log, os.O_WRONLY | os.O_CREAT | os.O_APPEND, 0o644)
    try:
        for _ in range(n):
            os.write(fd, b"x" * 600)
            start = time.perf_counter()
            os.fsync(fd)
            fsyncs.append(time.perf_counter() - start)
    finally:
        os.close(fd)
    target = root / "disk.json"
    for i in range(n):
        start = time.perf_counter()
        tmp = root / f".disk.{i}.tmp"
        tmp.write_bytes(b"x" * 3000)
        os.replace(tmp, target)
        replaces.append(time.perf_counter() - start)
    print(
        f"  fsync of a 600-byte append: median {statistics.median(fsyncs) * 1e3:.2f} ms;  "
        f"atomic replace of a 3 KB file (create, write, rename): "
        f"median {statistics.median(replaces) * 1e3:.2f} ms"
    )


def bench_concurrency(root: Path, per_proc: int, repeat: int = 1) -> None:
    print(f"== registration cost (tiny checkpoints, back-to-back calls; median of {repeat} round(s)) ==")
    ctx = mp.get_context("fork")
    for fsync in (True, False):
        for n_procs in (1, 4, 16):
            medians, p99s = [], []
            for round_ in range(repeat):
                sweep = root / f"conc{n_procs}-{fsync}-{round_}"
                queue = ctx.Queue()
                procs = [
                    ctx.Process(target=_worker, args=(str(sweep), p, per_proc, queue, fsync)) for p in range(n_procs)
                ]
                for p in procs:
                    p.start()
                times = sorted(t for _ in procs for t in queue.get())
                for p in procs:
                    p.join()
                shutil.rmtree(sweep, ignore_errors=True)
                medians.append(statistics.median(times))
                p99s.append(times[min(len(times) - 1, int(0.99 * len(times)))])
            rounds = " ".join(f"{m * 1e3:.1f}" for m in medians) if repeat > 1 else ""
            print(
                f"  fsync={fsync!s:5} {n_procs:2d} process(es) x {per_proc}: median "
                f"{statistics.median(medians) * 1e3:6.2f} ms   p99 "
                f"{statistics.median(p99s) * 1e3:7.2f} ms" + (f"   (rounds: {rounds})" if rounds else "")
            )


def bench_flat(root: Path, big: int, samples: int) -> None:
    print(f"== cost vs runs already registered (median of {samples} calls) ==")
    medians = {}
    for size in (10, big):
        sweep = root / f"flat{size}"
        filler = SweepManager(sweep, top_k=3, fsync=False)
        t0 = time.perf_counter()
        for i in range(size):
            filler.register_model(f"f{i}", f"f{i}", None, None, status="failed")
        fill = time.perf_counter() - t0
        manager = SweepManager(sweep, top_k=3)
        times = [_register_timed(manager, f"m{i}", 0.5 + i * 1e-6) for i in range(samples)]
        medians[size] = statistics.median(times)
        print(f"  {size:6d} runs: {_stats(times)}   (filled in {fill:.1f} s)")
    print(f"  ratio {big} / 10 runs: {medians[big] / medians[10]:.2f}x (goal < 2x)")


def bench_flat_pareto(root: Path, big: int, samples: int) -> None:
    """Two metrics: every filler run ranks (random values, so the front is as large as a real
    sweep's, about ln n runs) and every timed one may join the front."""
    import random

    print(f"== two metrics (Pareto front): cost vs runs already registered (median of {samples} calls) ==")
    medians = {}
    for size in (10, big):
        rng = random.Random(size)
        sweep = root / f"pareto{size}"
        filler = SweepManager(sweep, top_k=3, metric_name=["loss", "size"], fsync=False)
        t0 = time.perf_counter()
        for i in range(size):
            _register_timed(filler, f"f{i}", [rng.random(), rng.random()])
        fill = time.perf_counter() - t0
        manager = SweepManager(sweep)
        times = [_register_timed(manager, f"m{i}", [rng.random(), rng.random()]) for i in range(samples)]
        medians[size] = statistics.median(times)
        front = len(manager.state()["front"])
        print(f"  {size:6d} runs: {_stats(times)}   (front {front} runs; filled in {fill:.1f} s)")
        shutil.rmtree(sweep, ignore_errors=True)
    print(f"  ratio {big} / 10 runs: {medians[big] / medians[10]:.2f}x (goal < 2x)")


def bench_promotion(root: Path, size_gb: float) -> None:
    print(f"== promoting a {size_gb:g} GB checkpoint ==")
    nbytes = int(size_gb * 2**30)
    src = root / "big_src.pth"
    with open(src, "wb") as handle:  # real bytes, so the copy has something to copy
        block = os.urandom(2**20)
        for _ in range(nbytes // 2**20):
            handle.write(block)
    t0 = time.perf_counter()
    shutil.copy(src, root / "big_copy.pth")
    copy_s = time.perf_counter() - t0
    os.unlink(root / "big_copy.pth")
    manager = SweepManager(root / "promo", top_k=3)
    job = manager.sweep_dir / "0"
    job.mkdir(parents=True)
    os.replace(src, job / "best_model.pth")
    t0 = time.perf_counter()
    manager.register_model("0", "big", 0.1, job / "best_model.pth")
    promote_s = time.perf_counter() - t0
    print(
        f"  shutil.copy {copy_s * 1e3:8.1f} ms   register_model (rename) {promote_s * 1e3:6.2f} ms"
        f"   -> {copy_s / promote_s:.0f}x faster"
    )
    shutil.rmtree(manager.sweep_dir)


def bench_peak_disk(root: Path, n_runs: int, n_jobs: int) -> None:
    print(f"== peak checkpoints on disk: real multirun, {n_runs} jobs, joblib n_jobs={n_jobs} ==")
    sweep = root / "multirun"
    widths = ",".join(str(4 + 2 * i) for i in range(n_runs))
    cmd = [
        sys.executable,
        str(REPO / "train.py"),
        "-m",
        "sweeper=grid",
        "dataset=Wind",
        "model=dmixer",
        f"model.d_model={widths}",
        "model.d_ff=8",
        "model.n_blocks=1",
        "dataset.max_rows=2000",
        "dataset.lookback=24",
        "dataset.horizon=12",
        "trainer.max_epochs=2",
        "trainer.batch_size=256",
        "trainer.num_threads=1",
        "hydra/launcher=joblib",
        f"hydra.launcher.n_jobs={n_jobs}",
        "++hydra.callbacks.topk._target_=sweepkit.hooks.TopKCallback",
        f"hydra.sweep.dir={sweep}",
    ]
    peak, peak_tmp, stop = [0], [0], threading.Event()

    def poll() -> None:  # best_models/ first, so a file moved out of a job dir counts once
        while not stop.is_set():
            try:
                names = [
                    p.name
                    for d in [sweep / "best_models", *sorted(sweep.glob("[0-9]*"))]
                    if d.is_dir()
                    for p in d.iterdir()
                ]
            except OSError:
                continue
            peak[0] = max(peak[0], sum(n.endswith(".pth") for n in names))
            peak_tmp[0] = max(peak_tmp[0], sum(".pth" in n for n in names))
            time.sleep(0.01)

    thread = threading.Thread(target=poll, daemon=True)
    thread.start()
    env = {**os.environ, "WANDB_MODE": "disabled"}
    result = subprocess.run(cmd, cwd=root, env=env, capture_output=True, text=True)
    stop.set()
    thread.join()
    if result.returncode != 0:
        print("  multirun failed:\n" + result.stderr[-2000:])
        return
    final = sum(1 for _ in sweep.rglob("*.pth"))
    print(
        f"  most checkpoints at any moment: {peak[0]} (bound k + jobs = {3 + n_jobs}; "
        f"{peak_tmp[0]} counting the trainer's half-written .tmp saves); at the end: {final}; "
        f"keeping everything: {n_runs}"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="smaller counts, no multirun")
    parser.add_argument("--dir", default=None, help="scratch directory (default: a temp dir)")
    parser.add_argument(
        "--only",
        choices=["cost", "flat", "pareto", "promotion", "disk"],
        default=None,
        help="run one part (cost: disk floor + registration cost)",
    )
    parser.add_argument(
        "--repeat", type=int, default=1, help="rounds of the registration-cost part; the median is printed"
    )
    args = parser.parse_args()
    root = Path(tempfile.mkdtemp(prefix="sweepkit-bench-", dir=args.dir))
    try:
        if args.only in (None, "cost"):
            bench_disk(root)
            bench_concurrency(root, 30 if args.quick else 100, args.repeat)
        if args.only in (None, "flat"):
            bench_flat(root, 1000 if args.quick else 10_000, 50 if args.quick else 200)
        if args.only in (None, "pareto"):
            bench_flat_pareto(root, 1000 if args.quick else 10_000, 50 if args.quick else 200)
        if args.only in (None, "promotion"):
            bench_promotion(root, 0.1 if args.quick else 1.0)
        if args.only in (None, "disk") and not args.quick:
            bench_peak_disk(root, n_runs=8, n_jobs=2)
    finally:
        shutil.rmtree(root, ignore_errors=True)


if __name__ == "__main__":
    main()
