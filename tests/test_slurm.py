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
        "sbatch", "--parsable", f"--output={out}",
        "--wrap", 'echo "$SLURM_JOB_ID $SLURM_JOB_PARTITION"',
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
        slurm_launcher_overrides(slurm) + [
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
