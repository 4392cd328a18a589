"""Scale-out launchers, run for real: jobs on a single-node SLURM cluster (sbatch, submitit, a Hydra
multirun through the repository's `slurm` preset) and the local `parallel` / `local_cluster` presets."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pytest
import submitit
from omegaconf import OmegaConf

from slurm_cluster import REPO_ROOT, SlurmCluster, cluster_pids, slurm, slurm_cluster  # noqa: F401

pytestmark = pytest.mark.integration

APP = REPO_ROOT / "tests" / "apps" / "slurm_app.py"
PRESETS_SEARCHPATH = f"hydra.searchpath=[file://{REPO_ROOT / 'conf'}]"
MULTIRUN_TIMEOUT_S = 180


def slurm_launcher_overrides(cluster: SlurmCluster) -> list[str]:
    """Overrides that select the repository's `slurm` preset and fit it to the test cluster."""
    return [
        "hydra/launcher=slurm",
        PRESETS_SEARCHPATH,
        f"hydra.launcher.partition={cluster.partition}",
        "hydra.launcher.gpus_per_node=null",
        "hydra.launcher.cpus_per_task=1",
        "hydra.launcher.mem_gb=1",
        "hydra.launcher.timeout_min=5",
    ]


def run_multirun(
    args: list[str],
    cluster: SlurmCluster | None,
    *,
    app: Path = APP,
    cwd: Path = REPO_ROOT,
    timeout: float = MULTIRUN_TIMEOUT_S,
) -> subprocess.CompletedProcess:
    """Run ``python <app> -m <args>`` (against ``cluster`` when given); fail the test if it fails."""
    cmd = [sys.executable, str(app), "-m", *args]
    env = cluster.env if cluster is not None else dict(os.environ)
    proc = subprocess.run(cmd, env=env, cwd=cwd, capture_output=True, text=True, timeout=timeout)
    if proc.returncode != 0:
        pytest.fail(
            f"multirun failed ({proc.returncode}): {' '.join(cmd)}\n--- stdout\n{proc.stdout[-4000:]}"
            f"\n--- stderr\n{proc.stderr[-4000:]}\n{cluster.logs() if cluster else ''}"
        )
    return proc


def read_job_records(sweep_dir: Path) -> dict[int, dict]:
    """job.json of every job directory (named by Hydra job number) in a sweep directory."""
    return {int(p.parent.name): json.loads(p.read_text()) for p in sweep_dir.glob("*/job.json")}


def launcher_config(sweep_dir: Path, job_num: int = 0):
    """The composed hydra.launcher node a job ran with."""
    return OmegaConf.load(sweep_dir / str(job_num) / ".hydra" / "hydra.yaml").hydra.launcher


def test_sbatch_and_submitit_jobs_run_under_slurm(slurm, tmp_path, monkeypatch):
    out = tmp_path / "wrap.out"
    job_id = slurm.run(
        "sbatch",
        "--parsable",
        f"--output={out}",
        "--wrap",
        'echo "$SLURM_JOB_ID $SLURM_JOB_PARTITION"',
    ).stdout.strip()
    slurm.wait_for_job(job_id)
    assert out.read_text().split() == [job_id, slurm.partition]

    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    executor = submitit.AutoExecutor(folder=tmp_path / "submitit", cluster="slurm")
    executor.update_parameters(slurm_partition=slurm.partition, timeout_min=2, cpus_per_task=1)
    job = executor.submit(os.getenv, "SLURM_JOB_ID")
    assert job.result() == job.job_id
    assert job.paths.result_pickle.exists()


