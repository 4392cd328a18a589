"""Real `python train.py -m` sweeps with the top-k callback, basic and joblib launchers."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
import yaml

from conftest import TINY, run_train

CALLBACK = "++hydra.callbacks.topk._target_=sweepkit.hooks.TopKCallback"
BASE = [a for a in TINY if not a.startswith("model.d_model")] + ["dataset=Wind", "sweeper=grid", CALLBACK]


def _check_sweep(sweep: Path, n_runs: int, ranked: int) -> dict:
    doc = json.loads((sweep / "sweep_results.json").read_text())
    assert doc["runs_complete"] and len(doc["runs"]) == n_runs == doc["n_runs"]
    best = sweep / "best_models"
    ckpts = sorted(p.name for p in best.glob("*_best_model.pth"))
    configs = sorted(p.name for p in best.glob("*_config.yaml"))
    assert [n[:8] for n in ckpts] == [f"rank_{r:02d}_" for r in range(1, ranked + 1)]
    assert [n[:8] for n in configs] == [n[:8] for n in ckpts]
    assert sorted(sweep.rglob("*.pth")) == sorted(best.glob("*.pth"))  # none left in job dirs
    values = [e["metric_value"] for e in doc["top"]]
    assert values == sorted(values)
    finished = [r["metric_value"] for r in doc["runs"] if r["status"] == "complete"]
    assert values == sorted(finished)[:ranked]
    for run in doc["runs"]:
        assert run["params"] and run["data"]["source"] in ("file", "synthetic")
        assert run["started_at"] and run["ended_at"] and run["labels"]["model"] == "dmixer"
    summary = yaml.safe_load((sweep / "sweep_summary.yaml").read_text())
    assert summary["runs"] == n_runs and summary["best"]["run_id"] == doc["top"][0]["run_id"]
    assert "reclaimed_mb" in summary["disk"]
    assert (sweep / "sweep_manager.log").read_text().count(" register ") == n_runs
    return doc


@pytest.mark.parametrize("launcher", ["basic", "joblib"])
def test_multirun_keeps_top3_of_4(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    extra = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"] if launcher == "joblib" else []
    result = run_train(["-m", *BASE, "model.d_model=4,8,12,16", f"hydra.sweep.dir={sweep}", *extra], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    doc = _check_sweep(sweep, n_runs=4, ranked=3)
    assert doc["counts"] == {"complete": 4}
    assert result.stdout.count("Sweep update") == 4 and "Sweep finished" in result.stdout


def test_failed_job_is_recorded_and_sweep_still_finalised(tmp_path):
    sweep = tmp_path / "sweep"
    result = run_train(
        ["-m", *BASE, "model.d_model=4,8", "dataset.path=null,/no/such/file.csv", f"hydra.sweep.dir={sweep}"],
        cwd=tmp_path,
    )
    assert result.returncode != 0  # Hydra reports the failed job
    doc = json.loads((sweep / "sweep_results.json").read_text())
    failed = [r for r in doc["runs"] if r["status"] == "failed"]
    assert len(failed) == 2 and all(r["error"] and r["rank"] is None for r in failed)
    assert len(doc["top"]) == 2 and (sweep / "sweep_summary.yaml").exists()


def test_a_single_run_is_not_a_sweep(tmp_path):
    """No -m: the checkpoint stays the run's best_model.pth, no manifest, no sweep messages, and
    the sweepkit command lists no sweep."""
    run_dir = tmp_path / "run"
    result = run_train([*BASE, "model.d_model=4", f"hydra.run.dir={run_dir}"], cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert (run_dir / "best_model.pth").is_file()
    made = {"best_models", "sweep_results.json", "runs.jsonl", "sweep_summary.yaml", ".sweepkit"}
    assert not made & set(os.listdir(run_dir))
    assert "Sweep" not in result.stdout + result.stderr
    listed = subprocess.run(
        [sys.executable, "-m", "sweepkit.cli", "list", str(tmp_path)], capture_output=True, text=True
    )
    assert listed.returncode == 1 and "no sweep found" in listed.stderr
