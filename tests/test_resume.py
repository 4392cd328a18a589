"""Preemption-safe runs: a job killed mid-training resumes from its last epoch (``last.pt``)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna
import pytest

from conftest import TINY, run_train

pytestmark = pytest.mark.integration

EPOCHS = ["trainer.max_epochs=4", "trainer.patience=null", "model.dropout=0.1"]
KILL_AFTER_2 = {"SWEEPKIT_FAULT_POINT": "after_epoch_2"}  # SIGKILL once epoch 2 is saved


def history(run_dir: Path) -> list[tuple]:
    record = json.loads((run_dir / "run.json").read_text())
    return [(h["epoch"], h["train_loss"], h["val_loss"], h["lr"]) for h in record["history"]]


def resume_epoch(run_dir: Path) -> int:
    """The epoch a run's ``last.pt`` was saved after (0 without one)."""
    import torch

    path = run_dir / "last.pt"
    return int(torch.load(path, map_location="cpu", weights_only=True)["epoch"]) if path.is_file() else 0


def test_a_killed_run_resumes_and_reproduces_the_uninterrupted_losses(tmp_path):
    args = [*TINY, *EPOCHS, "dataset=Wind"]
    assert run_train([*args, "hydra.run.dir=full"], tmp_path).returncode == 0
    killed = run_train([*args, "hydra.run.dir=cut"], tmp_path, env=KILL_AFTER_2)
    assert killed.returncode == -9 and (tmp_path / "cut" / "last.pt").is_file()
    assert [h[0] for h in history(tmp_path / "cut")] == [1, 2]
    again = run_train([*args, "hydra.run.dir=cut"], tmp_path)
    assert again.returncode == 0, (again.stdout + again.stderr)[-2000:]
    assert "resuming from epoch 3/4: epochs 1-2 restored" in (again.stdout + again.stderr)
    assert "epoch   1/4" not in (again.stdout + again.stderr)  # epochs 1-2 were not trained again
    assert history(tmp_path / "cut") == history(tmp_path / "full")  # RNG, optimizer, schedule
    record = json.loads((tmp_path / "cut" / "run.json").read_text())
    assert record["status"] == "complete" and [r["after_epoch"] for r in record["resumed"]] == [2]
    assert not (tmp_path / "cut" / "last.pt").exists()  # not a top-k file: gone at the end


def test_a_corrupt_resume_checkpoint_or_other_settings_start_over(tmp_path):
    args = [*TINY, *EPOCHS, "dataset=Wind"]
    run_train([*args, "hydra.run.dir=run"], tmp_path, env=KILL_AFTER_2)
    (tmp_path / "run" / "last.pt").write_bytes(b"torn")
    out = run_train([*args, "hydra.run.dir=run"], tmp_path)
    said = out.stdout + out.stderr
    assert out.returncode == 0 and "is unreadable" in said and "starting from epoch 1" in said
    assert [h[0] for h in history(tmp_path / "run")] == [1, 2, 3, 4]
    run_train([*args, "hydra.run.dir=other"], tmp_path, env=KILL_AFTER_2)
    out = run_train([*args, "trainer.lr=0.01", "hydra.run.dir=other"], tmp_path)
    assert "written with other settings" in out.stdout + out.stderr
    assert [h[0] for h in history(tmp_path / "other")] == [1, 2, 3, 4]
    run_train([*args, "hydra.run.dir=off"], tmp_path, env=KILL_AFTER_2)
    out = run_train([*args, "trainer.resume=false", "hydra.run.dir=off"], tmp_path)
    assert "resuming" not in out.stdout + out.stderr
    assert [h[0] for h in history(tmp_path / "off")] == [1, 2, 3, 4]


