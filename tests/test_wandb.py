"""logger=wandb: offline W&B runs read back through wandb's own record protobuf."""

from __future__ import annotations

import json
import os
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from conftest import DATA_DIR, REPO, TINY, run_train

wandb = pytest.importorskip("wandb")
from wandb.proto import wandb_internal_pb2  # noqa: E402

pytestmark = pytest.mark.integration

_BLOCK, _HEADER = 32768, 7  # LevelDB-log framing of a .wandb file (wandb ships no reader)
_FULL, _LAST = 1, 4


def wandb_env(root: Path) -> dict[str, str]:
    """Offline W&B with every file it writes inside ``root``."""
    env = {"WANDB_MODE": "offline", "WANDB_SILENT": "true", "WANDB_CONSOLE": "off"}
    for var in ("WANDB_DIR", "WANDB_CACHE_DIR", "WANDB_DATA_DIR", "WANDB_CONFIG_DIR"):
        env[var] = str(root / var.lower())
        Path(env[var]).mkdir(parents=True, exist_ok=True)
    return env


def records(path: Path):
    """The protobuf records of one ``run-<id>.wandb`` file."""
    data = path.read_bytes()
    assert data[:4] == b":W&B", f"{path} is not a W&B run file"
    pos, payload = _HEADER, b""
    while pos + _HEADER <= len(data):
        left = _BLOCK - pos % _BLOCK
        if left < _HEADER:  # block trailer padding
            pos += left
            continue
        _crc, length, kind = struct.unpack("<IHB", data[pos : pos + _HEADER])
        if kind == 0 and length == 0:
            break
        payload += data[pos + _HEADER : pos + _HEADER + length]
        pos += _HEADER + length
        if kind in (_FULL, _LAST):
            record = wandb_internal_pb2.Record()
            record.ParseFromString(payload)
            payload = b""
            yield record


def _key(item) -> str:
    return item.key or ".".join(item.nested_key)


def read_run(path: Path) -> dict:
    """A run file as {run, config, history, summary, artifacts, exit_code}."""
    out = {"run": None, "config": {}, "history": [], "summary": {}, "artifacts": [], "exit_code": None}
    for rec in records(path):
        kind = rec.WhichOneof("record_type")
        if kind == "run":
            out["run"] = rec.run
            out["config"].update({_key(i): json.loads(i.value_json) for i in rec.run.config.update})
        elif kind == "config":
            out["config"].update({_key(i): json.loads(i.value_json) for i in rec.config.update})
        elif kind == "history":
            out["history"].append({_key(i): json.loads(i.value_json) for i in rec.history.item})
        elif kind == "summary":
            out["summary"].update({_key(i): json.loads(i.value_json) for i in rec.summary.update})
        elif kind == "artifact":
            out["artifacts"].append(
                {
                    "name": rec.artifact.name,
                    "type": rec.artifact.type,
                    "aliases": list(rec.artifact.aliases),
                    "metadata": json.loads(rec.artifact.metadata or "{}"),
                }
            )
        elif kind == "exit":
            out["exit_code"] = rec.exit.exit_code
    return out


def offline_runs(root: Path) -> dict[str, dict]:
    """Every offline run under ``root``, by run id."""
    runs = {}
    for path in sorted({p.resolve() for p in root.rglob("offline-run-*/run-*.wandb")}):
        run = read_run(path)
        assert run["run"] is not None, f"{path} ({path.stat().st_size} bytes) holds no run record"
        runs[run["run"].run_id] = run
    return runs


def job_records(sweep_root: Path) -> dict[int, dict]:
    return {int(p.parent.name): json.loads(p.read_text()) for p in sweep_root.glob("outputs/sweeps/*/*/*/*/run.json")}


def hook_logs_models() -> bool:
    return "JobRegistered" in (REPO / "sweepkit" / "hooks.py").read_text()


# ------------------------------------------------------------------------- real sweeps
SECRET = "0123456789abcdef" * 2 + "deadbeef"  # a stand-in API key that must never reach a file


