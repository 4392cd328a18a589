"""GPU-aware trial slots, without GPUs: the machine's GPUs are stubbed at the detection boundary
($SWEEPKIT_GPUS_VISIBLE replaces `nvidia-smi -L`) and real multiruns of a tiny app record the
device each job received."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest
from test_sweeper_runs import REPO

from sweepkit.sweeper import SweepConfigError
from sweepkit.sweeper._gpus import GPUS_ENV, GpuSlots, build_slots, detect_gpus, resolve_gpus

pytestmark = pytest.mark.integration

GPU_APP = REPO / "tests" / "apps" / "gpu_app.py"


def run_gpu_app(sweep: Path, gpus_visible: str, *overrides: str, ok: bool = True):
    env = {**os.environ, "PYTHONPATH": str(REPO), "WANDB_MODE": "disabled", GPUS_ENV: gpus_visible}
    env.pop("CUDA_VISIBLE_DEVICES", None)
    command = [
        sys.executable,
        str(GPU_APP),
        "-m",
        f"hydra.searchpath=[file://{REPO / 'conf'}]",
        f"hydra.sweep.dir={sweep}",
        "sweeper=random",
        "hydra.sweeper.sampler.seed=0",
        *overrides,
    ]
    proc = subprocess.run(command, cwd=sweep.parent, env=env, capture_output=True, text=True, timeout=120)
    if ok:
        assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    return proc


def records(sweep: Path) -> dict[int, dict]:
    return {int(p.parent.name): json.loads(p.read_text()) for p in sweep.glob("*/gpu.json")}


def test_detection_stub_nvidia_smi_and_cuda_visible_devices(monkeypatch):
    monkeypatch.setenv(GPUS_ENV, "0,1,2")
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert detect_gpus() == ["0", "1", "2"] and resolve_gpus("auto") == ["0", "1", "2"]
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "2,0")  # auto: what this process may use
    assert resolve_gpus("auto") == ["2", "0"]
    assert resolve_gpus([1, 2]) == ["1", "2"] and resolve_gpus(None) is None
    monkeypatch.setenv("CUDA_VISIBLE_DEVICES", "")  # set but empty hides every GPU
    assert resolve_gpus("auto") is None
    monkeypatch.delenv(GPUS_ENV)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES")
    monkeypatch.setenv("PATH", "/nonexistent")  # no nvidia-smi: no GPU
    assert detect_gpus() == [] and resolve_gpus("auto") is None


def test_nvidia_smi_listing_is_parsed(monkeypatch, tmp_path):
    fake = tmp_path / "nvidia-smi"  # what `nvidia-smi -L` prints on a 2-GPU machine
    fake.write_text(
        "#!/bin/sh\necho 'GPU 0: NVIDIA H200 (UUID: GPU-1111)'\necho 'GPU 1: NVIDIA H200 (UUID: GPU-2222)'\n"
    )
    fake.chmod(0o755)
    monkeypatch.setenv("PATH", str(tmp_path))
    monkeypatch.delenv(GPUS_ENV, raising=False)
    monkeypatch.delenv("CUDA_VISIBLE_DEVICES", raising=False)
    assert detect_gpus() == ["0", "1"] and resolve_gpus("auto") == ["0", "1"]
    assert resolve_gpus(["GPU-2222"]) == ["GPU-2222"]
    with pytest.raises(SweepConfigError, match="GPU-3333"):
        resolve_gpus(["GPU-3333"])


@pytest.mark.parametrize(
    "setting, visible, fragment",
    [
        ([0, 5], "0,1", "names GPU(s) 5 that this machine does not have; its GPUs: 0, 1"),
        ([0], "", "its GPUs: none (nvidia-smi -L found no GPU)"),
        ([1, 1], "0,1", "each GPU may be listed once"),
    ],
)
def test_gpu_list_naming_missing_devices_is_refused(monkeypatch, setting, visible, fragment):
    monkeypatch.setenv(GPUS_ENV, visible)
    with pytest.raises(SweepConfigError) as err:
        resolve_gpus(setting)
    assert fragment in str(err.value)


def test_slots_spread_trials_evenly_and_slurm_assigns_its_own():
    slots = GpuSlots(["0", "1"])
    taken = [slots.acquire() for _ in range(4)]  # 4 trials in flight on 2 GPUs: two per GPU
    assert taken == ["0", "1", "0", "1"]
    slots.release("1")
    assert slots.acquire() == "1"
    assert slots.overrides("1") == ["++hydra.job.env_set.CUDA_VISIBLE_DEVICES=1"]
    with pytest.raises(SweepConfigError, match="placeholder"):
        GpuSlots(["0"], ["trainer.device=cuda:0"])
    assert build_slots([0, 1], None, slurm=True) is None  # SLURM: --gpus-per-node per array task


def test_parallel_trials_get_their_own_gpu(tmp_path):
    sweep = tmp_path / "async"
    run_gpu_app(
        sweep,
        "0,1,2",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.gpus=[0,2]",
        "epoch_seconds=0.4",
    )
    jobs = records(sweep)
    assert sorted(jobs) == list(range(6))
    assert {j["cuda_visible_devices"] for j in jobs.values()} == {"0", "2"}
    for a in jobs.values():  # two jobs running at the same time never share a GPU
        for b in jobs.values():
            if a is not b and a["started"] < b["ended"] and b["started"] < a["ended"]:
                assert a["cuda_visible_devices"] != b["cuda_visible_devices"], (a, b)
    assert any(
        a is not b and a["started"] < b["ended"] and b["started"] < a["ended"]
        for a in jobs.values()
        for b in jobs.values()
    ), "trials never overlapped"


def test_batches_auto_detection_and_a_device_override(tmp_path):
    # batch-synchronous (basic launcher): the two trials of each batch get GPUs 0 and 1
    sweep = tmp_path / "batch"
    run_gpu_app(sweep, "0,1", "hydra.sweeper.n_jobs=2", "hydra.sweeper.n_trials=4", "hydra.sweeper.gpus=auto")
    assert [records(sweep)[n]["cuda_visible_devices"] for n in range(4)] == ["0", "1", "0", "1"]
    # the job's own device setting instead of CUDA_VISIBLE_DEVICES
    sweep = tmp_path / "device"
    run_gpu_app(
        sweep,
        "0,1",
        "hydra.sweeper.n_jobs=2",
        "hydra.sweeper.n_trials=2",
        "hydra.sweeper.gpus=auto",
        "hydra.sweeper.gpu_overrides=['++device=cuda:{gpu}']",
    )
    jobs = records(sweep)
    assert [jobs[n]["device"] for n in range(2)] == ["cuda:0", "cuda:1"]
    assert {j["cuda_visible_devices"] for j in jobs.values()} == {None}


def test_bad_gpu_list_stops_before_any_job(tmp_path):
    sweep = tmp_path / "bad"
    proc = run_gpu_app(sweep, "0,1", "hydra.sweeper.n_trials=2", "hydra.sweeper.gpus=[0,7]", ok=False)
    assert proc.returncode != 0
    assert "hydra.sweeper.gpus=['0', '7'] names GPU(s) 7 that this machine does not have" in proc.stderr
    assert not sweep.exists() or not list(sweep.glob("[0-9]*")), "no job may start"