def test_a_sweep_killed_mid_trial_resumes_it_with_retry_failed(tmp_path):
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        *TINY,
        *EPOCHS,
        "dataset=Wind",
        "sweeper=random",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=5",
        f"hydra.sweep.dir={sweep}",
        "hydra.sweeper.sampler.seed=3",
    ]
    killed = run_train([*args, "hydra.sweeper.n_trials=1"], tmp_path, env=KILL_AFTER_2)
    assert killed.returncode == -9  # the basic launcher: the sweep dies with its job
    resumed = run_train([*args, "hydra.sweeper.n_trials=2", "hydra.sweeper.resume.retry_failed=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from epoch 3/4: epochs 1-2 restored" in resumed.stdout + resumed.stderr

    study = optuna.load_study(
        study_name=None,
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(sweep / "optuna_journal.log"))
        ),
    )
    first, retry, fresh = study.trials
    assert first.state == optuna.trial.TrialState.FAIL
    assert retry.user_attrs["sweepkit_retry_of"] == 0 and retry.user_attrs["sweepkit_job_subdir"] == "0"
    assert retry.state == fresh.state == optuna.trial.TrialState.COMPLETE
    assert sorted(retry.intermediate_values) == [1, 2, 3, 4]  # epochs 1-2 replayed once, 3-4 reported
    assert sorted(first.intermediate_values) == [1]  # killed after saving epoch 2, before its report
    record = json.loads((sweep / "0" / "run.json").read_text())
    assert retry.intermediate_values == {h["epoch"]: h["val_loss"] for h in record["history"]}
    assert not (sweep / "1").exists() and not (sweep / "0" / "last.pt").exists()

    results = json.loads((sweep / "sweep_results.json").read_text())
    runs = {r["run_id"]: r for r in results["runs"]}
    assert sorted(runs) == ["0", "2"]  # the killed attempt and its retry are one run
    assert runs["0"]["status"] == "complete" and runs["0"]["run_name"] == "dmixer_Wind_000"
    assert runs["0"]["epochs_run"] == 4


@pytest.mark.parametrize(
    "launcher",
    [
        ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"],
        ["hydra/launcher=submitit_local", "hydra.launcher.timeout_min=5"],
    ],
    ids=["joblib", "submitit_local"],
)
def test_jobs_killed_under_a_parallel_launcher_resume_with_retry_failed(tmp_path, launcher):
    """The sweeper outlives its killed jobs: their trials fail as lost, and a resume with
    retry_failed runs each again in its own job dir, from its last epoch."""
    sweep = tmp_path / "sweep"
    args = [
        "-m",
        *TINY,
        *EPOCHS,
        "dataset=Wind",
        "sweeper=random",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=2",
        f"hydra.sweep.dir={sweep}",
        "hydra.sweeper.sampler.seed=3",
        "hydra.sweeper.max_failure_rate=1.0",
        *launcher,
    ]
    killed = run_train(args, tmp_path, env=KILL_AFTER_2)  # every job dies once epoch 2 is saved
    said = killed.stdout + killed.stderr
    assert "job was lost" in said and "retry_failed=true" in said, said[-3000:]
    study = load(sweep)
    assert [t.state for t in study.trials] == [optuna.trial.TrialState.FAIL] * 2
    assert all("sweepkit_job_lost" in t.user_attrs for t in study.trials)
    # the job that hit the fault point saved epoch 2; a worker killed with it (loky stops a
    # broken pool's other workers) saved what it had reached: the epoch in its last.pt (its
    # run.json may be an epoch ahead, when the kill came between the two writes)
    saved = {n: resume_epoch(sweep / str(n)) for n in (0, 1)}
    assert 2 in saved.values(), saved

    again = run_train(args, tmp_path)  # a resume without retry_failed leaves them failed
    assert again.returncode == 0 and len(load(sweep).trials) == 2

    resumed = run_train([*args, "hydra.sweeper.resume.retry_failed=true"], tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    study = load(sweep)
    first, retries = study.trials[:2], study.trials[2:]
    assert sorted(t.user_attrs["sweepkit_retry_of"] for t in retries) == [0, 1]
    for retry in retries:
        original = study.trials[retry.user_attrs["sweepkit_retry_of"]]
        job = sweep / str(original.number)
        record = json.loads((job / "run.json").read_text())
        assert retry.state == optuna.trial.TrialState.COMPLETE and retry.params == original.params
        expected = [saved[original.number]] if saved[original.number] else []
        assert [r["after_epoch"] for r in record.get("resumed", [])] == expected  # not trained again
        assert retry.intermediate_values == {h["epoch"]: h["val_loss"] for h in record["history"]}
        assert sorted(retry.intermediate_values) == [1, 2, 3, 4]  # each step reported once
        assert not (job / "last.pt").exists()
    assert sorted(p.name for p in sweep.iterdir() if p.name.isdigit()) == ["0", "1"]
    runs = json.loads((sweep / "sweep_results.json").read_text())["runs"]
    assert sorted((r["run_id"], r["status"], r["epochs_run"]) for r in runs) == [
        ("0", "complete", 4),
        ("1", "complete", 4),
    ]
    third = run_train([*args, "hydra.sweeper.resume.retry_failed=true"], tmp_path)
    assert third.returncode == 0 and len(load(sweep).trials) == 4  # nothing left to retry
    assert [t for t in first if t.state != optuna.trial.TrialState.FAIL] == []


def load(sweep: Path) -> optuna.Study:
    return optuna.load_study(
        study_name=None,
        storage=optuna.storages.JournalStorage(
            optuna.storages.journal.JournalFileBackend(str(sweep / "optuna_journal.log"))
        ),
    )
