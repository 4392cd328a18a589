"""The manifest never deletes a checkpoint it should keep, on the paths a user can take:
readers with another top_k, repair after lost or cut records, a kill in the first registration,
bad checkpoints, hand-deleted files, two launches into one sweep, copied sweeps (invariants 9-11).
Real files, real processes and real Hydra multiruns of the toy app."""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import stat
import subprocess
import time
from pathlib import Path

import pytest
from test_sweeper_runs import jobs, load_study, run_toy, toy_command, toy_env

from sweepkit.cli import main as cli_main
from sweepkit.manifest import ManifestError, SweepManager, read_manifest
from sweepkit.testing import FAULT_ENV

from manifest_helpers import all_checkpoints, assert_invariants, make_job, register

pytestmark = pytest.mark.integration

TOPK = ["++hydra.callbacks.topk._target_=sweepkit.hooks.TopKCallback"]


def snapshot(root: Path) -> dict[str, tuple]:
    """Every entry under ``root``: kind, size, mtime and a content hash (files)."""
    out = {}
    for path in sorted(root.rglob("*")):
        st = os.lstat(path)
        digest = hashlib.sha1(path.read_bytes()).hexdigest() if stat.S_ISREG(st.st_mode) else ""
        out[str(path.relative_to(root))] = (stat.S_IFMT(st.st_mode), st.st_size, st.st_mtime_ns, digest)
    return out


def hydra_like_sweep(sweep: Path, values: list[float], top_k: int = 3) -> SweepManager:
    """Jobs 0..n-1 in the layout the Hydra hook registers: <sweep>/<n>/run.json + checkpoint."""
    manager = SweepManager(sweep, top_k=top_k)
    for num, value in enumerate(values):
        job = sweep / str(num)
        (job / ".hydra").mkdir(parents=True)
        (job / ".hydra" / "config.yaml").write_text(f"run: {num}\n")
        (job / "best_model.pth").write_bytes(f"ckpt:{num}".encode())
        (job / "run.json").write_text(
            json.dumps(
                {
                    "run_name": f"job{num}",
                    "status": "complete",
                    "best_value": value,
                    "best_epoch": 1,
                    "epoch": 1,
                    "checkpoint": str(job / "best_model.pth"),
                }
            )
        )
        manager.register_job_dir(job)
    return manager


def assert_ranked_files(sweep: Path, n: int) -> None:
    """A toy sweep's best_models/ holds exactly its n ranked runs; no job keeps a checkpoint."""
    top = read_manifest(sweep / "sweep_results.json")["top"]
    assert len(top) == n
    assert sorted(p.name for p in (sweep / "best_models").glob("*.pth")) == sorted(
        Path(e["checkpoint"]).name for e in top
    )
    assert not list(sweep.glob("*/best_model.pth"))


def holding(sweep: Path, tag: str) -> list[Path]:
    data = f"ckpt:{tag}".encode()
    return [
        p
        for p in sweep.rglob("*")
        if p.is_file() and not p.is_symlink() and p.stat().st_size == len(data) and p.read_bytes() == data
    ]


# ------------------------------------------------------------------ 1. reads never delete
def test_reading_with_any_top_k_changes_nothing(tmp_path):  # invariant 9
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=10)
    for i in range(12):
        register(manager, f"r{i}", i / 100)
    (sweep / ".sweep.lock").unlink()
    before = snapshot(sweep)
    assert len(SweepManager(sweep).get_best_models(k=1)) == 1
    reader = SweepManager(sweep, top_k=3)  # the default top_k of the API, on a top_k=10 sweep
    assert [e["rank"] for e in reader.get_best_models()] == [1, 2, 3]
    assert reader.state()["top_k"] == 10 and len(reader.state()["top"]) == 10
    assert len(reader.load_runs()) == 12 and reader.is_registered("r3")
    SweepManager(sweep, top_k=2).close()
    assert snapshot(sweep) == before  # not even the lock file or the manager's log
    assert len(list((sweep / "best_models").glob("*.pth"))) == 10


def test_a_write_with_a_smaller_top_k_is_refused_and_prune_is_explicit(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=3)
    for i in range(3):
        register(manager, f"r{i}", i / 10)
    with pytest.raises(ManifestError, match="sweepkit prune --top-k 2"):
        register(SweepManager(sweep, top_k=2), "late", 0.5)
    assert len(all_checkpoints(sweep / "best_models")) == 3
    manager.finalize()
    before = snapshot(sweep / "best_models")
    assert cli_main(["prune", "--top-k", "2", str(sweep)]) == 0
    out = capsys.readouterr().out
    assert "rank_03_runr2_best_model.pth" in out and "dry run" in out
    assert snapshot(sweep / "best_models") == before
    assert cli_main(["prune", "--top-k", "2", "--live", str(sweep)]) == 0
    (sweep / "jobs" / "late" / "best_model.pth").unlink()  # the refused job's own file
    assert_invariants(sweep, ["r0", "r1"])
    assert SweepManager(sweep).top_k == 2
    assert register(SweepManager(sweep, top_k=2), "late", 0.05)  # now it is the sweep's own
    assert_invariants(sweep, ["r0", "late"])


