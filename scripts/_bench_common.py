"""What the sweep benchmarks share: the real Wind file they train on."""

from __future__ import annotations

import os
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def wind_file() -> Path:
    """The real Wind series (``$SWEEPKIT_DATA_DIR/Wind/wind.csv.gz``, default ``../shared/data``)."""
    data_dir = Path(os.environ.get("SWEEPKIT_DATA_DIR", REPO.parent / "shared" / "data"))
    path = data_dir / "Wind" / "wind.csv.gz"
    if not path.is_file():
        raise SystemExit(f"error: the real Wind file {path} is missing; set SWEEPKIT_DATA_DIR to a "
                         "folder holding Wind/wind.csv.gz (scripts/download_data.py fetches it)")
    return path.resolve()