def test_hydra_multirun_through_slurm_launcher_preset(slurm, tmp_path):
    sweep_dir = tmp_path / "sweep"
    run_multirun(
        slurm_launcher_overrides(slurm)
        + [
            f"hydra.sweep.dir={sweep_dir}",
            'hydra.launcher.setup=["export SWEEPKIT_SETUP_MARKER=from-setup"]',
            '+hydra.launcher.additional_parameters.export="ALL,SWEEPKIT_EXTRA_MARKER=from-sbatch"',
            "record_env=[SWEEPKIT_SETUP_MARKER,SWEEPKIT_EXTRA_MARKER]",
            "x=1,2,3",
        ],
        slurm,
    )

    launcher = launcher_config(sweep_dir)
    assert launcher._target_.endswith("SlurmLauncher")
    assert launcher.array_parallelism == 8, "the preset's value on top of submitit_slurm's"
    records = read_job_records(sweep_dir)
    assert sorted(records) == [0, 1, 2]
    assert sorted(r["x"] for r in records.values()) == [1, 2, 3]
    array_ids = {r["env"]["SLURM_ARRAY_JOB_ID"] for r in records.values()}
    assert len(array_ids) == 1 and None not in array_ids, "the sweep is one SLURM job array"
    job_ids = [r["env"]["SLURM_JOB_ID"] for r in records.values()]
    assert None not in job_ids and len(set(job_ids)) == 3
    for num, record in records.items():
        env = record["env"]
        assert record["y"] == record["x"] ** 2
        assert env["SUBMITIT_EXECUTOR"] == "slurm"
        assert env["SLURM_ARRAY_TASK_ID"] == str(num)
        assert record["hydra_job_id"] == f"{env['SLURM_ARRAY_JOB_ID']}_{num}"
        assert env["SLURM_JOB_PARTITION"] == slurm.partition
        assert env["SLURM_CPUS_PER_TASK"] == "1"
        assert env["SLURM_MEM_PER_NODE"] == "1024"
        assert env["SWEEPKIT_SETUP_MARKER"] == "from-setup"
        assert env["SWEEPKIT_EXTRA_MARKER"] == "from-sbatch"
        submitit_dir = sweep_dir / ".submitit" / record["hydra_job_id"]
        assert (submitit_dir / f"{record['hydra_job_id']}_0_result.pkl").exists()
    assert slurm.queue() == []


@pytest.mark.parametrize(
    "preset, target, executor",
    [("parallel", "JoblibLauncher", None), ("local_cluster", "LocalLauncher", "local")],
)
def test_local_launcher_presets_run_jobs_in_worker_processes(tmp_path, preset, target, executor):
    sweep_dir = tmp_path / "sweep"
    run_multirun(
        [f"hydra/launcher={preset}", PRESETS_SEARCHPATH, f"hydra.sweep.dir={sweep_dir}", "x=1,2"],
        None,
    )
    launcher = launcher_config(sweep_dir)
    assert launcher._target_.endswith(target)
    if preset == "parallel":
        assert launcher.n_jobs == 2
    records = read_job_records(sweep_dir)
    assert sorted(r["x"] for r in records.values()) == [1, 2]
    for record in records.values():
        assert record["launcher"] == preset
        assert record["env"]["SLURM_JOB_ID"] is None
        assert record["env"]["SUBMITIT_EXECUTOR"] == executor


def test_cluster_teardown_stops_jobs_and_daemons():
    with slurm_cluster() as cluster:
        job_id = cluster.run("sbatch", "--parsable", "--output=/dev/null", "--wrap", "sleep 300")
        job_id = job_id.stdout.strip()
        deadline = time.monotonic() + 30
        while cluster.run("squeue", "-h", "-j", job_id, "-o", "%T").stdout.strip() != "RUNNING":
            assert time.monotonic() < deadline, "the job never started"
            time.sleep(0.2)
        root, daemons = cluster.root, dict(cluster.processes)
        assert len(cluster_pids(root)) > len(daemons), "slurmstepd runs beside the daemons"
    assert all(proc.poll() is not None for proc in daemons.values())
    assert cluster_pids(root) == []


# ------------------------------------------------------------------ sweepkit sweeps on SLURM
def sweep_env(monkeypatch) -> None:
    """What the jobs of a sweep need from the environment (SLURM exports it to every job)."""
    from conftest import DATA_DIR

    monkeypatch.setenv("SWEEPKIT_DATA_DIR", str(DATA_DIR))
    monkeypatch.setenv("WANDB_MODE", "disabled")
    path = os.pathsep.join(filter(None, [str(REPO_ROOT), os.environ.get("PYTHONPATH")]))
    monkeypatch.setenv("PYTHONPATH", path)


def slurm_job_id(job_dir: Path) -> str:
    """The SLURM id (``<array id>_<index>``) Hydra recorded as the job's id."""
    return str(OmegaConf.load(job_dir / ".hydra" / "hydra.yaml").hydra.job.id)


