"""What the sweep benchmarks share: the real Wind file they train on."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def wind_file() -> Path:
    """The real Wind series (``$SWEEPKIT_DATA_DIR/Wind/wind.csv.gz``, default ``../shared/data``)."""
    data_dir = Path(os.environ.get("SWEEPKIT_DATA_DIR", REPO.parent / "shared" / "data"))
    path = data_dir / "Wind" / "wind.csv.gz"
    if not path.is_file():
        raise SystemExit(
            f"error: the real Wind file {path} is missing; set SWEEPKIT_DATA_DIR to a "
            "folder holding Wind/wind.csv.gz (scripts/download_data.py fetches it)"
        )
    return path.resolve()


def run_multirun(overrides: list[str], sweep_dir: Path, label: str) -> tuple[list[dict], float]:
    """Run ``train.py -m OVERRIDES`` into ``sweep_dir``; return every job's run.json and the wall time."""
    command = [sys.executable, str(REPO / "train.py"), "-m", *overrides, f"hydra.sweep.dir={sweep_dir}"]
    start = time.time()
    proc = subprocess.run(command, cwd=sweep_dir.parent, capture_output=True, text=True)
    wall = time.time() - start
    if proc.returncode != 0:
        raise SystemExit(f"{label} failed:\n{proc.stderr[-3000:]}")
    return [json.loads(p.read_text()) for p in sweep_dir.glob("*/run.json")], wall
