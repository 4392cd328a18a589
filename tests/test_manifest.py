"""SweepManager on real files: ranking, clean-up, bad input, corruption, formats."""

from __future__ import annotations

import json
import os
import shutil
from pathlib import Path

import pytest

from sweepkit import SweepManager
from sweepkit.manifest import ManifestCorruptError, read_manifest
from sweepkit.manifest._manager import WRITE_EVERY

from manifest_helpers import all_checkpoints, assert_invariants, make_job, register


@pytest.fixture
def manager(tmp_path: Path) -> SweepManager:
    return SweepManager(tmp_path / "sweep", top_k=3)


def test_top_k_ranked_files_match_manifest(manager):  # invariants 1 and 2
    values = {"a": 0.5, "b": 0.2, "c": 0.9, "d": 0.1, "e": 0.3}
    returned = {rid: register(manager, rid, v) for rid, v in values.items()}
    assert returned == {"a": True, "b": True, "c": True, "d": True, "e": True}  # top 3 when registered
    doc = assert_invariants(manager.sweep_dir, ["d", "b", "e"])
    assert [e["run_id"] for e in manager.get_best_models()] == ["d", "b", "e"]
    assert [e["run_id"] for e in manager.get_best_models(k=1)] == ["d"]
    assert Path(manager.get_best_models()[0]["checkpoint"]).is_absolute()
    # configs and logs of runs outside the top k stay; their checkpoints do not
    assert (manager.sweep_dir / "jobs" / "c" / "config.yaml").exists()
    assert not (manager.sweep_dir / "jobs" / "c" / "best_model.pth").exists()
    assert doc["n_runs"] == 5 and doc["counts"] == {"complete": 5}
    assert doc["disk"]["deleted_checkpoints"] == 2
    assert doc["disk"]["reclaimed_bytes"] == len(b"ckpt:a") + len(b"ckpt:c")
    assert doc["best"]["run_id"] == "d"


def test_rerank_demotes_rank3_and_renames_consistently(manager):
    for rid, v in [("a", 0.1), ("b", 0.2), ("c", 0.3)]:
        register(manager, rid, v)
    best = manager.sweep_dir / "best_models"
    assert (best / "rank_03_runc_best_model.pth").exists()
    inode_b = (best / "rank_02_runb_best_model.pth").stat().st_ino
    assert register(manager, "n", 0.15) is True
    assert_invariants(manager.sweep_dir, ["a", "n", "b"])
    assert not (best / "rank_03_runc_best_model.pth").exists()
    assert (best / "rank_03_runb_best_model.pth").stat().st_ino == inode_b  # renamed, not copied
    assert register(manager, "w", 0.99) is False  # worse than all: its checkpoint goes
    assert_invariants(manager.sweep_dir, ["a", "n", "b"])


def test_ties_rank_by_registration_order_and_mode_max(tmp_path):
    low = SweepManager(tmp_path / "min", top_k=2)
    for rid in ["first", "second", "third"]:
        register(low, rid, 0.5)
    assert_invariants(low.sweep_dir, ["first", "second"])
    high = SweepManager(tmp_path / "max", top_k=2, metric_name="val_acc", mode="max")
    for rid, v in [("a", 0.7), ("b", 0.9), ("c", 0.8), ("d", 0.9)]:
        register(high, rid, v)
    assert_invariants(high.sweep_dir, ["b", "d"])


@pytest.mark.parametrize(
    "kwargs",
    [
        {"top_k": 0},
        {"top_k": -1},
        {"top_k": True},
        {"top_k": "3"},
        {"mode": "avg"},
        {"mode": "MIN"},
        {"metric_name": ""},
    ],
)
def test_bad_settings_are_clear_errors(tmp_path, kwargs):
    with pytest.raises(ValueError, match=next(iter(kwargs))):
        SweepManager(tmp_path, **kwargs)


