"""sweepkit in a Hydra app that has no sweepkit code: the shipped presets, the top-k manifest from
two config lines (a job's return value and its Lightning-style checkpoints/ folder), bad input."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conftest import run_cli

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
PLAIN = REPO / "tests" / "apps" / "plain_app.py"


def run_plain(tmp_path: Path, *args: str) -> subprocess.CompletedProcess:
    env = {**os.environ, "HYDRA_FULL_ERROR": "1"}
    return subprocess.run(
        [sys.executable, str(PLAIN), "-m", *args], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300
    )


def test_two_config_lines_rank_return_values_and_hand_over_lightning_checkpoints(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_plain(tmp_path, "x=0.0,0.1,0.25,0.3,0.45", "save_last=true", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((sweep / "sweep_results.json").read_text())
    assert doc["metric_name"] == "objective" and doc["mode"] == "min"
    assert doc["counts"] == {"complete": 5} and doc["n_runs"] == 5
    by_x = {r["params"]["x"]: r for r in doc["runs"]}
    assert [e["run_id"] for e in doc["top"]] == [by_x[x]["run_id"] for x in (0.3, 0.25, 0.45)]
    assert [round(e["metric_value"], 6) for e in doc["top"]] == [0.0, 0.0025, 0.0225]
    # the best file of several (ModelCheckpoint's best_model_path), never the newer last.ckpt
    for entry in doc["top"]:
        assert entry["source_checkpoint"].endswith(f"/{entry['run_id']}/checkpoints/epoch_002.ckpt")
        assert (sweep / entry["checkpoint"]).is_file()
    assert "using checkpoints/epoch_002.ckpt (ModelCheckpoint's best_model_path)" in (proc.stdout + proc.stderr)
    # each kept checkpoint keeps its own suffix (a Lightning file stays a .ckpt)
    assert sorted(p.name[:8] for p in (sweep / "best_models").glob("*_best_model.ckpt")) == [
        "rank_01_",
        "rank_02_",
        "rank_03_",
    ]
    assert not list((sweep / "best_models").glob("*.pth"))
    assert not list(sweep.glob("*/checkpoints/epoch_*.ckpt"))  # ranked moved, the rest deleted
    assert len(list(sweep.glob("*/checkpoints/last.ckpt"))) == 5  # not sweepkit's: left alone
    record = json.loads((sweep / "0" / "run.json").read_text())
    assert record["format"] == 1 and record["status"] == "complete"
    assert record["source"] == "return_value" and record["params"] == {"x": 0.0, "save_last": True}
    assert "failed" not in proc.stdout
    # verify does not call the sweep ok while unmanaged checkpoints lie in its job dirs
    verify = run_cli(tmp_path, "verify", str(sweep))
    assert verify.returncode == 1
    assert "5 checkpoint(s) in job directories that the manifest does not manage" in verify.stdout
    assert "0/checkpoints/last.ckpt" in verify.stdout
    # no outputs/, logs/ or multirun/ here: the app's own sweep folder is found
    summary = run_cli(tmp_path, "summarize")
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.startswith("Sweep sweep  (plain_app, ") and "objective" in summary.stdout


def test_no_checkpoint_and_a_text_return_are_said_loudly_and_recorded_unranked(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_plain(tmp_path, "x=0.1,0.2", "no_checkpoint=true", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (proc.stdout + proc.stderr).count("left no checkpoint matching 'checkpoints/*.ckpt'") == 2
    assert "hydra.callbacks.topk.checkpoint" in (proc.stdout + proc.stderr)
    doc = json.loads((sweep / "sweep_results.json").read_text())
    assert doc["counts"] == {"complete": 2} and doc["top"] == []
    assert all(r["metric_value"] is not None and r["source_checkpoint"] is None for r in doc["runs"])

    sweep = tmp_path / "text"
    proc = run_plain(tmp_path, "x=0.1,0.2", "return_text=true", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert (proc.stdout + proc.stderr).count("returned 'done' (str), not a finite number") == 2
    doc = json.loads((sweep / "sweep_results.json").read_text())
    assert doc["counts"] == {"complete": 2} and doc["top"] == []
    assert all(r["metric_value"] is None for r in doc["runs"])
    # a run that cannot rank hands nothing over: its checkpoint is not deleted
    assert len(list(sweep.glob("*/checkpoints/epoch_002.ckpt"))) == 2


def test_a_returned_job_whose_record_says_running_is_recorded_complete(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_plain(tmp_path, "x=0.1", "no_checkpoint=true", "unfinished_record=true", f"hydra.sweep.dir={sweep}")
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "returned but its run.json says status 'running'; recorded as complete" in (proc.stdout + proc.stderr)
    doc = json.loads((sweep / "sweep_results.json").read_text())
    assert doc["counts"] == {"complete": 1}


def test_summarize_reads_the_optuna_study_of_a_sweep_without_manifest(tmp_path):
    sweep = tmp_path / "multirun" / "study"
    proc = run_plain(
        tmp_path,
        "hydra/sweeper=sweepkit_random",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.seed=3",
        "x=interval(0, 1)",
        "hydra.callbacks.topk.enabled=false",
        f"hydra.sweep.dir={sweep}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert not (sweep / "sweep_results.json").exists()
    out = run_cli(tmp_path, "summarize")  # no path, no outputs/: multirun/ is found
    assert out.returncode == 0, out.stderr
    assert "no manifest, from the Optuna study" in out.stdout
    assert "runs 4 of 4: complete 4" in out.stdout
    info = json.loads(run_cli(tmp_path, "summarize", "--json").stdout)[0]
    values = [e["metric_value"] for e in info["top"]]
    assert len(values) == 3 and values == sorted(values)
    report = run_cli(tmp_path, "report", "-o", str(tmp_path / "report.html"))
    assert report.returncode == 0, report.stderr
    assert "runs: complete 4" in (tmp_path / "report.html").read_text()
    # no manifest to check against: verify names only the checkpoints nobody manages
    verify = run_cli(tmp_path, "verify")
    assert "never registered" not in verify.stdout
    assert "4 checkpoint(s) in job directories that the manifest does not manage" in verify.stdout


def test_presets_resolve_in_an_app_without_sweepkit_keys():
    from hydra import compose, initialize_config_dir
    from omegaconf import OmegaConf

    with initialize_config_dir(str(PLAIN.parent / "plain_conf"), version_base=None):
        for name in ("sweepkit_hyperband", "sweepkit_bayes", "sweepkit_random", "sweepkit_grid"):
            cfg = compose("plain", overrides=[f"hydra/sweeper={name}"], return_hydra_config=True)
            sweeper = OmegaConf.to_container(cfg.hydra.sweeper, resolve=True)  # no missing key
            if name == "sweepkit_grid":
                assert sweeper["_target_"].endswith("BasicSweeper")
                continue
            assert sweeper["direction"] == "minimize" and sweeper["max_failure_rate"] == 0.25
            assert sweeper["n_jobs"] == 1
            if name == "sweepkit_hyperband":
                assert sweeper["pruner"]["max_resource"] == "auto"
                assert sweeper["pruner"]["min_resource"] == "auto"
                assert sweeper["pruner"]["reduction_factor"] == 4
            topk = OmegaConf.to_container(cfg.hydra.callbacks, resolve=True)["topk"]
            assert topk == {
                "_target_": "sweepkit.hooks.TopKCallback",
                "top_k": 3,
                "metric_name": None,
                "mode": None,
                "checkpoint": "checkpoints/*.ckpt",
                "enabled": True,
            }


def test_import_sweepkit_and_report_outside_a_sweep_load_no_framework():
    code = (
        "import sys, sweepkit; sweepkit.report(0.5, 1); assert sweepkit.should_prune() is False;"
        "print(sorted(m for m in ('torch', 'optuna', 'lightning', 'wandb') if m in sys.modules))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


def test_find_checkpoint_prefers_the_newest_that_is_not_a_last_copy(tmp_path):
    from sweepkit.hooks import find_checkpoint

    ckpts = tmp_path / "checkpoints"
    ckpts.mkdir()
    assert find_checkpoint(tmp_path) == (None, "no match")
    for i, name in enumerate(["epoch_001.ckpt", "epoch_004.ckpt", "last.ckpt"]):
        (ckpts / name).write_bytes(b"not a torch file")
        os.utime(ckpts / name, (1000 + i, 1000 + i))
    assert find_checkpoint(tmp_path) == (ckpts / "epoch_004.ckpt", "the newest")
    assert find_checkpoint(tmp_path, "checkpoints/last*") == (ckpts / "last.ckpt", "the only match")


@pytest.mark.parametrize(
    "value, expected",
    [
        (0.5, 0.5),
        (3, 3.0),
        (True, None),
        ("0.5", None),
        (float("nan"), None),
        ({"objective": 2.0}, 2.0),
        ({"other": 1.0}, None),
        (None, None),
    ],
)
def test_return_values_that_count_as_a_metric(value, expected):
    from sweepkit.hooks import _as_number

    assert _as_number(value, "objective") == expected


def test_a_custom_loop_prunes_with_report_and_should_prune(tmp_path):
    """sweepkit.report/should_prune under the shipped Hyperband preset (max_resource learned)."""
    import optuna

    sweep = tmp_path / "loop"
    proc = run_plain(
        tmp_path,
        "hydra/sweeper=sweepkit_hyperband",
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.sampler.seed=0",
        "hydra.sweeper.study_name=loop",
        "x=interval(0, 1)",
        "epochs=18",
        f"hydra.sweep.dir={sweep}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    storage = optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(sweep / "optuna_journal.log"))
    )
    trials = optuna.load_study(study_name="loop", storage=storage).trials
    pruned = {t.number for t in trials if t.state == optuna.trial.TrialState.PRUNED}
    assert pruned and 0 not in pruned  # nothing is pruned before a trial completes
    assert all(t.last_step < 18 for t in trials if t.number in pruned)
    doc = json.loads((sweep / "sweep_results.json").read_text())
    # the manifest agrees with the study: a pruned job without run.json is recorded pruned
    assert {r["job_num"] for r in doc["runs"] if r["status"] == "pruned"} == pruned


def test_a_maximizing_sweep_ranks_highest_first_with_the_shipped_callback(tmp_path):
    """mode: null in sweepkit_topk follows hydra.sweeper.direction (lightning-hydra-template
    maximizes val/acc)."""
    sweep = tmp_path / "max"
    proc = run_plain(
        tmp_path,
        "hydra/sweeper=sweepkit_random",
        "hydra.sweeper.direction=maximize",
        "hydra.sweeper.n_trials=4",
        "hydra.sweeper.sampler.seed=1",
        "x=interval(0, 1)",
        f"hydra.sweep.dir={sweep}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = json.loads((sweep / "sweep_results.json").read_text())
    assert doc["mode"] == "max" and doc["counts"] == {"complete": 4}
    values = [e["metric_value"] for e in doc["top"]]
    assert values == sorted((r["metric_value"] for r in doc["runs"]), reverse=True)[:3]
