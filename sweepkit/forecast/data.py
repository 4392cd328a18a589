"""Multivariate series: readers, the synthetic fallback, the 7:1:2 split and windowing.

A series is a float32 array of shape (rows, channels). Two file layouts are read:

* a CSV with a header whose first column is a date (``date``, ``time``, ...), followed by
  numeric columns: the files in ``shared/data/{Solar,Wind}``;
* the LSTNet ``solar_AL.txt`` layout: comma separated, no header, no date column.

Either may be gzipped (``.gz``). A dataset is looked for in this order: ``dataset.path``; the
first of ``dataset.files`` in ``<data_dir>/<name>/``; the file the package ships for it
(``dataset.packaged``: the Wind file, Apache-2.0, see ``datasets/NOTICE.md``); else a synthetic
series of the same character, announced loudly. Every run records which source it used.
"""

from __future__ import annotations

import gzip
import hashlib
import io
import logging
import os
import warnings
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from sweepkit.errors import DataError

log = logging.getLogger(__name__)

DATE_COLUMNS = {"date", "time", "datetime", "timestamp", "ds"}
SYNTHETIC_KINDS = ("solar", "wind")
PACKAGED_DIR = Path(__file__).resolve().parent / "datasets"


def packaged_file(name: str) -> Path:
    """The path of a data file shipped inside the package (``sweepkit/forecast/datasets/``)."""
    path = PACKAGED_DIR / name
    if not path.is_file():
        raise DataError(
            f"no packaged data file {name!r} (the package ships {sorted(p.name for p in PACKAGED_DIR.glob('*.gz'))})"
        )
    return path


@dataclass
class Series:
    """A loaded multivariate series and where it came from."""

    values: np.ndarray  # (rows, channels) float32
    columns: list[str]
    name: str
    source: str  # "file" or "synthetic"
    path: str | None = None
    sha256: str | None = None

    def provenance(self) -> dict[str, Any]:
        return {
            "name": self.name,
            "source": self.source,
            "path": self.path,
            "sha256": self.sha256,
            "rows": int(self.values.shape[0]),
            "channels": int(self.values.shape[1]),
        }


