"""Real multiruns of a tiny Hydra app (tests/apps/toy_app.py) through the sweepkit sweeper."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
import yaml
from optuna.storages import JournalStorage
from optuna.storages.journal import JournalFileBackend
from optuna.trial import TrialState

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
TOY = REPO / "tests" / "apps" / "toy_app.py"
FAST = ["trainer.max_epochs=2", "hydra.sweeper.sampler.seed=3"]


def toy_command(sweep_dir: Path, *overrides: str) -> list[str]:
    return [
        sys.executable,
        str(TOY),
        "-m",
        f"hydra.searchpath=[file://{REPO / 'conf'}]",
        f"hydra.sweep.dir={sweep_dir}",
        *overrides,
    ]


def toy_env() -> dict[str, str]:
    path = os.pathsep.join(p for p in (str(REPO), os.environ.get("PYTHONPATH")) if p)
    return {**os.environ, "PYTHONPATH": path, "WANDB_MODE": "disabled"}


def run_toy(
    sweep_dir: Path, *overrides: str, ok: bool = True, timeout: float | None = None
) -> subprocess.CompletedProcess:
    """Run the toy app; with ``timeout`` the sweep is killed (SIGKILL) after that many seconds."""
    command = toy_command(sweep_dir, *overrides)
    with subprocess.Popen(
        command, cwd=sweep_dir.parent, env=toy_env(), stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    ) as child:
        try:
            stdout, stderr = child.communicate(timeout=timeout or 180)
        except subprocess.TimeoutExpired:
            if timeout is None:
                raise
            child.kill()
            stdout, stderr = child.communicate()
    proc = subprocess.CompletedProcess(command, child.returncode, stdout, stderr)
    proc.pid = child.pid  # the sweeper's process
    if ok:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def load_study(sweep_dir: Path) -> optuna.Study:
    storage = JournalStorage(JournalFileBackend(str(sweep_dir / "optuna_journal.log")))
    return optuna.load_study(study_name=None, storage=storage)


def jobs(sweep_dir: Path) -> dict[int, dict]:
    """toy.json and run.json of every job that finished, by job number."""
    found = {}
    for job_dir in sweep_dir.iterdir():
        if job_dir.name.isdigit() and (job_dir / "toy.json").exists():
            found[int(job_dir.name)] = {
                **json.loads((job_dir / "toy.json").read_text()),
                "run": json.loads((job_dir / "run.json").read_text()),
            }
    return found


def check_trials_match_jobs(study: optuna.Study, records: dict[int, dict]) -> None:
    for trial in study.trials:
        if trial.state in (TrialState.COMPLETE, TrialState.PRUNED):
            record = records[trial.number]  # job number = trial number
            assert record["trial"] == trial.number
            expected = "pruned" if trial.state == TrialState.PRUNED else "complete"
            assert record["status"] == record["run"]["status"] == expected


def test_hyperband_prunes_and_trains_fewer_epochs(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_toy(sweep, "hydra.sweeper.n_trials=12", "hydra.sweeper.sampler.seed=1")
    study, records = load_study(sweep), jobs(sweep)
    states = [t.state for t in study.trials]
    assert len(states) == 12 and TrialState.PRUNED in states and TrialState.COMPLETE in states
    check_trials_match_jobs(study, records)
    total_epochs = sum(r["epochs"] for r in records.values())
    assert total_epochs < 12 * 9
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(study.best_value)
    assert results["best_params"] == study.best_params
    assert "Sweep update: 12/12 trials finished" in proc.stdout + proc.stderr


def test_seeded_sweep_is_reproducible(tmp_path):
    args = [
        "sweeper=bayes",
        "hydra.sweeper.n_trials=5",
        "hydra.sweeper.sampler.n_startup_trials=2",
        "trainer.max_epochs=1",
    ]
    params = []
    for name, seed in (("a", 7), ("b", 7), ("c", 8)):
        run_toy(tmp_path / name, *args, f"hydra.sweeper.sampler.seed={seed}")
        params.append([t.params for t in load_study(tmp_path / name).trials])
    assert params[0] == params[1]
    assert params[0] != params[2]


def test_resume_after_a_dead_sweep_continues_numbering_within_the_budget(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["sweeper=bayes", *FAST]
    proc = subprocess.Popen(
        toy_command(sweep, *args, "hydra.sweeper.n_trials=4", "hang_trials=[2]"),
        cwd=tmp_path,
        env=toy_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        deadline = time.time() + 60
        while not (sweep / "2" / ".hydra").exists():
            assert time.time() < deadline and proc.poll() is None, "trial 2 never started"
            time.sleep(0.2)
    finally:
        os.kill(proc.pid, signal.SIGKILL)  # the sweep dies with trial 2 running
        proc.wait()
    assert load_study(sweep).trials[2].state == TrialState.RUNNING

    out = run_toy(sweep, *args, "hydra.sweeper.n_trials=5", "hydra.sweeper.resume.retry_failed=true")
    study = load_study(sweep)
    states = [t.state for t in study.trials]
    assert states == [TrialState.COMPLETE] * 2 + [TrialState.FAIL] + [TrialState.COMPLETE] * 3
    assert study.trials[3].params == study.trials[2].params  # the re-queued trial
    assert study.trials[3].user_attrs["sweepkit_retry_of"] == 2
    assert sorted(jobs(sweep)) == [0, 1, 2, 4, 5]  # the retry runs in its first attempt's dir
    assert study.trials[3].user_attrs["sweepkit_job_subdir"] == "2"
    assert "Trial 2 was running when the sweep stopped" in out.stdout + out.stderr

    run_toy(sweep, *args, "hydra.sweeper.n_trials=5")  # budget spent: nothing more runs
    assert len(load_study(sweep).trials) == 6


def test_pruning_uses_other_processes_trials_with_joblib(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_toy(
        sweep,
        "sweeper=random",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=2",
        "hydra.sweeper.n_trials=8",
        "hydra.sweeper.n_jobs=2",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "trainer.max_epochs=3",
        "hydra.sweeper.sampler.seed=0",
    )
    study, records = load_study(sweep), jobs(sweep)
    check_trials_match_jobs(study, records)
    pruned = [records[t.number] for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, [t.state for t in study.trials]
    # The median pruner only counts COMPLETE trials, and only the sweeper process told Optuna
    # those: the worker that pruned saw them through the shared storage.
    for record in pruned:
        assert record["pid"] != proc.pid and record["complete_seen"] >= 2
    assert len({r["pid"] for r in records.values()}) >= 2


def test_submitit_local_jobs_report_to_their_trials(tmp_path):
    sweep = tmp_path / "sweep"
    run_toy(
        sweep,
        "sweeper=random",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.pruner.n_startup_trials=1",
        "hydra.sweeper.n_trials=3",
        "hydra/launcher=submitit_local",
        "hydra.launcher.timeout_min=5",
        *FAST,
    )
    study, records = load_study(sweep), jobs(sweep)
    assert sorted(records) == [0, 1, 2]
    assert all(t.state in (TrialState.COMPLETE, TrialState.PRUNED) for t in study.trials)
    assert all(t.intermediate_values for t in study.trials)  # reports arrived from the jobs
    check_trials_match_jobs(study, records)


def test_dt_pair_sampled_out_of_order_never_crashes_a_trial(tmp_path):
    sweep = tmp_path / "sweep"
    # seeded: unseeded, all 6 pairs come out in order about once in 64 runs
    run_toy(
        sweep,
        "sweeper=random",
        "hydra.sweeper.n_trials=6",
        "trainer.max_epochs=1",
        "hydra.sweeper.sampler.seed=0",
        "model.dt_min=tag(log, interval(1e-4, 1e-1))",
        "model.dt_max=tag(log, interval(1e-4, 1e-1))",
    )
    study = load_study(sweep)
    assert all(t.state == TrialState.COMPLETE for t in study.trials)  # the toy raises otherwise
    swapped = [t for t in study.trials if "sweepkit_applied" in t.user_attrs]
    assert swapped
    for trial in swapped:
        applied = trial.user_attrs["sweepkit_applied"]
        assert applied["model.dt_min"] < applied["model.dt_max"]


def test_enqueued_trials_run_first_and_a_resumed_sweep_does_not_queue_them_again(tmp_path):
    sweep = tmp_path / "sweep"
    queue = "hydra.sweeper.enqueue_trials=[defaults,{model.x:0.9}]"
    first = run_toy(sweep, *FAST, "hydra.sweeper.n_trials=3", queue)
    study = load_study(sweep)
    assert study.trials[0].params == {"model.x": 0.5, "model.y": 0.5}  # toy.yaml's values
    assert study.trials[1].params["model.x"] == 0.9
    assert study.trials[1].params["model.y"] not in (0.5, study.trials[2].params["model.y"])  # sampled
    assert study.trials[0].user_attrs["sweepkit_enqueued"] == {"model.x": 0.5, "model.y": 0.5}
    assert "sweepkit_enqueued" not in study.trials[2].user_attrs
    assert jobs(sweep)[0]["run"]["status"] == "complete"
    assert "Queued a trial to run first: model.x=0.5 model.y=0.5" in first.stdout + first.stderr

    resumed = run_toy(sweep, *FAST, "hydra.sweeper.n_trials=4", queue)
    study = load_study(sweep)
    assert len(study.trials) == 4
    assert "sweepkit_enqueued" not in study.trials[3].user_attrs
    assert "Queued a trial" not in resumed.stdout + resumed.stderr


def test_grid_preset_is_hydras_basic_sweeper(tmp_path):
    sweep = tmp_path / "sweep"
    run_toy(sweep, "sweeper=grid", "model.x=0.1,0.2", "model.y=0.5,0.6", "trainer.max_epochs=1")
    assert sorted(jobs(sweep)) == [0, 1, 2, 3]
    assert not (sweep / "optuna_journal.log").exists()


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("model.x=tag(log, interval(0, 1))", "model.x"),
        ("model.nope=interval(0, 1)", "search-space key 'model.nope'"),
        ("hydra.sweeper.sampler._target_=optuna.samplers.Foo", "optuna.samplers.Foo"),
        ("hydra/sweeper/pruner=nope", "nope"),
        ("hydra.sweeper.storage=sqlite:////proc/no/such/dir/x.db", "cannot open the study storage"),
        ("hydra.sweeper.pruned_trials=guess", "hydra.sweeper.pruned_trials='guess'"),
        ("hydra.sweeper.enqueue_trials=[{model.x:2}]", "model.x=2 is outside its search space"),
    ],
)
def test_bad_input_fails_before_any_job(tmp_path, override, fragment):
    sweep = tmp_path / "sweep"
    proc = run_toy(sweep, override, ok=False)
    assert proc.returncode != 0
    assert fragment in proc.stdout + proc.stderr
    assert not (sweep / "0").exists()


def test_non_number_return_stops_the_sweep_with_a_clear_error(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_toy(sweep, "return_text=true", "hydra.sweeper.n_trials=3", *FAST, ok=False)
    assert proc.returncode != 0
    assert "returned 'not a number' (str) for trial 0" in proc.stdout + proc.stderr
    assert [t.state for t in load_study(sweep).trials] == [TrialState.FAIL]


def test_failures_and_nan_are_failed_trials_and_the_rate_stops_the_sweep(tmp_path):
    tolerant = tmp_path / "tolerant"
    run_toy(
        tolerant,
        "sweeper=bayes",
        "fail_trials=[0]",
        "nan_trials=[1]",
        "hydra.sweeper.n_trials=3",
        "hydra.sweeper.max_failure_rate=1.0",
        *FAST,
    )
    assert [t.state for t in load_study(tolerant).trials] == [TrialState.FAIL] * 2 + [TrialState.COMPLETE]

    strict = tmp_path / "strict"
    proc = run_toy(
        strict,
        "fail_trials=[0]",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.max_failure_rate=0.25",
        *FAST,
        ok=False,
    )
    assert proc.returncode != 0
    assert "1 of 2 trials failed, more than hydra.sweeper.max_failure_rate=0.25" in proc.stdout + proc.stderr
    assert [t.state for t in load_study(strict).trials] == [TrialState.FAIL, TrialState.COMPLETE]


def test_launch_sweep_dry_run_prints_the_sweep_and_runs_nothing(tmp_path):
    script = REPO / "scripts" / "launch_sweep.py"
    args = [
        sys.executable,
        str(script),
        "dmixer",
        "--dataset",
        "Wind",
        "--enhanced",
        "--count",
        "5",
        "--dry-run",
        "model.d_model=8,16",
    ]
    proc = subprocess.run(args, cwd=tmp_path, env=toy_env(), capture_output=True, text=True, timeout=60)
    assert proc.returncode == 0, proc.stderr
    assert "Command: python train.py -m model=dmixer dataset=Wind sweeper=hyperband" in proc.stdout
    assert "optuna.pruners.HyperbandPruner" in proc.stdout and "n_trials: 5" in proc.stdout
    assert "model.d_model: CategoricalDistribution(choices=(8, 16))" in proc.stdout
    assert "trainer.lr: FloatDistribution(high=0.01, log=True, low=0.0001" in proc.stdout
    assert list(tmp_path.iterdir()) == []

    bad = subprocess.run(
        args[:-1] + ["model.bogus=1,2"], cwd=tmp_path, env=toy_env(), capture_output=True, text=True, timeout=60
    )
    assert bad.returncode == 2 and "search-space key 'model.bogus'" in bad.stderr


def test_train_py_sweep_end_to_end(tmp_path, data_dir):
    """The real training loop, tiny DMixer on Wind: hyperband prunes, run.json agrees with Optuna."""
    from conftest import TINY, run_train

    sweep = tmp_path / "sweep"
    proc = run_train(
        [
            "-m",
            "dataset=Wind",
            *TINY,
            "trainer.max_epochs=3",
            "hydra.sweeper.n_trials=5",
            "hydra.sweeper.sampler.seed=0",
            f"hydra.sweep.dir={sweep}",
        ],
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    study = load_study(sweep)
    assert len(study.trials) == 5
    manifest = json.loads((sweep / "sweep_results.json").read_text())
    runs = {r["job_num"]: r for r in manifest["runs"]}
    for trial in study.trials:
        record = json.loads((sweep / str(trial.number) / "run.json").read_text())
        assert record["status"] == runs[trial.number]["status"] == trial.state.name.lower()
        # the manifest took the checkpoint over: promoted to best_models/ or deleted
        assert not (sweep / str(trial.number) / "best_model.pth").exists()
    assert len(list((sweep / "best_models").glob("rank_*_best_model.pth"))) == 3
    assert TrialState.PRUNED in [t.state for t in study.trials]
    results = yaml.safe_load((sweep / "optimization_results.yaml").read_text())
    assert results["best_value"] == pytest.approx(study.best_value)


def test_timeout_stops_new_trials_and_updates_carry_an_eta(tmp_path):
    """hydra.sweeper.timeout: no trial starts after it; the trials run before it are told."""
    sweep = tmp_path / "sweep"
    proc = run_toy(sweep, *FAST, "epoch_seconds=0.4", "hydra.sweeper.n_trials=30", "hydra.sweeper.timeout=2")
    log = proc.stdout + proc.stderr
    study = load_study(sweep)
    assert 1 <= len(study.trials) < 30
    assert all(t.state.is_finished() for t in study.trials)
    assert "Time limit hydra.sweeper.timeout=2s reached: no new trial starts" in log
    assert f"Sweep update: {len(study.trials)}/30 trials finished" in log
    assert "elapsed " in log and ", ETA " in log
    assert yaml.safe_load((sweep / "optimization_results.yaml").read_text())["best_value"] == pytest.approx(
        study.best_value
    )
    bad = run_toy(tmp_path / "bad", "hydra.sweeper.timeout=0", ok=False)
    assert bad.returncode != 0 and "hydra.sweeper.timeout=0.0: use seconds > 0" in bad.stdout + bad.stderr


@pytest.mark.parametrize("how", ["resume", "extend"])
def test_a_seeded_sweep_resumed_or_extended_repeats_no_configuration(tmp_path, how):
    """A seeded sampler's random start continues where the study stands; it does not replay."""
    sweep = tmp_path / "sweep"
    args = ["sweeper=bayes", "trainer.max_epochs=1", "hydra.sweeper.sampler.seed=1234"]
    if how == "resume":  # killed after 3 trials: the driver dies with its fourth job
        run_toy(sweep, *args, "hydra.sweeper.n_trials=4", "hang_trials=[3]", ok=False, timeout=12)
    else:  # a finished sweep, extended
        run_toy(sweep, *args, "hydra.sweeper.n_trials=3")
    run_toy(sweep, *args, "hydra.sweeper.n_trials=7")
    params = [tuple(sorted(t.params.items())) for t in load_study(sweep).trials if t.params]
    assert len(params) >= 6 and len(set(params)) == len(params), params


def test_the_console_shows_one_update_per_trial_with_rounded_parameters(tmp_path):
    proc = run_toy(
        tmp_path / "sweep",
        "sweeper=bayes",
        "trainer.max_epochs=1",
        "hydra.sweeper.n_trials=3",
        "++hydra.callbacks.topk._target_=sweepkit.hooks.TopKCallback",
    )
    said = proc.stdout + proc.stderr
    assert said.count("Sweep update") == 3 and "[sweepkit] Sweep update" not in said
    assert "top k (manifest)" in said
    best = [line for line in said.splitlines() if "best so far" in line]
    shown = [n for line in best for n in re.findall(r"=(-?[\d.]+(?:e-?\d+)?)", line.split("{", 1)[1])]

    def significant(number: str) -> int:
        return len(number.lstrip("-").split("e")[0].replace(".", "").lstrip("0"))

    assert best and shown and all(significant(n) <= 4 for n in shown), best
