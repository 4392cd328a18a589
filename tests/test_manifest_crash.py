"""SIGKILL at every step of a registration, and at random moments: nothing ranked is lost."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import shutil
import signal
import time
from pathlib import Path

import pytest

from sweepkit import SweepManager
from sweepkit.manifest import read_manifest
from sweepkit.testing import FAULT_ENV

from manifest_helpers import FAULT_POINTS, assert_invariants, read_log_ids, register

pytestmark = pytest.mark.integration


def _register_and_die(sweep_dir: str, point: str) -> None:
    os.environ[FAULT_ENV] = point
    register(SweepManager(sweep_dir, top_k=3), "new", 0.15)


def _holding(sweep: Path, run_id: str) -> list[Path]:
    tag = f"ckpt:{run_id}".encode()
    return [
        p
        for p in sweep.rglob("*")
        if p.is_file() and not p.is_symlink() and p.stat().st_size == len(tag) and p.read_bytes() == tag
    ]


@pytest.mark.parametrize("then", ["register", "repair"])
@pytest.mark.parametrize("point", FAULT_POINTS)
def test_kill_between_steps(tmp_path, point, then):  # invariant 4
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=3)
    for rid, value in [("a", 0.1), ("b", 0.2), ("c", 0.3)]:
        register(manager, rid, value)
    proc = mp.get_context("fork").Process(target=_register_and_die, args=(str(sweep), point))
    proc.start()
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL
    assert read_manifest(sweep / "sweep_results.json") is not None  # parses
    logged = "new" in read_log_ids(sweep)
    assert logged == (point not in ("before_log_append", "mid_log_append"))
    expected = ["a", "new", "b"] if logged else ["a", "b", "c"]
    for rid in expected:  # no checkpoint of a top-k run is lost
        assert len(_holding(sweep, rid)) == 1, rid
    if then == "register":
        if not logged:
            shutil.rmtree(sweep / "jobs" / "new")  # the run never registered: its job retries
        assert register(manager, "later", 0.9) is False
    else:
        manager.repair()
        if not logged:
            shutil.rmtree(sweep / "jobs" / "new")
    assert_invariants(sweep, expected)
    assert manager.load_runs()[-1]["run_id"] in ("later", "new", "c")


def _register_forever(sweep_dir: str, start: int) -> None:
    manager = SweepManager(sweep_dir, top_k=3)
    i = start
    while True:
        register(manager, f"r{i:05d}", random.Random(i).random())
        i += 1


def test_kill_at_random_moments(tmp_path):  # invariant 4
    sweep = tmp_path / "sweep"
    ctx = mp.get_context("fork")
    rng = random.Random(7)
    for round_ in range(12):
        proc = ctx.Process(target=_register_forever, args=(str(sweep), round_ * 1000))
        proc.start()
        time.sleep(rng.uniform(0.02, 0.3))
        os.kill(proc.pid, signal.SIGKILL)
        proc.join(10)
        assert read_manifest(sweep / "sweep_results.json") is not None
    logged = set(read_log_ids(sweep))
    for job in (sweep / "jobs").iterdir():
        if job.name not in logged:  # made but never registered
            shutil.rmtree(job)
    manager = SweepManager(sweep, top_k=3)
    expected = sorted(logged, key=lambda rid: random.Random(int(rid[1:])).random())[:3]
    assert [e["run_id"] for e in manager.get_best_models()] == expected
    # a kill after the log append leaves the loser's file until the next write finishes the
    # registration (invariant 4); a read never does it (invariant 9)
    manager.finalize(reconcile=False)
    assert_invariants(sweep, expected)
    assert {r["run_id"] for r in manager.load_runs()} == logged
    assert logged  # some rounds registered before their kill


def _register_loser_and_die(sweep_dir: str, point: str) -> None:
    os.environ[FAULT_ENV] = point
    register(SweepManager(sweep_dir, top_k=3), "loser", 0.9)


@pytest.mark.parametrize("point", ["before_log_append", "after_log_append", "after_apply"])
def test_kill_while_the_manifest_lags_the_log(tmp_path, point):  # invariants 2 and 4
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=3)
    for rid, value in [("a", 0.1), ("b", 0.2), ("c", 0.3), ("x0", 0.8), ("x1", 0.7)]:
        register(manager, rid, value)  # x0, x1 rank nowhere: the file may not reflect them
    proc = mp.get_context("fork").Process(target=_register_loser_and_die, args=(str(sweep), point))
    proc.start()
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL
    logged = "loser" in read_log_ids(sweep)  # after_apply may fire while replaying x0/x1
    assert logged == (point == "after_log_append") or point == "after_apply"
    if not logged:
        shutil.rmtree(sweep / "jobs" / "loser")  # never registered: its job retries
    assert register(manager, "later", 0.95) is False
    doc = assert_invariants(sweep, ["a", "b", "c"])  # the loser's checkpoint is gone too
    n = 6 + logged
    assert doc["n_runs"] == n and doc["counts"] == {"complete": n}
    assert doc["disk"]["deleted_checkpoints"] == n - 3  # each deletion counted once