@pytest.mark.parametrize("value", [float("nan"), float("inf"), float("-inf"), None, "abc"])
def test_non_finite_metric_never_ranks(manager, value):  # invariant 5
    register(manager, "good", 0.5)
    assert register(manager, "bad", value) is False
    assert_invariants(manager.sweep_dir, ["good"])
    bad = next(r for r in manager.load_runs() if r["run_id"] == "bad")
    assert bad["metric_value"] is None and bad["status"] == "complete" and bad["rank"] is None
    assert json.loads((manager.sweep_dir / "sweep_results.json").read_text())  # strict JSON


def test_failed_and_killed_runs_recorded_never_ranked(manager):
    assert register(manager, "f", 0.01, status="failed", error="RuntimeError: boom") is False
    assert register(manager, "k", 0.02, status="killed") is False
    register(manager, "ok", 0.5, status="pruned")
    doc = assert_invariants(manager.sweep_dir, ["ok"])
    assert doc["counts"] == {"failed": 1, "killed": 1, "pruned": 1}
    assert next(r for r in manager.load_runs() if r["run_id"] == "f")["error"] == "RuntimeError: boom"
    with pytest.raises(ValueError, match="status"):
        register(manager, "x", 0.1, status="done")


def test_missing_checkpoint_or_config_is_clear_error(manager, tmp_path):
    with pytest.raises(FileNotFoundError, match="does not exist"):
        manager.register_model("r", "r", 0.1, tmp_path / "nope.pth", epoch=1)
    ckpt, _ = make_job(manager.sweep_dir, "r")
    with pytest.raises(FileNotFoundError, match="config"):
        manager.register_model("r", "r", 0.1, ckpt, tmp_path / "nope.yaml", epoch=1)
    # a failed run without its checkpoint is fine: recorded, not ranked
    assert manager.register_model("r2", "r2", None, tmp_path / "gone.pth", status="failed") is False
    assert not (manager.sweep_dir / "runs.jsonl").read_text().count('"r",')


@pytest.mark.parametrize("name", ["../../etc/passwd", "a/b/c", "we ird:na*me?", "..", "", "ü" * 300])
def test_unsafe_run_names_become_safe_file_names(manager, name):  # invariant 6
    ckpt, cfg = make_job(manager.sweep_dir, "r1")
    assert manager.register_model("r1", name, 0.1, ckpt, cfg, epoch=1)
    files = list((manager.sweep_dir / "best_models").iterdir())
    assert len(files) == 2
    for path in files:
        assert path.parent == manager.sweep_dir / "best_models" and len(path.name) < 200
        assert "/" not in path.name and ".." not in path.name
    assert_invariants(manager.sweep_dir, ["r1"])


def test_symlinked_checkpoint_outside_sweep_is_never_deleted(manager, tmp_path):  # invariant 6
    outside = tmp_path / "outside"
    outside.mkdir()
    for rid, value in [("top", 0.1), ("low", 0.9)]:
        target = outside / f"{rid}.pth"
        target.write_bytes(f"ckpt:{rid}".encode())
        job = manager.sweep_dir / "jobs" / rid
        job.mkdir(parents=True)
        (job / "best_model.pth").symlink_to(target)
        (job / "config.yaml").write_text(f"run: {rid}\n")
        manager.register_model(rid, rid, value, job / "best_model.pth", job / "config.yaml")
    register(manager, "x", 0.2)
    register(manager, "y", 0.3)  # demotes "top"? no: pushes "low" further out; then:
    register(manager, "z", 0.05)  # "top" still in; now register better runs to demote it
    register(manager, "w", 0.01)
    register(manager, "v", 0.02)
    assert [e["run_id"] for e in manager.get_best_models()] == ["w", "v", "z"]
    assert (outside / "top.pth").read_bytes() == b"ckpt:top"  # promoted by link, demoted: intact
    assert (outside / "low.pth").read_bytes() == b"ckpt:low"
    assert (manager.sweep_dir / "jobs" / "low" / "best_model.pth").is_symlink()  # link untouched


def test_checkpoint_outside_sweep_is_linked_not_moved(manager, tmp_path):  # invariants 6 and 8
    user_file = tmp_path / "mine.pth"
    user_file.write_bytes(b"ckpt:u")
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("run: u\n")
    assert manager.register_model("u", "u", 0.1, user_file, cfg)
    promoted = Path(manager.get_best_models()[0]["checkpoint"])
    assert promoted.stat().st_ino == user_file.stat().st_ino  # a hard link: no byte copy
    for i in range(3):
        register(manager, f"b{i}", 0.01 * i)
    assert user_file.read_bytes() == b"ckpt:u" and not promoted.exists()


