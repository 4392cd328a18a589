"""Preemption-safe runs: a job killed mid-training resumes from its last epoch (``last.pt``)."""

from __future__ import annotations

import json
from pathlib import Path

import optuna

from conftest import TINY, run_train

EPOCHS = ["trainer.max_epochs=4", "trainer.patience=null", "model.dropout=0.1"]
KILL_AFTER_2 = {"SWEEPKIT_FAULT_POINT": "after_epoch_2"}  # SIGKILL once epoch 2 is saved


def history(run_dir: Path) -> list[tuple]:
    record = json.loads((run_dir / "run.json").read_text())
    return [(h["epoch"], h["train_loss"], h["val_loss"], h["lr"]) for h in record["history"]]


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
    args = ["-m", *TINY, *EPOCHS, "dataset=Wind", "sweeper=random", "hydra/sweeper/pruner=median",
            "hydra.sweeper.pruner.n_startup_trials=5", f"hydra.sweep.dir={sweep}",
            "hydra.sweeper.sampler.seed=3"]
    killed = run_train([*args, "hydra.sweeper.n_trials=1"], tmp_path, env=KILL_AFTER_2)
    assert killed.returncode == -9  # the basic launcher: the sweep dies with its job
    resumed = run_train([*args, "hydra.sweeper.n_trials=2", "hydra.sweeper.resume.retry_failed=true"],
                        tmp_path)
    assert resumed.returncode == 0, resumed.stderr[-3000:]
    assert "resuming from epoch 3/4: epochs 1-2 restored" in resumed.stdout + resumed.stderr

    study = optuna.load_study(study_name=None, storage=optuna.storages.JournalStorage(
        optuna.storages.journal.JournalFileBackend(str(sweep / "optuna_journal.log"))))
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