def test_sweepkit_sweep_runs_on_slurm_and_prunes_across_jobs(slurm, tmp_path, monkeypatch):
    from optuna.trial import TrialState
    from test_sweeper_runs import load_study

    from conftest import TINY

    sweep_env(monkeypatch)
    sweep = tmp_path / "sweep"
    run_multirun(
        slurm_launcher_overrides(slurm)
        + [
            "dataset=Wind",
            *TINY,
            "trainer.max_epochs=3",
            "sweeper=hyperband",
            "hydra.sweeper.n_trials=6",
            "hydra.sweeper.n_jobs=2",
            "hydra.sweeper.sampler.seed=0",
            f"hydra.sweep.dir={sweep}",
        ],
        slurm,
        app=REPO_ROOT / "train.py",
        cwd=tmp_path,
    )

    study = load_study(sweep)
    states = {t.number: t.state for t in study.trials}
    assert sorted(states) == list(range(6))
    job_ids = {n: slurm_job_id(sweep / str(n)) for n in states}
    assert len(set(job_ids.values())) == 6 and all(j.split("_")[0].isdigit() for j in job_ids.values())
    for job_id in job_ids.values():  # submitit's result file of each SLURM job
        assert (sweep / ".submitit" / job_id / f"{job_id}_0_result.pkl").exists()

    manifest = json.loads((sweep / "sweep_results.json").read_text())
    runs = {r["job_num"]: r for r in manifest["runs"]}
    assert sorted(runs) == sorted(states) and manifest["n_runs"] == 6
    for number, state in states.items():
        assert runs[number]["status"] == state.name.lower()
        record = json.loads((sweep / str(number) / "run.json").read_text())
        assert record["status"] == state.name.lower()
        ranked = runs[number].get("rank") is not None
        assert (sweep / str(number) / "best_model.pth").exists() is False  # promoted or deleted
        assert ranked == (runs[number]["run_id"] in {e["run_id"] for e in manifest["top"]})
    assert len(manifest["top"]) == 3 == len(list((sweep / "best_models").glob("rank_*_best_model.pth")))

    pruned = [t for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned, f"no trial was pruned: {states}"
    for trial in pruned:  # the job stopped when the pruner, comparing other SLURM jobs, said so
        step = trial.user_attrs["sweepkit_pruned_at"]
        assert step == max(trial.intermediate_values) < 3  # never at the last epoch
        assert runs[trial.number]["epochs_run"] == step
        assert any(step in o.intermediate_values for o in study.trials if o.number != trial.number)
    slurm.wait_for_empty_queue(timeout=30)  # no job left behind (finished ones may still be completing)


def test_slurm_time_limit_fails_the_trial_and_a_resume_completes_the_budget(slurm, tmp_path, monkeypatch):
    """submitit's timeout path (SIGUSR2 before the time limit, no requeue left) ends trial 1."""
    from optuna.trial import TrialState
    from test_sweeper_runs import TOY, load_study

    sweep_env(monkeypatch)
    sweep = tmp_path / "sweep"
    args = slurm_launcher_overrides(slurm) + [
        f"hydra.sweep.dir={sweep}",
        "sweeper=random",
        "hydra.sweeper.n_jobs=2",
        "trainer.max_epochs=2",
        "hydra.sweeper.max_failure_rate=1.0",
        "hang_trials=[1]",
        "+hydra.callbacks.topk._target_=sweepkit.hooks.TopKCallback",
        "+hydra.callbacks.topk.verbose=false",
    ]
    command = [sys.executable, str(TOY), "-m", *args, "hydra.sweeper.n_trials=3"]
    with subprocess.Popen(
        command, env=slurm.env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as sweeper:
        try:
            deadline = time.monotonic() + 90
            while not (sweep / "1" / ".hydra" / "hydra.yaml").exists():
                assert time.monotonic() < deadline and sweeper.poll() is None, "trial 1 never started"
                time.sleep(0.2)
            time.sleep(1)  # let the job reach its (hanging) task
            slurm.run("scancel", "--signal=USR2", slurm_job_id(sweep / "1"))  # = the time-limit warning
            output, _ = sweeper.communicate(timeout=90)
        finally:
            if sweeper.poll() is None:
                sweeper.kill()
    assert sweeper.returncode == 0, output[-4000:]
    study = load_study(sweep)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE, TrialState.FAIL, TrialState.COMPLETE]
    runs = {r["job_num"]: r for r in json.loads((sweep / "sweep_results.json").read_text())["runs"]}
    assert runs[1]["status"] == "failed" and "timed-out" in runs[1]["error"]
    assert [runs[n]["status"] for n in (0, 2)] == ["complete", "complete"]

    run_multirun(args + ["hydra.sweeper.n_trials=4"], slurm, app=TOY, cwd=tmp_path)  # resume
    study = load_study(sweep)
    assert [t.state for t in study.trials][3:] == [TrialState.COMPLETE]
    runs = {r["job_num"]: r["status"] for r in json.loads((sweep / "sweep_results.json").read_text())["runs"]}
    assert runs == {0: "complete", 1: "failed", 2: "complete", 3: "complete"}
    slurm.wait_for_empty_queue(timeout=30)


def test_killed_job_is_noticed_without_slurm_accounting(slurm, monkeypatch):
    """sacct fails on this cluster; the sweeper's watcher asks squeue and sees the job leave."""
    from sweepkit.sweeper._slurm import LEFT_QUEUE, install_squeue_fallback

    monkeypatch.setenv("SLURM_CONF", slurm.env["SLURM_CONF"])
    watcher = install_squeue_fallback()
    job_id = slurm.run("sbatch", "--parsable", "--output=/dev/null", "--wrap", "sleep 120").stdout.strip()
    deadline = time.monotonic() + 30
    while watcher.get_state(job_id, mode="force") != "RUNNING":
        assert time.monotonic() < deadline, watcher.get_state(job_id, mode="force")
        time.sleep(0.2)
    assert not watcher.is_done(job_id, mode="force")
    slurm.run("scancel", job_id)
    slurm.wait_for_job(job_id)
    assert watcher.get_state(job_id, mode="force") == LEFT_QUEUE
    assert watcher.is_done(job_id, mode="cache")


def test_a_requeued_slurm_job_resumes_from_its_last_epoch(slurm, tmp_path, monkeypatch):
    """`scontrol requeue` mid-training: the job runs again in its dir and continues after its epoch."""
    from optuna.trial import TrialState
    from test_sweeper_runs import load_study

    from conftest import TINY_DATA

    sweep_env(monkeypatch)
    sweep = tmp_path / "sweep"
    args = slurm_launcher_overrides(slurm) + [
        "dataset=Wind",
        *TINY_DATA,
        "dataset.max_rows=8000",
        "trainer.batch_size=32",
        "model=dmixer",
        "model.d_model=64",
        "model.d_ff=128",
        "trainer.max_epochs=8",
        "trainer.patience=null",
        "sweeper=random",
        "hydra/sweeper/pruner=median",
        "hydra.sweeper.n_trials=1",
        f"hydra.sweep.dir={sweep}",
    ]
    command = [sys.executable, str(REPO_ROOT / "train.py"), "-m", *args]
    run_json = sweep / "0" / "run.json"
    with subprocess.Popen(
        command, env=slurm.env, cwd=tmp_path, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True
    ) as sweeper:
        try:
            deadline = time.monotonic() + 120
            while not (run_json.is_file() and json.loads(run_json.read_text())["epoch"] >= 2):
                assert time.monotonic() < deadline and sweeper.poll() is None, "epoch 2 never ended"
                time.sleep(0.1)
            job_id = slurm_job_id(sweep / "0")
            slurm.run("scontrol", "requeue", job_id)
            # slurmctld holds a requeued job back 120 s once it is pending again: start it now
            deadline = time.monotonic() + 60
            while "PENDING" not in slurm.run("squeue", "-h", "-j", job_id, "-o", "%T", check=False).stdout:
                assert time.monotonic() < deadline, "the requeued job never became pending"
                time.sleep(0.2)
            slurm.run("scontrol", "update", f"JobId={job_id}", "StartTime=now")
            output, _ = sweeper.communicate(timeout=240)
        finally:
            if sweeper.poll() is None:
                sweeper.kill()
    assert sweeper.returncode == 0, output[-4000:] + slurm.logs()
    log = (sweep / "0" / "train.log").read_text()
    resumed = [int(n) for n in __import__("re").findall(r"resuming from epoch (\d+)/8", log)]
    assert len(resumed) == 1 and resumed[0] > 2, log[-3000:]
    record = json.loads(run_json.read_text())
    assert record["status"] == "complete" and [h["epoch"] for h in record["history"]] == list(range(1, 9))
    assert record["resumed"][0]["after_epoch"] == resumed[0] - 1
    (trial,) = load_study(sweep).trials
    assert trial.state == TrialState.COMPLETE and sorted(trial.intermediate_values) == list(range(1, 9))
    manifest = json.loads((sweep / "sweep_results.json").read_text())
    assert manifest["n_runs"] == 1 and [r["run_id"] for r in manifest["runs"]] == ["0"]
    assert manifest["runs"][0]["epochs_run"] == 8 and not (sweep / "0" / "last.pt").exists()
    slurm.wait_for_empty_queue(timeout=30)