def test_a_resume_with_a_smaller_top_k_stops_before_any_job(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["sweeper=bayes", "trainer.max_epochs=1", *TOPK]
    run_toy(sweep, *args, "hydra.sweeper.n_trials=3", "++hydra.callbacks.topk.top_k=3")
    kept = snapshot(sweep / "best_models")
    proc = run_toy(sweep, *args, "hydra.sweeper.n_trials=5", "++hydra.callbacks.topk.top_k=2", ok=False)
    assert proc.returncode != 0
    assert "top_k=3 (this launch: 2)" in proc.stderr and "sweepkit prune --top-k 2" in proc.stderr
    assert snapshot(sweep / "best_models") == kept
    assert sorted(jobs(sweep)) == [0, 1, 2]  # no job ran


# ------------------------------------------------------------------ 2. repair keeps the best
def test_repair_with_the_log_deleted_keeps_the_top_k(tmp_path):  # invariant 10
    sweep = tmp_path / "sweep"
    manager = hydra_like_sweep(sweep, [0.5, 0.2, 0.4, 0.1, 0.3, 0.6])
    manager.finalize()
    (sweep / "runs.jsonl").unlink()
    assert cli_main(["verify", "--repair", str(sweep)]) == 0
    assert_invariants(sweep, ["3", "1", "4"])
    assert {r["run_id"] for r in SweepManager(sweep).load_runs()} == {str(i) for i in range(6)}


def test_repair_with_the_log_and_manifest_runs_lost_uses_the_jobs_records(tmp_path):
    sweep = tmp_path / "sweep"
    hydra_like_sweep(sweep, [0.5, 0.2, 0.4, 0.1, 0.3, 0.6])  # compact manifest: no run list
    (sweep / "runs.jsonl").unlink()
    actions = SweepManager(sweep).repair()
    assert any("registered unreported job" in a for a in actions)
    assert_invariants(sweep, ["3", "1", "4"])
    assert len(SweepManager(sweep).load_runs()) == 6


def test_repair_with_the_log_cut_in_half_keeps_rank_1(tmp_path):
    sweep = tmp_path / "sweep"
    hydra_like_sweep(sweep, [0.5, 0.4, 0.6, 0.3, 0.7, 0.1])  # the best registered last
    log = sweep / "runs.jsonl"
    log.write_bytes(log.read_bytes()[: log.stat().st_size // 2])
    SweepManager(sweep).repair()
    assert_invariants(sweep, ["5", "3", "1"])


def test_repair_keeps_what_a_surviving_source_ranks_when_the_sources_disagree(tmp_path):
    sweep = tmp_path / "sweep"
    manager = hydra_like_sweep(sweep, [0.5, 0.2, 0.4, 0.1], top_k=2)  # top: 3, 1
    job = sweep / "4"  # a job that finished but never registered (its hook did not run)
    shutil.copytree(sweep / "0", job)
    (job / "best_model.pth").write_bytes(b"ckpt:4")
    (job / "run.json").write_text(
        json.dumps(
            {
                "run_name": "job4",
                "status": "complete",
                "best_value": 0.15,
                "best_epoch": 1,
                "checkpoint": str(job / "best_model.pth"),
            }
        )
    )
    log = sweep / "runs.jsonl"
    lines = log.read_bytes().splitlines(keepends=True)
    worse = dict(json.loads(lines[3]), metric_value=0.9)  # the log disagrees about job 3
    log.write_bytes(b"".join(lines[:3]) + b"{garbage\n" + (json.dumps(worse) + "\n").encode())
    actions = manager.repair()
    assert [e["run_id"] for e in manager.get_best_models()] == ["4", "1"]
    assert any("could not decide on 3" in a for a in actions), actions
    kept = sweep / "kept_by_sweepkit"
    assert [p.read_bytes() for p in kept.glob("*.pth")] == [b"ckpt:3"]  # kept, not deleted
    assert cli_main(["verify", str(sweep)]) == 1  # a person has to look at it


# ------------------------------------------------------------------ 3. the first registration
def _first_and_die(sweep_dir: str, point: str) -> None:
    os.environ[FAULT_ENV] = point
    register(SweepManager(sweep_dir, top_k=3), "first", 0.5)


@pytest.mark.parametrize("point", ["after_log_append", "after_stage", "before_manifest_write"])
def test_a_kill_in_the_first_registration_is_recovered_by_the_next(tmp_path, point):
    sweep = tmp_path / "sweep"
    proc = mp.get_context("fork").Process(target=_first_and_die, args=(str(sweep), point))
    proc.start()
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL
    assert not (sweep / "sweep_results.json").exists()
    manager = SweepManager(sweep, top_k=3)
    assert register(manager, "second", 0.4)
    assert_invariants(sweep, ["second", "first"])
    assert manager.state()["n_runs"] == 2


def test_a_sweep_whose_jobs_cannot_register_says_so_and_exits_non_zero(tmp_path):
    sweep = tmp_path / "sweep"
    sweep.mkdir()
    (sweep / "best_models").write_text("a file where the manifest needs a directory")
    proc = run_toy(sweep, "sweeper=bayes", "trainer.max_epochs=1", "hydra.sweeper.n_trials=2", *TOPK, ok=False)
    assert proc.returncode == 1
    assert "could not register the job" in proc.stderr
    assert "ERROR" in proc.stderr and "sweepkit verify" in proc.stderr
    assert all((sweep / str(n) / "best_model.pth").exists() for n in (0, 1))  # nothing lost


# ------------------------------------------------------------------ 4, 8. bad records
def test_a_directory_or_empty_checkpoint_is_refused_before_the_log(tmp_path):
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=2)
    register(manager, "good", 0.3)
    size = (sweep / "runs.jsonl").stat().st_size
    (sweep / "adir").mkdir()
    with pytest.raises(ValueError, match="is a directory"):
        manager.register_model("d", "d", 0.1, sweep / "adir")
    (sweep / "empty.pth").write_bytes(b"")
    with pytest.raises(ValueError, match="empty"):
        manager.register_model("e", "e", 0.1, sweep / "empty.pth")
    assert (sweep / "runs.jsonl").stat().st_size == size  # nothing reached the log
    (sweep / "empty.pth").unlink()
    assert not manager.register_model("s", "s", "0.01", make_job(sweep, "s")[0])  # text: no rank
    assert register(manager, "next", 0.2)
    assert_invariants(sweep, ["next", "good"])


def test_a_bad_line_already_in_the_log_does_not_break_later_registrations(tmp_path):
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=2)
    register(manager, "a", 0.3)
    (sweep / "adir").mkdir()
    poisoned = {
        "run_id": "p",
        "run_name": "p",
        "status": "complete",
        "metric_name": "val_loss",
        "metric_value": 0.01,
        "epoch": 1,
        "seq": 1,
        "source_checkpoint": str(sweep / "adir"),
        "source_config": None,
    }
    with open(sweep / "runs.jsonl", "a") as log:  # written by an older version
        log.write(json.dumps(poisoned) + "\n")
    assert register(manager, "b", 0.2)
    assert_invariants(sweep, ["b", "a"])
    assert (sweep / "adir").is_dir()


# ------------------------------------------------------------------ 5. hand-deleted rank file
@pytest.mark.parametrize("value", [0.25, 0.5])
def test_a_hand_deleted_rank_file_costs_no_valid_checkpoint(tmp_path, value):
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=3)
    for rid, v in [("a", 0.1), ("b", 0.2), ("c", 0.3)]:
        register(manager, rid, v)
    (sweep / "best_models" / "rank_01_runa_best_model.pth").unlink()
    assert register(manager, "d", value)  # a free place in the top 3, whatever its value
    expected = ["b", "d", "c"] if value < 0.3 else ["b", "c", "d"]
    assert_invariants(sweep, expected)