def test_promotion_moves_the_file(manager):  # invariant 8: a rename on the same file system
    ckpt, cfg = make_job(manager.sweep_dir, "m")
    inode = ckpt.stat().st_ino
    manager.register_model("m", "m", 0.1, ckpt, cfg)
    assert Path(manager.get_best_models()[0]["checkpoint"]).stat().st_ino == inode
    assert not ckpt.exists()


def test_same_run_twice_is_an_update(manager):
    register(manager, "a", 0.5)
    register(manager, "b", 0.4)
    assert register(manager, "a", 0.1, status="complete")
    doc = assert_invariants(manager.sweep_dir, ["a", "b"])
    assert doc["n_runs"] == 2 and doc["counts"] == {"complete": 2}
    assert [r["metric_value"] for r in manager.load_runs()] == [0.1, 0.4]
    register(manager, "a", None, status="failed")  # the update takes it out of the ranking
    doc = assert_invariants(manager.sweep_dir, ["b"])
    assert doc["counts"] == {"complete": 1, "failed": 1} and doc["n_runs"] == 2
    assert len(manager.load_runs()) == 2


def test_user_files_in_sweep_are_never_deleted(manager):  # invariant 6
    best = manager.sweep_dir / "best_models"
    best.mkdir(parents=True)
    (best / "notes.txt").write_text("mine")
    (best / "my_model.pth").write_text("mine")
    for i in range(5):
        register(manager, f"r{i}", 1.0 - i / 10)
    manager.repair()
    assert (best / "notes.txt").read_text() == "mine" and (best / "my_model.pth").exists()


def test_corrupt_manifest_is_kept_aside_and_rebuilt_by_the_next_registration(manager):
    for i in range(4):
        register(manager, f"r{i}", i / 10)
    results = manager.sweep_dir / "sweep_results.json"
    broken = results.read_text()[:50]
    results.write_text(broken)
    with pytest.raises(ManifestCorruptError, match="sweep_results.json"):
        manager.get_best_models()  # a read names the problem and changes nothing
    assert results.read_text() == broken
    assert register(manager, "x", 0.05)  # a registration recovers by itself
    kept = list(manager.sweep_dir.glob("sweep_results.json.corrupt-*"))
    assert [p.read_text() for p in kept] == [broken]  # kept aside, not overwritten
    assert "recover" in (manager.sweep_dir / "sweep_manager.log").read_text()
    assert_invariants(manager.sweep_dir, ["r0", "x", "r1"])
    assert manager.state()["n_runs"] == 5


