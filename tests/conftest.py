"""Shared fixtures: where the real data lies, and how to run train.py in a temp dir."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
DATA_DIR = Path(os.environ.get("SWEEPKIT_DATA_DIR", REPO.parent / "shared" / "data")).resolve()


@pytest.fixture(scope="session")
def data_dir(tmp_path_factory) -> Path:
    """A data folder with at least ``Wind/wind.csv.gz``: ``SWEEPKIT_DATA_DIR`` (default
    ``../shared/data``) when it has Wind, else a temp folder linking the Wind file the package
    ships. Solar and the other unshipped files may be absent: ask for them with ``need_file``."""
    if (DATA_DIR / "Wind" / "wind.csv.gz").is_file():
        return DATA_DIR
    from sweepkit.forecast.data import packaged_file

    folder = tmp_path_factory.mktemp("data")
    (folder / "Wind").mkdir()
    (folder / "Wind" / "wind.csv.gz").symlink_to(packaged_file("wind.csv.gz"))
    return folder


def need_file(path: Path) -> Path:
    """``path`` if it exists, else skip the test with a reason that names the file."""
    if not path.is_file():
        pytest.skip(
            f"needs the unshipped data file {path.parent.name}/{path.name}, not in {DATA_DIR} "
            "(set SWEEPKIT_DATA_DIR to a folder holding Solar/ and Wind/)"
        )
    return path


def run_train(
    args: list[str], cwd: Path, env: dict[str, str] | None = None, timeout: float = 600
) -> subprocess.CompletedProcess:
    """Run ``python train.py ARGS`` from ``cwd`` (outputs land there) and return the result."""
    full_env = {
        **os.environ,
        "SWEEPKIT_DATA_DIR": str(DATA_DIR),
        "WANDB_MODE": "disabled",
        "HYDRA_FULL_ERROR": "1",
        **(env or {}),
    }
    return subprocess.run(
        [sys.executable, str(REPO / "train.py"), *args],
        cwd=cwd,
        env=full_env,
        capture_output=True,
        text=True,
        timeout=timeout,
    )


def run_cli(cwd: Path, *args: str, timeout: float = 120) -> subprocess.CompletedProcess:
    """Run ``python -m sweepkit.cli ARGS`` from ``cwd``, without colour."""
    return subprocess.run(
        [sys.executable, "-m", "sweepkit.cli", *args],
        cwd=cwd,
        capture_output=True,
        text=True,
        timeout=timeout,
        env={**os.environ, "NO_COLOR": "1"},
    )


# Tiny overrides that make a real run take a second or two.
TINY_DATA = [
    "dataset.max_rows=2000",
    "dataset.lookback=24",
    "dataset.horizon=12",
    "trainer.max_epochs=1",
    "trainer.batch_size=256",
    "trainer.num_threads=1",
]
TINY_DMIXER = ["model=dmixer", "model.d_model=8", "model.d_ff=8", "model.n_blocks=1"]
TINY = TINY_DATA + TINY_DMIXER


# ------------------------------------------------------------------ sweeps the CLI and page tests read
TOPK = [
    "sweepkit.top_k=2",
    "++hydra.callbacks.topk._target_=sweepkit.hooks.TopKCallback",
    "++hydra.callbacks.topk.top_k=2",
]
GRID = ["sweeper=grid"] if (REPO / "conf" / "sweeper" / "grid.yaml").is_file() else []


@pytest.fixture(scope="session")
def base(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("cli")


@pytest.fixture(scope="session")
def grid_sweep(base) -> Path:
    """A real 4-run grid sweep (lr x d_model), top 2 kept."""
    sweep = base / "outputs" / "sweeps" / "dmixer" / "Solar" / "grid_0"
    result = run_train(
        [
            "-m",
            *TINY,
            *GRID,
            *TOPK,
            "trainer.max_epochs=2",
            "trainer.lr=1e-3,1e-2",
            "model.d_model=8,16",
            f"hydra.sweep.dir={sweep}",
        ],
        base,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep


@pytest.fixture(scope="session")
def optuna_sweep(base, grid_sweep) -> Path:
    """A real 6-trial TPE + Hyperband sweep: pruned trials and an Optuna journal."""
    sweep = base / "outputs" / "sweeps" / "dmixer" / "Solar" / "tpe_00"
    result = run_train(
        [
            "-m",
            *TINY,
            *TOPK,
            "sweeper=hyperband",
            "hydra.sweeper.n_trials=6",
            "hydra.sweeper.sampler.seed=0",
            "trainer.max_epochs=3",
            f"hydra.sweep.dir={sweep}",
        ],
        base,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return sweep


# ------------------------------------------------------------------ reading a report page
def report_payload(html: str) -> dict:
    """The data a report page embeds (``<script type="application/json" id="sweep-data">``)."""
    start = html.index('id="sweep-data">') + len('id="sweep-data">')
    return json.loads(html[start : html.index("</script>", start)])


def plot_data(html: str) -> dict[str, dict]:
    """Each plotly figure of a report page, by its div id: ``Plotly.newPlot("id", data, layout)``."""
    decoder = json.JSONDecoder()
    figures = {}
    for match in re.finditer(r'Plotly\.newPlot\(\s*"([^"]+)",\s*', html):
        data, end = decoder.raw_decode(html, match.end())
        end = len(html) - len(html[end:].lstrip(", \n"))
        layout, _ = decoder.raw_decode(html, end)
        figures[match.group(1)] = {"data": data, "layout": layout}
    return figures