# ------------------------------------------------------------------ 6, 7. one driver; copies
def test_a_second_launch_into_a_running_sweep_is_refused(tmp_path):  # invariant 11
    sweep = tmp_path / "sweep"
    args = ["sweeper=bayes", "trainer.max_epochs=2", "epoch_seconds=4", *TOPK]
    first = subprocess.Popen(
        toy_command(sweep, *args, "hydra.sweeper.n_trials=2"),
        cwd=tmp_path,
        env=toy_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    deadline = time.time() + 60
    while not (sweep / "0" / ".hydra").exists():
        assert time.time() < deadline and first.poll() is None, "the first sweep never started"
        time.sleep(0.1)
    second = run_toy(sweep, *args, "hydra.sweeper.n_trials=4", ok=False)
    assert second.returncode != 0
    assert f"already running in {sweep} (pid {first.pid}" in second.stderr
    out, err = first.communicate(timeout=120)
    assert first.returncode == 0, out[-2000:] + err[-2000:]
    study = load_study(sweep)
    assert [t.state.name for t in study.trials] == ["COMPLETE", "COMPLETE"]
    assert_ranked_files(sweep, 2)
    run_toy(sweep, *args, "hydra.sweeper.n_trials=3")  # the first ended: a resume may run
    assert len(load_study(sweep).trials) == 3


def test_a_copied_sweep_resumes_its_own_study(tmp_path):  # invariant 11
    original = tmp_path / "runs" / "a" / "sweep"
    original.parent.mkdir(parents=True)
    args = ["sweeper=bayes", "trainer.max_epochs=1", *TOPK]
    run_toy(original, *args, "hydra.sweeper.n_trials=3")
    copy = tmp_path / "elsewhere" / "b" / "copy"
    copy.parent.mkdir(parents=True)
    shutil.copytree(original, copy, symlinks=True)
    before = {n: (copy / str(n) / "run.json").read_bytes() for n in range(3)}
    run_toy(copy, *args, "hydra.sweeper.n_trials=5")
    study = load_study(copy)
    assert len(study.trials) == 5 and sorted(jobs(copy)) == [0, 1, 2, 3, 4]
    assert {n: (copy / str(n) / "run.json").read_bytes() for n in range(3)} == before
    assert_ranked_files(copy, 3)
    assert_ranked_files(original, 3)  # the original is untouched by its copy
    assert len(load_study(original).trials) == 3


# ------------------------------------------------------------------ 8. smaller items
def test_a_trial_proposed_but_never_launched_is_not_lost_from_the_budget(tmp_path):
    import optuna

    sweep = tmp_path / "sweep"
    args = ["sweeper=bayes", "trainer.max_epochs=1", *TOPK]
    run_toy(sweep, *args, "hydra.sweeper.n_trials=2")
    study = load_study(sweep)
    orphan = study.ask()  # asked, then the sweep died before launching it: no job dir
    orphan.suggest_float("model.x", 0, 1)
    out = run_toy(sweep, *args, "hydra.sweeper.n_trials=4")
    assert "never launched" in out.stdout + out.stderr
    assert sorted(jobs(sweep)) == [0, 1, 3, 4]  # four jobs ran for n_trials=4
    finished = [t for t in load_study(sweep).trials if t.state == optuna.trial.TrialState.COMPLETE]
    assert len(finished) == 4 and SweepManager(sweep).state()["n_runs"] == 4


@pytest.mark.parametrize(
    "override, fragment",
    [
        ("hydra.sweeper.n_trials=0", "use an integer >= 1"),
        ("hydra.sweeper.direction=maximize", "mode='min'"),
    ],
)
def test_settings_that_would_mislead_fail_before_any_job(tmp_path, override, fragment):
    sweep = tmp_path / "sweep"
    proc = run_toy(sweep, "sweeper=bayes", *TOPK, override, ok=False)
    assert proc.returncode != 0 and fragment in proc.stderr
    assert not (sweep / "sweep_results.json").exists()
    assert not sweep.exists() or not jobs(sweep)


def test_a_storage_error_leaves_no_finished_sweep(tmp_path):
    sweep = tmp_path / "sweep"
    bad = tmp_path / "not_a_dir"
    bad.write_text("")
    proc = run_toy(sweep, "sweeper=bayes", *TOPK, f"hydra.sweeper.storage=journal://{bad}/j.log", ok=False)
    assert proc.returncode != 0 and "cannot open the study storage" in proc.stderr
    assert "Sweep finished" not in proc.stdout
    assert not (sweep / "sweep_results.json").exists()


def test_files_follow_the_umask_and_verify_reports_leftover_temp_files(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    old = os.umask(0o022)
    try:
        manager = SweepManager(sweep, top_k=2)
        register(manager, "a", 0.1)
        manager.finalize()
    finally:
        os.umask(old)
    for path in [
        sweep / "sweep_results.json",
        sweep / "sweep_summary.yaml",
        sweep / "runs.jsonl",
        *(sweep / "best_models").iterdir(),
    ]:
        assert stat.S_IMODE(path.stat().st_mode) == 0o644, path
    (sweep / ".sweep_results.json.123.tmp").write_text("{")  # ENOSPC mid-write
    assert cli_main(["verify", str(sweep)]) == 1
    assert "leftover temporary file .sweep_results.json.123.tmp" in capsys.readouterr().out
    assert cli_main(["verify", "--repair", str(sweep)]) == 0
    assert not list(sweep.glob(".sweep_*.tmp"))


def test_a_read_only_reader_needs_no_lock(tmp_path):
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=2)
    register(manager, "a", 0.1)
    (sweep / ".sweep.lock").unlink()
    os.chmod(sweep, 0o555)  # as root this does not stop writes: the lock file must not appear
    try:
        assert [e["run_id"] for e in SweepManager(sweep).get_best_models()] == ["a"]
    finally:
        os.chmod(sweep, 0o755)
    assert not (sweep / ".sweep.lock").exists()
    assert read_manifest(sweep / "sweep_results.json")["top_k"] == 2