def test_corrupt_log_line_is_named_and_repaired(manager):
    for i in range(3):
        register(manager, f"r{i}", i / 10)
    log = manager.sweep_dir / "runs.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    log.write_bytes(lines[0] + b"{garbage\n" + b"".join(lines[1:]))
    with pytest.raises(ManifestCorruptError, match="runs.jsonl"):
        manager.load_runs()
    actions = manager.repair()
    assert any("dropped 1" in a for a in actions)
    assert list(manager.sweep_dir.glob("runs.jsonl.corrupt-*"))
    assert [r["run_id"] for r in manager.load_runs()] == ["r0", "r1", "r2"]
    assert_invariants(manager.sweep_dir, ["r0", "r1", "r2"])


def test_torn_last_log_line_is_tolerated_and_truncated(manager):
    register(manager, "a", 0.3)
    log = manager.sweep_dir / "runs.jsonl"
    with open(log, "ab") as handle:
        handle.write(b'{"run_id": "half", "sta')
    assert [r["run_id"] for r in manager.load_runs()] == ["a"]  # readers skip the torn tail
    register(manager, "b", 0.2)
    assert [json.loads(x)["run_id"] for x in log.read_text().splitlines()] == ["a", "b"]
    assert_invariants(manager.sweep_dir, ["b", "a"])


def test_manifest_stays_small_and_finalize_lists_all_readably(tmp_path):  # invariant 8
    manager = SweepManager(tmp_path / "big", top_k=2, fsync=False)
    results = manager.sweep_dir / "sweep_results.json"
    sizes = {}
    for i in range(150):
        manager.register_model(f"r{i}", f"r{i}", float(i), None, status="failed")
        sizes[i + 1] = results.stat().st_size
    assert sizes[150] - sizes[10] < 10  # top k and counts only: no per-run content
    doc = read_manifest(results)
    assert doc["runs_complete"] is False and "runs" not in doc
    assert 150 - WRITE_EVERY < doc["n_runs"] <= 150  # the file lags by a few non-ranking calls
    assert manager.state()["n_runs"] == 150  # caught up from the log
    assert len(results.read_text().splitlines()) == 1  # compact while the sweep runs
    assert len(manager.load_runs()) == 150  # readers see every run through the log
    doc = manager.finalize()
    assert doc["runs_complete"] and len(doc["runs"]) == 150
    text = results.read_text()
    assert text.startswith('{\n  "format": 2,') and json.loads(text) == doc  # indented for people
    assert (manager.sweep_dir / "sweep_summary.yaml").read_text().count("failed: 150") == 1


def test_reconcile_marks_unreported_jobs(tmp_path):
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=2)
    for num, status in [("0", "running"), ("1", "complete")]:
        job = sweep / num
        job.mkdir(parents=True)
        (job / "best_model.pth").write_bytes(f"ckpt:{num}".encode())
        (job / "run.json").write_text(
            json.dumps(
                {
                    "status": status,
                    "best_value": 0.1,
                    "best_epoch": 2,
                    "run_name": f"job{num}",
                    "checkpoint": str(job / "best_model.pth"),
                    "params": {"model.d_model": 8},
                }
            )
        )
    actions = manager.reconcile()
    assert len(actions) == 2 and manager.reconcile() == []
    runs = {r["run_id"]: r for r in manager.load_runs()}
    assert runs["0"]["status"] == "killed" and "killed" in runs["0"]["error"]
    assert runs["1"]["rank"] == 1 and runs["1"]["params"] == {"model.d_model": 8}
    assert all_checkpoints(sweep) == [sweep / "best_models" / "rank_01_job1_best_model.pth"]


def test_debug_logging_names_every_step(tmp_path, monkeypatch):
    quiet = SweepManager(tmp_path / "quiet", top_k=1)
    for i in range(2):
        register(quiet, f"r{i}", 1 - i)
    text = (quiet.sweep_dir / "sweep_manager.log").read_text()
    assert "register r1" in text and "lock acquire" not in text
    monkeypatch.setenv("SWEEP_DEBUG", "1")
    loud = SweepManager(tmp_path / "loud", top_k=1)
    for i in range(2):
        register(loud, f"r{i}", 1 - i)
    text = (loud.sweep_dir / "sweep_manager.log").read_text()
    for word in ("lock acquire", "lock release", "append runs.jsonl", "write ", "rename ", "delete "):
        assert word in text, word


def test_manifest_format_fields(manager):
    register(
        manager,
        "a",
        0.25,
        params={"model.d_model": 16},
        job_num=0,
        started_at=100.0,
        ended_at=160.0,
        data={"source": "file", "name": "Wind"},
        wandb={"id": "abc", "url": None},
        test={"mse": 0.3, "mae": 0.4},
        labels={"model": "dmixer", "dataset": "Wind"},
    )
    doc = json.loads((manager.sweep_dir / "sweep_results.json").read_text())
    for field in (
        "metric_name",
        "mode",
        "top_k",
        "created_at",
        "labels",
        "n_runs",
        "counts",
        "best",
        "top",
        "disk",
        "runs_complete",
        "log",
    ):
        assert field in doc, field
    assert "runs" not in doc and doc["top"][0]["run_id"] == "a"
    manager.finalize()
    doc = json.loads((manager.sweep_dir / "sweep_results.json").read_text())
    run = doc["runs"][0]
    assert run["duration_s"] == 60.0 and run["wandb"]["id"] == "abc" and run["rank"] == 1
    for field in (
        "run_id",
        "run_name",
        "job_num",
        "status",
        "metric_name",
        "metric_value",
        "best_epoch",
        "rank",
        "params",
        "checkpoint",
        "config",
        "test",
        "started_at",
        "ended_at",
        "duration_s",
        "data",
        "wandb",
        "error",
        "registered_at",
    ):
        assert field in run, field
    assert doc["labels"] == {"model": "dmixer", "dataset": "Wind"} and "model" not in doc


