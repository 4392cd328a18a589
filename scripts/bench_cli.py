"""Benchmark of the ``sweepkit`` command: start-up time and big-sweep speed.

    python scripts/bench_cli.py [--runs 10000] [--repeat 3]

Prints, each as the best of --repeat runs in a fresh process:
- ``python -c pass`` (the interpreter's own start-up) and ``sweepkit --help`` (goal < 0.3 s),
  and which heavy modules ``--help`` imported (torch, wandb, optuna, numpy, rich: none expected);
- ``sweepkit summarize`` and ``sweepkit export`` (CSV and JSON) on a synthetic sweep of --runs
  runs built through the manifest's API (``SweepManager.register_model``; goal < 2 s each).
"""

from __future__ import annotations

import argparse
import random
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HEAVY = ("torch", "wandb", "optuna", "numpy", "rich")


def timed(cmd: list[str], repeat: int, cwd: Path | None = None) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        subprocess.run(cmd, check=True, cwd=cwd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
        best = min(best, time.perf_counter() - start)
    return best


def build_sweep(sweep_dir: Path, n_runs: int) -> None:
    """A sweep of ``n_runs`` registered runs: 5 with checkpoints (top 3 kept), the rest without."""
    from sweepkit.manifest import SweepManager

    rng = random.Random(0)
    ckpt_dir = sweep_dir / "jobs"
    ckpt_dir.mkdir(parents=True)
    with SweepManager(sweep_dir, top_k=3, fsync=False) as manager:
        for i in range(n_runs):
            status = rng.choice(["complete", "complete", "pruned", "failed"])
            value = None if status == "failed" else rng.uniform(0.2, 1.0)
            path = None
            if i % (n_runs // 5 or 1) == 0 and value is not None:
                path = ckpt_dir / f"{i}.pth"
                path.write_bytes(b"x" * 1000)
            params = {
                "model.d_model": rng.choice([16, 32, 64, 128]),
                "model.dropout": rng.uniform(0, 0.3),
                "trainer.lr": 10 ** rng.uniform(-4, -2),
                "model.revin_affine": rng.random() < 0.5,
            }
            manager.register_model(
                str(i),
                f"dmixer_Solar_{i:05d}",
                value,
                path,
                epoch=rng.randint(1, 20),
                status=status,
                job_num=i,
                params=params,
                model="dmixer",
                dataset="Solar",
                started_at=1.0e9 + i,
                ended_at=1.0e9 + i + 30,
            )
        manager.finalize(reconcile=False)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    py = sys.executable
    base = timed([py, "-c", "pass"], args.repeat)
    help_s = timed([py, "-m", "sweepkit.cli", "--help"], args.repeat)
    probe = (
        "import sys; from sweepkit.cli import main; main(['--help']); "
        f"print(','.join(m for m in {HEAVY!r} if m in sys.modules), file=sys.stderr)"
    )
    loaded = subprocess.run([py, "-c", probe], capture_output=True, text=True).stderr.strip()
    print(f"python -c pass      {base:.3f} s")
    print(
        f"sweepkit --help     {help_s:.3f} s  (goal < 0.3 s; {help_s - base:+.3f} s over "
        f"python, ratio {help_s / base:.2f}); heavy modules imported: {loaded or 'none'}"
    )
    with tempfile.TemporaryDirectory() as tmp:
        sweep = Path(tmp) / "sweeps" / "dmixer" / "Solar" / "big"
        start = time.perf_counter()
        build_sweep(sweep, args.runs)
        elapsed = time.perf_counter() - start
        print(f"built a {args.runs}-run sweep through SweepManager in {elapsed:.1f} s")
        for name, cmd in [
            ("summarize", ["summarize", str(sweep)]),
            ("export .csv", ["export", str(sweep), "--output", str(Path(tmp) / "runs.csv")]),
            ("export .json", ["export", str(sweep), "--output", str(Path(tmp) / "runs.json")]),
        ]:
            seconds = timed([py, "-m", "sweepkit.cli", *cmd], args.repeat)
            print(
                f"sweepkit {name:<13}{seconds:.3f} s  (goal < 2 s, ratio to goal {seconds / 2:.2f}) on {args.runs} runs"
            )


if __name__ == "__main__":
    main()