def test_multirun_logs_one_finished_run_per_job(tmp_path, capsys):
    env = {**wandb_env(tmp_path), "WANDB_API_KEY": SECRET}
    args = [
        "-m",
        "sweeper=grid",
        "logger=wandb",
        "logger.tags=[ci]",
        "sweepkit.top_k=1",
        *TINY,
        "trainer.max_epochs=2",
        "trainer.lr=1e-2,1e-5",
    ]
    result = run_train(args, tmp_path, env=env, timeout=300)
    assert result.returncode == 0, result.stderr[-3000:]

    jobs = job_records(tmp_path)
    runs = offline_runs(tmp_path)
    assert sorted(jobs) == [0, 1]
    assert len(runs) == 2, "two jobs in one process must give two W&B runs"
    assert {jobs[n]["wandb"]["id"] for n in jobs} == set(runs)
    sweep_dir = next(tmp_path.glob("outputs/sweeps/*/*/*"))
    manifest = json.loads((sweep_dir / "sweep_results.json").read_text())
    manifest_ids = {r["run_name"]: (r.get("wandb") or {}).get("id") for r in manifest["runs"]}

    for job in jobs.values():
        run = runs[job["wandb"]["id"]]
        assert job["wandb"]["url"] is None and job["wandb"]["mode"] == "offline"
        assert manifest_ids[job["run_name"]] == job["wandb"]["id"]
        meta = run["run"]
        assert meta.run_group == sweep_dir.name
        assert meta.display_name == job["run_name"]
        assert meta.job_type == "train" and meta.project == "sweepkit"
        assert set(meta.tags) == {"dmixer", "Solar", "grid", "ci"}
        # config: the resolved Hydra config, flattened with dotted keys
        assert run["config"]["trainer.lr"] == job["params"]["trainer.lr"]
        assert run["config"]["model.d_model"] == 8 and run["config"]["dataset.name"] == "Solar"
        assert "trainer" not in run["config"]
        # per-epoch history with the epoch as step
        assert [h["_step"] for h in run["history"]] == [1, 2]
        for logged, epoch in zip(run["history"], job["history"]):
            assert logged["epoch"] == epoch["epoch"]
            for key in ("train_loss", "val_loss", "val_mae", "lr"):
                assert logged[key] == pytest.approx(epoch[key])
        summary = run["summary"]
        assert summary["status"] == job["status"] == "complete"
        assert summary["best_val_loss"] == pytest.approx(job["best_value"])
        assert summary["best_epoch"] == job["best_epoch"]
        assert summary["test_mse"] == pytest.approx(job["test"]["mse"])
        assert summary["test_mae"] == pytest.approx(job["test"]["mae"])
        assert run["exit_code"] == 0
    for path in (tmp_path / "outputs").rglob("*"):  # configs, logs, run.json, the manifest
        assert not path.is_file() or SECRET.encode() not in path.read_bytes(), path
    from sweepkit.cli import main as sweepkit_main  # `sweepkit summarize` shows the W&B run

    capsys.readouterr()
    assert sweepkit_main(["summarize", str(sweep_dir)]) == 0
    summary_text = capsys.readouterr().out
    assert "wandb" in summary_text and manifest_ids[manifest["top"][0]["run_name"]] in summary_text

    if not hook_logs_models():
        pytest.skip("sweepkit/hooks.py does not publish JobRegistered yet")
    # top-k model artifacts: a job gets one exactly when it entered the top 1 at its end
    best_so_far = float("inf")
    for num in sorted(jobs):
        job, run = jobs[num], runs[jobs[num]["wandb"]["id"]]
        entered = job["best_value"] < best_so_far
        best_so_far = min(best_so_far, job["best_value"])
        if not entered:
            assert run["artifacts"] == []
            continue
        (artifact,) = run["artifacts"]
        assert artifact["name"] == f"{sweep_dir.name}-model" and artifact["type"] == "model"
        assert {"rank-1", "best"} <= set(artifact["aliases"])
        assert artifact["metadata"]["run_name"] == job["run_name"]
    top = manifest["top"][0]
    top_run = runs[manifest_ids[top["run_name"]]]
    assert {"rank-1", "best"} <= set(top_run["artifacts"][-1]["aliases"])


