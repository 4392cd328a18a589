"""The stock hydra-optuna-sweeper's behaviours, as real multiruns through the sweepkit sweeper.

The apps (tests/apps/stock_apps.py) and configs (tests/apps/conf/stock/) have the shape of the
stock plugin's example apps: sphere, multi-objective (Binh and Korn), custom search space,
the grid config and the failure rate. Their configs differ from the stock ones only in
the sweeper's name.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
APP = REPO / "tests" / "apps" / "stock_apps.py"
JOBLIB = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2", "hydra.sweeper.n_jobs=2"]
LAUNCHERS = {"basic": [], "joblib": JOBLIB}


def sweep(sweep_dir: Path, config: str, *overrides: str, ok: bool = True) -> subprocess.CompletedProcess:
    """``python stock_apps.py -m --config-name=CONFIG`` into ``sweep_dir``."""
    path = os.pathsep.join(p for p in (str(REPO), str(APP.parent), os.environ.get("PYTHONPATH")) if p)
    env = {**os.environ, "PYTHONPATH": path, "WANDB_MODE": "disabled", "HYDRA_FULL_ERROR": "1"}
    command = [sys.executable, str(APP), "-m", f"--config-name={config}", f"hydra.sweep.dir={sweep_dir}", *overrides]
    proc = subprocess.run(command, cwd=sweep_dir.parent, env=env, capture_output=True, text=True, timeout=180)
    if ok:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def results(sweep_dir: Path) -> dict:
    return yaml.safe_load((sweep_dir / "optimization_results.yaml").read_text())


def study_of(sweep_dir: Path, name: str) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(sweep_dir / "optuna_journal.log")))
    return optuna.load_study(study_name=name, storage=storage)


def dominates(a: list[float], b: list[float]) -> bool:
    return all(x <= y for x, y in zip(a, b)) and any(x < y for x, y in zip(a, b))


def brute_force_front(study: optuna.Study) -> set[int]:
    done = [t for t in study.trials if t.state == TrialState.COMPLETE]
    return {t.number for t in done if not any(dominates(o.values, t.values) for o in done)}


# ------------------------------------------------------------------------ sphere (TPE)
@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_sphere_finds_a_good_point_and_writes_the_stock_results(tmp_path, launcher):
    out = tmp_path / "sweep"
    sweep(out, "sphere", "hydra.job.chdir=True", "~z", *LAUNCHERS[launcher])
    found, study = results(out), study_of(out, "sphere")
    assert found["name"] == "optuna" and found["sweeper"] == "sweepkit"
    assert found["best_params"] == study.best_params and found["best_value"] == study.best_value
    assert len(study.trials) == 20
    # as the stock test: the 95th percentile of TPE's best over seeds
    assert found["best_value"] <= 2.27
    # range(-5.5, 5.5, step=0.5) reaches 5.5, as in the stock mapping
    assert study.trials[0].distributions["x"].high == 5.5


def test_sphere_with_command_line_choices_and_a_fixed_value(tmp_path):
    out = tmp_path / "sweep"
    sweep(out, "sphere", "x=choice(0, 1, 2)", "y=0", "hydra.sweeper.n_trials=6")
    found = results(out)
    assert "y" not in found["best_params"] and found["best_params"]["x"] in (0, 1, 2)
    assert found["best_value"] == found["best_params"]["x"] ** 2


# ------------------------------------------------------------------------ grid
@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_a_grid_ends_cleanly_when_every_point_ran(tmp_path, launcher):
    out = tmp_path / "sweep"
    proc = sweep(out, "grid", "hydra.sweeper.n_trials=20", *LAUNCHERS[launcher])
    study, found = study_of(out, "sphere"), results(out)
    # 2 x 2 x 2 points: y = range(-1.0, 1.0, step=1) enumerates -1.0 and 0.0, as Hydra's range
    points = {(t.params["x"], t.params["y"], t.params["z"]) for t in study.trials}
    assert len(study.trials) == 8 and len(points) == 8
    assert all(t.state == TrialState.COMPLETE for t in study.trials)
    assert {y for _, y, _ in points} == {-1.0, 0.0}
    assert found["best_value"] == 1 and abs(found["best_params"]["x"]) == 1
    assert found["best_params"]["y"] == 0
    assert "Grid of 8 points: n_trials lowered from 20" in proc.stdout + proc.stderr


def test_a_grid_shorter_than_its_points(tmp_path):
    out = tmp_path / "sweep"
    sweep(out, "grid", "hydra.sweeper.n_trials=1")
    found = results(out)
    assert found["best_params"]["x"] in (-1, 1) and found["best_params"]["y"] in (-1, 0)
    assert found["best_params"]["z"] in ("foo", "bar")


def test_a_resumed_grid_with_every_point_done_launches_nothing(tmp_path):
    out = tmp_path / "sweep"
    sweep(out, "grid")
    sweep(out, "grid", "hydra.sweeper.budget=per_run")
    assert len(study_of(out, "sphere").trials) == 8
    assert sorted(int(p.name) for p in out.iterdir() if p.name.isdigit()) == list(range(8))


# ------------------------------------------------------------------------ custom search space
def test_custom_search_space_suggests_dependent_and_new_keys(tmp_path):
    out = tmp_path / "sweep"
    sweep(
        out,
        "custom_space",
        "hydra.job.chdir=True",
        "hydra/sweeper/sampler=random",
        "max_z_difference_from_x=0.3",
        "hydra.sweeper.n_trials=8",
    )
    found = results(out)
    assert abs(found["best_params"]["x"] - found["best_params"]["z"]) <= 0.3
    assert 0 <= found["best_params"]["+w"] <= 1
    for trial in study_of(out, "custom-search-space").trials:
        assert abs(trial.params["x"] - trial.params["z"]) <= 0.3


# ------------------------------------------------------------------------ failure rate
@pytest.mark.parametrize("max_failure_rate", (0.5, 1.0))
def test_failure_rate_with_every_job_failing(tmp_path, max_failure_rate):
    out = tmp_path / "sweep"
    proc = sweep(
        out,
        "sphere",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.n_jobs=2",
        "hydra/sweeper/sampler=random",
        f"hydra.sweeper.max_failure_rate={max_failure_rate}",
        "error=true",
        ok=False,
    )
    if max_failure_rate < 1.0:
        assert proc.returncode != 0
        assert "RuntimeError: cfg.error is True" in proc.stderr
        assert "2 of 2 trials failed" in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert "RuntimeError: cfg.error is True" not in proc.stderr
        found = results(out)
        assert found["best_value"] is None and found["trials"]["fail"] == 6


@pytest.mark.parametrize("scope, stops", [("sweep", False), ("batch", True)])
def test_failure_rate_over_the_sweep_or_per_batch(tmp_path, scope, stops):
    # trials 4 and 5 (the third batch of two) fail: 2 of 6 over the sweep, 2 of 2 in the batch
    out = tmp_path / "sweep"
    proc = sweep(
        out,
        "sphere",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.max_failure_rate=0.5",
        "fail_trials=[4,5]",
        f"hydra.sweeper.failure_rate_scope={scope}",
        ok=False,
    )
    assert (proc.returncode != 0) is stops, proc.stderr[-2000:]
    if stops:
        assert "2 of 2 trials failed in a batch" in proc.stderr


# ------------------------------------------------------------------------ budget and storage
def test_n_trials_is_a_total_unless_budget_is_per_run(tmp_path):
    total, per_run = tmp_path / "total", tmp_path / "per_run"
    for _ in range(2):
        sweep(total, "sphere", "hydra.sweeper.n_trials=3")
        sweep(per_run, "sphere", "hydra.sweeper.n_trials=3", "hydra.sweeper.budget=per_run")
    assert len(study_of(total, "sphere").trials) == 3
    assert [t.number for t in study_of(per_run, "sphere").trials] == list(range(6))
    assert sorted(int(p.name) for p in per_run.iterdir() if p.name.isdigit()) == list(range(6))


def test_memory_storage_keeps_no_study_on_disk(tmp_path):
    out = tmp_path / "sweep"
    for _ in range(2):  # no resume: each run is a new study
        sweep(out, "sphere", "hydra.sweeper.n_trials=3", "hydra.sweeper.storage=memory")
    found = results(out)
    assert found["storage"] == "memory" and found["trials"]["complete"] == 3
    assert not (out / "optuna_journal.log").exists()


def test_a_pruner_with_memory_storage_is_refused_before_any_job(tmp_path):
    out = tmp_path / "sweep"
    proc = sweep(out, "sphere", "hydra.sweeper.storage=memory", "hydra/sweeper/pruner=median", ok=False)
    assert proc.returncode != 0 and "needs a storage the jobs can reach" in proc.stderr
    assert not out.exists()  # refused before the sweep directory was made


# ------------------------------------------------------------------------ samplers
@pytest.mark.parametrize(
    "sampler, extra",
    [
        (
            "sweepkit_cmaes",
            [
                "hydra.sweeper.sampler.n_startup_trials=2",
                "y=interval(-5, 5)",
                "hydra.sweeper.sampler.independent_sampler={_target_:optuna.samplers.RandomSampler}",
            ],
        ),
        (
            "gp",
            [
                "hydra.sweeper.sampler.n_startup_trials=3",
                "hydra.sweeper.sampler.independent_sampler={_target_:optuna.samplers.RandomSampler}",
            ],
        ),
        (
            "qmc",
            [
                "hydra.sweeper.sampler.scramble=true",
                "hydra.sweeper.sampler.independent_sampler={_target_:optuna.samplers.RandomSampler}",
            ],
        ),
    ],
)
def test_each_optional_sampler_runs_a_sweep(tmp_path, sampler, extra):
    out = tmp_path / "sweep"
    proc = sweep(out, "sphere", f"hydra/sweeper/sampler={sampler}", "hydra.sweeper.n_trials=6", *extra)
    study = study_of(out, "sphere")
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    assert f"sampler={dict(sweepkit_cmaes='CmaEsSampler', gp='GPSampler', qmc='QMCSampler')[sampler]}" in proc.stdout
    assert results(out)["best_value"] == study.best_value


def test_the_removed_motpe_sampler_names_its_replacement(tmp_path):
    out = tmp_path / "sweep"
    proc = sweep(out, "binh_korn", "hydra/sweeper/sampler=motpe", ok=False)
    assert proc.returncode != 0 and "removed in Optuna 4.0" in proc.stderr
    assert "hydra/sweeper/sampler=tpe" in proc.stderr


def test_a_non_number_return_fails_the_trial_with_stop_on_bad_return_false(tmp_path):
    from test_sweeper_runs import FAST, load_study, run_toy

    out = tmp_path / "sweep"
    run_toy(
        out,
        "return_text=true",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.max_failure_rate=1.0",
        "hydra.sweeper.stop_on_bad_return=false",
        *FAST,
    )
    assert [t.state for t in load_study(out).trials] == [TrialState.FAIL] * 3
    assert results(out)["trials"]["fail"] == 3