def _as_format_1(sweep: Path) -> None:
    """Rewrite a sweep's log, manifest and settings as format 1 wrote them: ``epoch``, the best
    epoch, where format 2 says ``best_epoch``; ``model`` and ``dataset`` where it says ``labels``."""
    log = sweep / "runs.jsonl"
    records = [json.loads(line) for line in log.read_text().splitlines()]
    for record in records:
        record["epoch"] = record.pop("best_epoch")
    log.write_text("".join(json.dumps(r) + "\n" for r in records))
    path = sweep / "sweep_results.json"
    doc = json.loads(path.read_text())
    for entry in [*doc["top"], *(doc.get("runs") or []), doc["best"]]:
        entry["epoch"] = entry.pop("best_epoch")
    doc.pop("labels")
    doc.update(format=1, log={**doc["log"], "size": log.stat().st_size}, model="mlp", dataset="spirals")
    path.write_text(json.dumps(doc))
    settings = sweep / ".sweepkit" / "settings.json"
    settings.write_text(json.dumps({**json.loads(settings.read_text()), "format": 1}))


@pytest.mark.parametrize("then", ["register", "repair"])
def test_a_format_1_sweep_is_read_continued_and_repaired_in_format_2(tmp_path, then):
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=2)
    for rid, value, best_epoch in [("a", 0.5, 2), ("b", 0.2, 3), ("c", 0.9, 1)]:
        register(manager, rid, value, best_epoch=best_epoch)
    manager.finalize()
    _as_format_1(sweep)
    old = read_manifest(sweep / "sweep_results.json")
    assert old["format"] == 2 and [(e["run_id"], e["best_epoch"]) for e in old["top"]] == [("b", 3), ("a", 2)]
    assert not any("epoch" in e for e in [*old["top"], *old["runs"], old["best"]])
    assert old["labels"] == {"model": "mlp", "dataset": "spirals"} and "model" not in old
    manager = SweepManager(sweep, top_k=2)
    if then == "register":
        ckpt, cfg = make_job(sweep, "d")
        assert manager.register_model("d", "rund", 0.1, ckpt, cfg, epoch=4)  # format 1's keyword
        expected = ["d", "b"]
    else:
        manager.repair()
        expected = ["b", "a"]
    state = assert_invariants(sweep, expected)
    epochs = {"a": 2, "b": 3, "c": 1, "d": 4}
    assert [e["best_epoch"] for e in state["top"]] == [epochs[r] for r in expected]
    registered = ["a", "b", "c", "d"] if then == "register" else ["a", "b", "c"]
    assert {r["run_id"]: r["best_epoch"] for r in manager.load_runs()} == {r: epochs[r] for r in registered}
    on_disk = json.loads((sweep / "sweep_results.json").read_text())
    assert on_disk["format"] == 2 and all("epoch" not in e and "best_epoch" in e for e in on_disk["top"])
    assert on_disk["labels"] == {"model": "mlp", "dataset": "spirals"} and "dataset" not in on_disk


