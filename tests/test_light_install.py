"""``pip install sweepkit`` with no extras is a library: no torch, W&B or Lightning, and a Hydra
app without them runs a TPE + Hyperband sweep with the global top-k manifest
(``examples/plain_python_app``, through its config alone)."""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import venv
from pathlib import Path

import pytest

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROOT = Path(__file__).resolve().parent.parent
HEAVY = ("torch", "wandb", "lightning", "pytorch-lightning")


def _source_copy(dest: Path) -> Path:
    """The files git knows of plus those not yet committed (never .venv, outputs or builds)."""
    skip = shutil.ignore_patterns(".venv", ".git", "outputs", "build", "*.egg-info", "__pycache__", ".mypy_cache")
    return Path(shutil.copytree(ROOT, dest, ignore=skip))


@pytest.fixture(scope="module")
def light_env(tmp_path_factory):
    """A fresh virtual environment with ``pip install <this repository>`` and nothing else."""
    base = tmp_path_factory.mktemp("light")
    source = _source_copy(base / "src")
    env_dir = base / "venv"
    venv.create(env_dir, with_pip=True)
    python = env_dir / "bin" / "python"
    result = subprocess.run(
        [python, "-m", "pip", "install", "-q", "--disable-pip-version-check", str(source)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    return python, source


def _installed(python: Path) -> dict[str, str]:
    out = subprocess.run(
        [python, "-m", "pip", "list", "--format", "json", "--disable-pip-version-check"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout
    return {p["name"].lower(): p["version"] for p in json.loads(out)}


def test_the_core_install_has_no_torch_wandb_or_lightning(light_env):
    python, _ = light_env
    installed = _installed(python)
    assert "sweepkit" in installed and "optuna" in installed and "hydra-core" in installed
    assert not [name for name in HEAVY if name in installed], installed


def test_a_plain_python_app_sweeps_with_hyperband_and_keeps_the_top_k(light_env, tmp_path):
    python, source = light_env
    sweep = tmp_path / "sweep"
    env = {k: v for k, v in os.environ.items() if not k.startswith(("SWEEPKIT_", "PYTHONPATH"))}
    result = subprocess.run(
        [python, "train.py", "-m", f"hydra.sweep.dir={sweep}", "hydra.sweeper.n_trials=10"],
        cwd=source / "examples" / "plain_python_app",
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "Sweep finished: 10 runs" in result.stdout + result.stderr
    manifest = json.loads((sweep / "sweep_results.json").read_text())
    top = manifest["top"]
    assert [e["rank"] for e in top] == [1, 2, 3]
    values = [e["metric_value"] for e in top]
    assert values == sorted(values)
    # the kept checkpoints are the jobs' own JSON files, moved (each holds its job's best loss)
    for entry in top:
        assert entry["checkpoint"].endswith("_best_model.json")  # the file keeps its own suffix
        kept = json.loads((sweep / entry["checkpoint"]).read_text())
        assert kept["val_loss"] == pytest.approx(entry["metric_value"])
    jobs = [d for d in sweep.iterdir() if d.is_dir() and d.name.isdigit()]
    assert len(jobs) == 10 and not [j for j in jobs if (j / "checkpoints" / "best.json").exists()]
    statuses = [json.loads(line)["status"] for line in (sweep / "runs.jsonl").read_text().splitlines()]
    assert "pruned" in statuses  # Hyperband stopped some trials early
    # nothing heavy was imported by the sweep or the CLI
    summary = subprocess.run(
        [python.parent / "sweepkit", "summarize", str(sweep), "--json"], capture_output=True, text=True, env=env
    )
    assert summary.returncode == 0, summary.stderr
    assert json.loads(summary.stdout)[0]["best"]["run_name"] == top[0]["run_name"]


def test_a_workload_command_without_its_extra_says_which_extra_to_install(light_env):
    python, _ = light_env
    result = subprocess.run(
        [python.parent / "sweepkit", "leaderboard", "--dataset", "Wind"], capture_output=True, text=True
    )
    assert result.returncode == 1
    assert result.stderr.strip() == (
        "sweepkit leaderboard: error: the forecasting workload needs torch: pip install 'sweepkit[forecast]'"
    )
    assert (
        "leaderboard"
        not in subprocess.run([python.parent / "sweepkit", "--help"], capture_output=True, text=True).stdout
    )
