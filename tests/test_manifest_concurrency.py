"""Many real processes registering into one sweep: no update lost, exactly k checkpoints."""

from __future__ import annotations

import multiprocessing as mp
import os
import random
import shutil
import time

import pytest

from sweepkit import SweepManager
from sweepkit.testing import FAULT_ENV

from manifest_helpers import assert_invariants, register, run_in_processes

pytestmark = pytest.mark.integration

N_PROCS, PER_PROC, TOP_K = 16, 50, 3


def _value(proc: int, i: int) -> float:
    return random.Random(proc * 100_000 + i).random()


def _worker(sweep_dir: str, proc: int) -> None:
    manager = SweepManager(sweep_dir, top_k=TOP_K)
    for i in range(PER_PROC):
        register(manager, f"p{proc:02d}-{i:02d}", _value(proc, i))


def test_16_processes_x_50_registrations(tmp_path):  # invariants 1, 2 and 3
    sweep = tmp_path / "sweep"
    run_in_processes(_worker, sweep, N_PROCS)
    manager = SweepManager(sweep, top_k=TOP_K)
    runs = manager.load_runs()
    expected = {f"p{p:02d}-{i:02d}": _value(p, i) for p in range(N_PROCS) for i in range(PER_PROC)}
    assert len(runs) == N_PROCS * PER_PROC and {r["run_id"] for r in runs} == set(expected)
    best = sorted(expected, key=expected.get)[:TOP_K]
    doc = assert_invariants(sweep, best)
    assert doc["n_runs"] == N_PROCS * PER_PROC and doc["counts"] == {"complete": N_PROCS * PER_PROC}
    assert doc["disk"]["deleted_checkpoints"] == N_PROCS * PER_PROC - TOP_K
    assert manager.finalize()["runs_complete"]


def _die_holding_lock(sweep_dir: str) -> None:
    os.environ[FAULT_ENV] = "before_log_append"  # SIGKILL while the lock is held
    register(SweepManager(sweep_dir, top_k=TOP_K), "doomed", 0.1)


def test_lock_is_released_when_its_holder_is_killed(tmp_path):  # invariant 4
    sweep = tmp_path / "sweep"
    proc = mp.get_context("fork").Process(target=_die_holding_lock, args=(str(sweep),))
    proc.start()
    proc.join(30)
    assert proc.exitcode == -9
    start = time.monotonic()
    assert register(SweepManager(sweep, top_k=TOP_K, lock_timeout=5), "next", 0.2)
    assert time.monotonic() - start < 2
    shutil.rmtree(sweep / "jobs" / "doomed")  # never registered: its job would retry
    assert_invariants(sweep, ["next"])