def test_framework_import_does_not_pull_torch():
    import subprocess
    import sys

    code = (
        "import sys, sweepkit.manifest, sweepkit.hooks, sweepkit.tracker; "
        "print(any(m in sys.modules for m in ('torch', 'wandb', 'sweepkit.forecast')))"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert out.stdout.strip() == "False"


def test_read_only_reader_keeps_a_corrupt_manifest_in_place(manager):
    register(manager, "a", 0.1)
    results = manager.sweep_dir / "sweep_results.json"
    results.write_bytes(b"\xff{ torn")
    with pytest.raises(ManifestCorruptError, match="sweep_results.json") as err:
        read_manifest(results, move_corrupt=False)
    assert err.value.moved_to is None and err.value.reason
    assert results.read_bytes() == b"\xff{ torn"  # untouched
    with pytest.raises(ManifestCorruptError):
        read_manifest(results)  # the manager's default keeps it aside
    assert not results.exists() and list(manager.sweep_dir.glob("sweep_results.json.corrupt-*"))


def test_repair_of_a_moved_sweep_uses_the_job_dirs_own_checkpoint(tmp_path):
    old = tmp_path / "old"
    manager = SweepManager(old, top_k=2)
    for rid, value in [("0", 0.3), ("1", 0.2)]:
        job = old / rid
        job.mkdir(parents=True)
        (job / "best_model.pth").write_bytes(f"ckpt:{rid}".encode())
        (job / "config.yaml").write_text(f"run: {rid}\n")
        manager.register_model(rid, f"run{rid}", value, job / "best_model.pth", job / "config.yaml")
    # A registration logged whose files never moved (its process was killed after the append),
    # and a job whose checkpoint is a link: neither is touched through the old location.
    for rid, _value in [("2", 0.1), ("3", 0.05)]:
        (old / rid).mkdir()
        (old / rid / "config.yaml").write_text(f"run: {rid}\n")
    (old / "2" / "best_model.pth").write_bytes(b"ckpt:2")
    outside = tmp_path / "outside.pth"
    outside.write_bytes(b"ckpt:3")
    (old / "3" / "best_model.pth").symlink_to(outside)
    with open(old / "runs.jsonl", "ab") as log:
        for rid, value in [("2", 0.1), ("3", 0.05)]:
            log.write(
                (
                    json.dumps(
                        {
                            "run_id": rid,
                            "run_name": f"run{rid}",
                            "status": "complete",
                            "metric_name": "val_loss",
                            "metric_value": value,
                            "epoch": 1,
                            "seq": int(rid),
                            "source_checkpoint": str(old / rid / "best_model.pth"),
                            "source_config": str(old / rid / "config.yaml"),
                        }
                    )
                    + "\n"
                ).encode()
            )
    new = tmp_path / "moved"
    os.rename(old, new)
    actions = SweepManager(new, top_k=2).repair()
    assert outside.read_bytes() == b"ckpt:3"  # a link: never followed, moved or deleted
    assert (new / "3" / "best_model.pth").is_symlink()
    (new / "3" / "best_model.pth").unlink()  # a user's link: not sweepkit's to remove
    # the moved-sweep rule placed run 2: what a record ranked before (run 0) is kept aside, not deleted
    kept = list((new / "kept_by_sweepkit").iterdir())
    assert [p.read_bytes() for p in kept if p.suffix == ".pth"] == [b"ckpt:0"]
    assert any("kept best_models/rank_02_run0_best_model.pth" in a for a in actions), actions
    shutil.rmtree(new / "kept_by_sweepkit")
    assert_invariants(new, ["2", "1"])
    assert not (new / "2" / "best_model.pth").exists()  # moved into best_models/


def test_lock_timeout_is_a_clear_error_and_the_lock_stays_usable(tmp_path):
    from sweepkit.manifest._lock import FlockLock

    manager = SweepManager(tmp_path / "sweep", top_k=1, lock_timeout=0.2)
    manager.sweep_dir.mkdir()
    holder = FlockLock(manager.sweep_dir / ".sweep.lock", timeout=1)
    holder.acquire()  # another open file description: conflicts like another process would
    try:
        with pytest.raises(TimeoutError, match="could not lock"):
            register(manager, "a", 0.1)
    finally:
        holder.release()
    assert register(manager, "a", 0.1)  # the abandoned waiter gave the lock back
    assert_invariants(manager.sweep_dir, ["a"])


def test_reregistration_after_a_run_id_was_marked_but_never_logged(manager):
    register(manager, "a", 0.5)
    marker_dir = manager.sweep_dir / ".sweepkit" / "registered"
    from sweepkit.manifest._files import run_key

    os.link(marker_dir / ".anchor", marker_dir / run_key("ghost"))  # as a kill before the append
    assert not manager.is_registered("ghost")
    register(manager, "ghost", 0.4)
    register(manager, "a", 0.3)  # an update found through the log
    doc = assert_invariants(manager.sweep_dir, ["a", "ghost"])
    assert doc["n_runs"] == 2 and doc["counts"] == {"complete": 2}
    assert [r["seq"] for r in manager.load_runs()] == [0, 1] and manager.is_registered("a")


def test_manifest_write_deferred_while_the_top_k_stands(manager):
    """A registration that leaves the top k alone may skip rewriting sweep_results.json; the
    ranking in the file stays current and every reader sees exact counts through the log."""
    results = manager.sweep_dir / "sweep_results.json"
    for rid, value in [("a", 0.1), ("b", 0.2), ("c", 0.3)]:
        register(manager, rid, value)
    n = WRITE_EVERY - 1
    for i in range(n):  # none ranks: each deletes its checkpoint
        assert not register(manager, f"x{i}", 1.0 + i)
    on_disk = read_manifest(results)
    if on_disk["n_runs"] < 3 + n:  # deferred (unless a second passed on a slow machine)
        assert on_disk["log"]["size"] < (manager.sweep_dir / "runs.jsonl").stat().st_size
    doc = assert_invariants(manager.sweep_dir, ["a", "b", "c"])
    assert doc["n_runs"] == 3 + n and doc["counts"] == {"complete": 3 + n}
    assert doc["disk"]["deleted_checkpoints"] == n
    assert doc["disk"]["reclaimed_bytes"] == sum(len(f"ckpt:x{i}") for i in range(n))
    assert doc["log"]["size"] == (manager.sweep_dir / "runs.jsonl").stat().st_size
    register(manager, "d", 0.05)  # ranks: the file is written, caught up
    on_disk = read_manifest(results)
    assert on_disk["n_runs"] == 4 + n and [e["run_id"] for e in on_disk["top"]] == ["d", "a", "b"]
    assert on_disk["disk"]["deleted_checkpoints"] == n + 1  # c was demoted
    register(manager, "x0", 0.5, status="failed")  # an update is always written
    assert read_manifest(results)["counts"] == {"complete": 3 + n, "failed": 1}
    assert len(manager.load_runs()) == 4 + n and manager.finalize()["n_runs"] == 4 + n


def test_a_kept_checkpoint_keeps_its_own_suffix_through_reranks_and_repair(tmp_path):
    """A Lightning ``.ckpt`` stays a ``.ckpt`` (``rank_01_<run>_best_model.ckpt``), beside
    sweepkit's ``.pth``; re-ranking and a repair after the manifest is lost keep each suffix."""
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=2)

    def job(rid: str, name: str) -> Path:
        path = sweep / "jobs" / rid / name
        path.parent.mkdir(parents=True)
        path.write_bytes(f"ckpt:{rid}".encode())
        return path

    assert manager.register_model("a", "runa", 0.3, job("a", "epoch_004.ckpt"))
    assert manager.register_model("b", "runb", 0.2, job("b", "best_model.pth"))
    best = sweep / "best_models"
    assert sorted(os.listdir(best)) == ["rank_01_runb_best_model.pth", "rank_02_runa_best_model.ckpt"]
    assert manager.register_model("c", "runc", 0.1, job("c", "model.safetensors"))
    assert sorted(os.listdir(best)) == ["rank_01_runc_best_model.safetensors", "rank_02_runb_best_model.pth"]
    assert not (sweep / "jobs" / "a" / "epoch_004.ckpt").exists()  # out of the top 2: deleted
    (sweep / "sweep_results.json").unlink()
    shutil.rmtree(sweep / ".sweepkit")
    SweepManager(sweep, top_k=2).repair()
    state = SweepManager(sweep, top_k=2).state()
    assert [e["checkpoint"] for e in state["top"]] == [
        "best_models/rank_01_runc_best_model.safetensors",
        "best_models/rank_02_runb_best_model.pth",
    ]
    assert (sweep / state["top"][0]["checkpoint"]).read_bytes() == b"ckpt:c"