def sha256_of(path: Path) -> str:
    digest = hashlib.sha256()
    with open(path, "rb") as handle:
        for block in iter(lambda: handle.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def _open_text(path: Path) -> io.TextIOBase:
    if path.suffix == ".gz":
        return gzip.open(path, "rt", encoding="utf-8", newline="")
    return open(path, "rt", encoding="utf-8", newline="")


def _is_number(token: str) -> bool:
    try:
        float(token)
    except ValueError:
        return False
    return True


def read_series_file(
    path: str | os.PathLike, columns: Sequence[str] | None = None, max_rows: int | None = None
) -> tuple[np.ndarray, list[str]]:
    """Read a CSV (header + date column) or a headerless numeric file (solar_AL layout).

    Returns ``(values, column_names)``. ``columns`` selects numeric columns by name (CSV with a
    header only); ``max_rows`` keeps the first rows. Raises :class:`DataError` on a missing,
    empty, malformed or NaN-holding file.
    """
    path = Path(path)
    if not path.is_file():
        raise DataError(
            f"data file not found: {path} (set dataset.path to an existing file, "
            "or leave it null to use the default data directory or the synthetic series)"
        )
    try:
        with _open_text(path) as handle:
            first = handle.readline()
            if not first.strip():
                raise DataError(f"data file {path} is empty")
            tokens = [t.strip() for t in first.strip().split(",")]
            has_header = not all(_is_number(t) for t in tokens)
            if has_header:
                names = tokens
            else:
                names = [f"col{i}" for i in range(len(tokens))]
                handle.seek(0)
            drop_first = has_header and names[0].lower() in DATE_COLUMNS
            usecols = list(range(1 if drop_first else 0, len(names)))
            if columns:
                missing = [c for c in columns if c not in names]
                if missing:
                    raise DataError(f"columns {missing} not in {path} (it has {names[1 if drop_first else 0 :]})")
                usecols = [names.index(c) for c in columns]
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", UserWarning)  # "no data": reported below
                values = np.loadtxt(
                    handle, delimiter=",", usecols=usecols, dtype=np.float64, max_rows=max_rows, ndmin=2
                )
    except DataError:
        raise
    except (ValueError, OSError, EOFError, UnicodeDecodeError) as exc:
        raise DataError(f"cannot parse data file {path}: {exc}") from exc
    if values.size == 0:
        raise DataError(f"data file {path} has no data rows")
    bad = ~np.isfinite(values)
    if bad.any():
        row, col = np.argwhere(bad)[0]
        raise DataError(
            f"data file {path} has {int(bad.sum())} NaN/inf values "
            f"(first at data row {row + 1}, column {names[usecols[col]]!r}); clean or impute it first"
        )
    return values.astype(np.float32), [names[i] for i in usecols]


def synthetic_series(
    kind: str, rows: int = 8760, channels: int = 4, steps_per_day: int = 24, seed: int = 0
) -> tuple[np.ndarray, list[str]]:
    """A labelled synthetic stand-in: diurnal solar output with clouds, or gusty wind power."""
    if kind not in SYNTHETIC_KINDS:
        raise DataError(f"unknown synthetic kind {kind!r}; choose one of {SYNTHETIC_KINDS}")
    rng = np.random.default_rng(seed)
    t = np.arange(rows)
    if kind == "solar":
        hour = (t % steps_per_day) / steps_per_day
        day = t / steps_per_day
        season = 0.75 + 0.25 * np.cos(2 * np.pi * (day - 172) / 365.25)
        sun = np.clip(np.sin(np.pi * (hour - 0.25) / 0.5), 0, None) ** 1.5  # zero at night
        out = np.empty((rows, channels))
        for c in range(channels):
            cloud = np.empty(rows)
            cloud[0] = 0.0
            shocks = rng.normal(0, 0.25, rows)
            for i in range(1, rows):
                cloud[i] = 0.97 * cloud[i - 1] + shocks[i]
            clear = 1.0 / (1.0 + np.exp(-cloud))  # 0..1 cloud cover
            out[:, c] = sun * season * (1 - 0.7 * clear) * (0.9 + 0.2 * rng.random())
        return out.astype(np.float32), [f"solar_synthetic_{c}" for c in range(channels)]
    speed = np.empty((rows, channels))
    speed[0] = 6.0
    for i in range(1, rows):
        speed[i] = 0.95 * speed[i - 1] + 0.05 * 7.0 + rng.normal(0, 0.6, channels)
    gust = rng.gamma(1.5, 0.5, (rows, channels)) * (rng.random((rows, channels)) < 0.05)
    speed = np.clip(speed + gust, 0, None)
    power = np.clip(((speed - 3.0) / 9.0), 0, 1) ** 3 * (speed < 25)  # power curve, cut-out
    return power.astype(np.float32), [f"wind_synthetic_{c}" for c in range(channels)]


def resolve_path(cfg: Any) -> Path | None:
    """The file a dataset config points at: ``path`` if set, else the first of ``files`` found in
    ``<data_dir>/<name>/``, else the ``packaged`` file; None means the synthetic fallback."""
    if cfg.get("path"):
        return Path(os.path.expanduser(str(cfg.path)))
    data_dir = cfg.get("data_dir")
    for candidate in cfg.get("files") or []:
        if data_dir:
            path = Path(os.path.expanduser(str(data_dir))) / str(cfg.name) / str(candidate)
            if path.is_file():
                return path
    if cfg.get("packaged"):
        return packaged_file(str(cfg.packaged))
    return None


def load_series(cfg: Any) -> Series:
    """Load the series a ``dataset`` config names (see ``conf/dataset/*.yaml``)."""
    path = resolve_path(cfg)
    if path is not None:
        values, names = read_series_file(path, cfg.get("columns"), cfg.get("max_rows"))
        return Series(values, names, str(cfg.name), "file", str(path.resolve()), sha256_of(path))
    kind = str(cfg.get("synthetic_kind") or str(cfg.name).lower())
    rows = int(cfg.get("max_rows") or cfg.get("synthetic_rows") or 8760)
    values, names = synthetic_series(
        kind,
        rows=rows,
        channels=int(cfg.get("synthetic_channels") or 4),
        steps_per_day=int(cfg.get("steps_per_day") or 24),
        seed=int(cfg.get("seed") or 0),
    )
    log.warning("=" * 72)
    log.warning(
        "NO DATA FILE FOR %s: TRAINING ON A SYNTHETIC %s SERIES (%d x %d).", cfg.name, kind.upper(), *values.shape
    )
    log.warning(
        "Put the file in %s/%s/ or set dataset.path=...; see scripts/download_data.py.", cfg.get("data_dir"), cfg.name
    )
    log.warning("=" * 72)
    return Series(values, names, str(cfg.name), "synthetic", None, None)


@dataclass
class Splits:
    """Standardised series plus the window start indices of each split."""

    data: np.ndarray  # (rows, channels) float32, standardised with train statistics
    mean: np.ndarray
    std: np.ndarray
    starts: dict[str, np.ndarray]  # split -> window start rows
    lookback: int
    horizon: int


def split_and_scale(
    values: np.ndarray, lookback: int, horizon: int, ratios: Sequence[float] = (0.7, 0.1, 0.2)
) -> Splits:
    """Chronological train/val/test split with scaling fitted on the training rows only.

    Windows of the val and test splits take their lookback from the rows before the split
    (the usual long-horizon forecasting convention), so every target row belongs to one split.
    """
    if lookback < 1 or horizon < 1:
        raise DataError(f"lookback and horizon must be >= 1, got {lookback} and {horizon}")
    if len(ratios) != 3 or abs(sum(ratios) - 1.0) > 1e-6 or min(ratios) <= 0:
        raise DataError(f"split ratios must be three positive numbers summing to 1, got {list(ratios)}")
    rows = values.shape[0]
    n_train = int(rows * ratios[0])
    n_test = int(rows * ratios[2])
    n_val = rows - n_train - n_test
    bounds = {"train": (0, n_train), "val": (n_train, n_train + n_val), "test": (n_train + n_val, rows)}
    starts: dict[str, np.ndarray] = {}
    for split, (lo, hi) in bounds.items():
        first = lo if split == "train" else lo - lookback
        last = hi - lookback - horizon  # inclusive start of the last window
        if split == "train" and n_train < lookback + horizon:
            raise DataError(
                f"the training split has {n_train} rows, fewer than lookback + horizon = "
                f"{lookback + horizon}; use more data or a shorter lookback/horizon"
            )
        if last < first:
            raise DataError(
                f"the {split} split has {hi - lo} rows, too few for horizon {horizon}; "
                "use more data or a shorter horizon"
            )
        starts[split] = np.arange(first, last + 1)
    train = values[:n_train].astype(np.float64)
    mean = train.mean(axis=0)
    std = train.std(axis=0)
    std[std < 1e-8] = 1.0  # a constant channel stays constant instead of dividing by zero
    data = ((values - mean) / std).astype(np.float32)
    return Splits(data, mean.astype(np.float32), std.astype(np.float32), starts, lookback, horizon)


def windows(data: np.ndarray, starts: np.ndarray, lookback: int, horizon: int) -> tuple[np.ndarray, np.ndarray]:
    """Stack (lookback, horizon) windows for the given start rows: (n, L, C), (n, H, C)."""
    past = starts[:, None] + np.arange(lookback)
    future = starts[:, None] + lookback + np.arange(horizon)
    return data[past], data[future]