def test_failed_job_still_finishes_its_run(tmp_path):
    env = wandb_env(tmp_path)
    # job 1's grad_clip is not a number: it raises inside the training loop
    args = ["-m", "sweeper=grid", "logger=wandb", *TINY, "trainer.grad_clip=1.0,abc"]
    result = run_train(args, tmp_path, env=env, timeout=300)
    assert result.returncode != 0 and "ValueError" in result.stderr

    jobs = job_records(tmp_path)
    runs = offline_runs(tmp_path)
    assert len(runs) == 2
    assert jobs[1]["status"] == "failed"
    good, bad = runs[jobs[0]["wandb"]["id"]], runs[jobs[1]["wandb"]["id"]]
    assert good["summary"]["status"] == "complete" and good["exit_code"] == 0
    assert bad["summary"]["status"] == "failed" and bad["exit_code"] == 1
    assert "ValueError" in bad["summary"]["error"]


def test_online_without_key_fails_before_training(tmp_path):
    env = {
        k: v
        for k, v in {**os.environ, **wandb_env(tmp_path)}.items()
        if k not in ("WANDB_MODE", "WANDB_API_KEY", "WANDB_IDENTITY_TOKEN_FILE")
    }
    env.update(NETRC=str(tmp_path / "no.netrc"), HOME=str(tmp_path), SWEEPKIT_DATA_DIR=str(DATA_DIR))
    started = time.perf_counter()
    result = subprocess.run(
        [sys.executable, str(REPO / "train.py"), "logger=wandb", "logger.mode=online", *TINY],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode != 0
    assert "needs a W&B API key" in result.stderr and "wandb login" in result.stderr
    assert not list(tmp_path.rglob("run.json")), "no training may start"
    assert not list(tmp_path.rglob("*.wandb"))
    print(f"failed after {time.perf_counter() - started:.1f}s")


IMPORT_PROBE = """
import runpy, sys
sys.argv = ["train.py", *sys.argv[1:]]
try:
    runpy.run_path({train!r}, run_name="__main__")
finally:
    print("WANDB_IMPORTED", "wandb" in sys.modules)
"""


def test_logger_none_never_imports_wandb(tmp_path):
    env = {**os.environ, **wandb_env(tmp_path), "SWEEPKIT_DATA_DIR": str(DATA_DIR)}
    probe = IMPORT_PROBE.format(train=str(REPO / "train.py"))
    result = subprocess.run(
        [sys.executable, "-c", probe, "logger=none", *TINY],
        cwd=tmp_path,
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "WANDB_IMPORTED False" in result.stdout
    (record,) = [json.loads(p.read_text()) for p in tmp_path.rglob("run.json")]
    assert record["status"] == "complete" and record["wandb"] is None


# ------------------------------------------------------------- the logger in-process
@pytest.fixture(scope="module")
def offline_wandb(tmp_path_factory):
    """Offline W&B in this process, writing into a temp dir; torn down afterwards."""
    root = tmp_path_factory.mktemp("wandb")
    saved = dict(os.environ)
    os.environ.update(wandb_env(root))
    yield root
    wandb.teardown()
    os.environ.clear()
    os.environ.update(saved)


def _run_one(status: str, wait_for_hook: bool | None = None):
    from sweepkit.loggers.wandb import WandbLogger

    logger = WandbLogger({"name": "wandb", "project": "unit"}, wait_for_hook=wait_for_hook)
    info = logger.start({"model": {"name": "m"}}, run_name=f"unit_{status}", group="g", tags=["t"])
    for epoch in (1, 2):
        logger.log({"val_loss": 1.0 / epoch}, step=epoch)
    logger.finish(status, {"best_val_loss": 0.5, "best_epoch": 2})
    return info


def _find(root: Path, run_id: str) -> dict:
    wandb.teardown()  # W&B's service closes run files after finish() returns: wait for it
    return offline_runs(root)[run_id]


def test_pruned_run_is_finished_with_its_status(offline_wandb):
    info = _run_one("pruned")
    run = _find(offline_wandb, info["id"])
    assert run["summary"]["status"] == "pruned" and run["exit_code"] == 0
    assert run["config"]["model.name"] == "m"
    assert [h["val_loss"] for h in run["history"]] == [1.0, 0.5]


def test_finish_job_run_logs_top_k_model_and_ends_the_run(offline_wandb, tmp_path):
    from sweepkit.loggers.wandb import finish_job_run

    checkpoint = tmp_path / "rank_01_x_best_model.pth"
    checkpoint.write_bytes(b"weights")
    top = _run_one("complete", wait_for_hook=True)
    assert finish_job_run(1, checkpoint, "sweep 2024/01", {"metric_value": 0.5}) == "sweep-2024-01-model"
    outside = _run_one("complete", wait_for_hook=True)
    assert finish_job_run(None, None, "sweep 2024/01") is None
    assert finish_job_run(2, checkpoint, "s") is None  # no run waits any more: nothing happens

    logged, skipped = _find(offline_wandb, top["id"]), _find(offline_wandb, outside["id"])
    (artifact,) = logged["artifacts"]
    assert artifact["name"] == "sweep-2024-01-model" and artifact["type"] == "model"
    assert {"rank-1", "best"} <= set(artifact["aliases"])
    assert artifact["metadata"]["rank"] == 1 and artifact["metadata"]["metric_value"] == 0.5
    assert logged["summary"]["sweep_rank"] == 1 and logged["exit_code"] == 0
    assert skipped["artifacts"] == [] and skipped["exit_code"] == 0


def test_disabled_mode_logs_nothing(offline_wandb, monkeypatch):
    from sweepkit.loggers.wandb import WandbLogger

    monkeypatch.setenv("WANDB_MODE", "disabled")
    wandb.teardown()
    before = offline_runs(offline_wandb)
    logger = WandbLogger({"name": "wandb", "mode": "online"})  # the environment wins: no key needed
    assert logger.start({"a": 1}, run_name="off") is None
    logger.log({"val_loss": 1.0}, step=1)
    logger.finish("complete", {})
    wandb.teardown()
    assert offline_runs(offline_wandb).keys() == before.keys()


def test_a_waiting_run_is_finished_when_the_next_starts(offline_wandb):
    first = _run_one("complete", wait_for_hook=True)  # the hook never calls back
    second = _run_one("complete", wait_for_hook=False)
    assert first["id"] != second["id"]
    assert _find(offline_wandb, first["id"])["exit_code"] == 0
    assert _find(offline_wandb, second["id"])["exit_code"] == 0


def test_mode_and_credentials(monkeypatch, tmp_path):
    from sweepkit.errors import WandbSetupError
    from sweepkit.loggers.wandb import WandbLogger, artifact_name, flatten, resolve_mode

    monkeypatch.delenv("WANDB_MODE", raising=False)
    assert resolve_mode(None) == "offline" and resolve_mode("online") == "online"
    monkeypatch.setenv("WANDB_MODE", "disabled")
    assert resolve_mode("online") == "disabled"  # the environment wins
    monkeypatch.setenv("WANDB_MODE", "dryrun")
    assert resolve_mode(None) == "offline"
    monkeypatch.setenv("WANDB_MODE", "sometimes")
    with pytest.raises(WandbSetupError, match="WANDB_MODE='sometimes'"):
        resolve_mode(None)
    monkeypatch.setenv("WANDB_MODE", "online")
    monkeypatch.setenv("WANDB_API_KEY", "")
    monkeypatch.setenv("NETRC", str(tmp_path / "none"))
    monkeypatch.setenv("HOME", str(tmp_path))
    with pytest.raises(WandbSetupError, match="needs a W&B API key"):
        WandbLogger({"name": "wandb"})
    assert flatten({"a": {"b": 1, "c": {"d": [1, 2]}}, "e": {}}) == {"a.b": 1, "a.c.d": [1, 2], "e": {}}
    assert artifact_name("dmixer/Solar 2024-01-01_10:00") == "dmixer-Solar-2024-01-01_10-00-model"
