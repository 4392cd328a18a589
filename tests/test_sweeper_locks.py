"""Stale-lock recovery: a process that dies (SIGKILL) while holding the study journal's lock or
the manifest's lock does not stop the next writer."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest

from sweepkit.manifest import SweepManager
from sweepkit.sweeper import _storage
from sweepkit.sweeper._storage import GRACE_ENV, LOCK_ENV, journal_lock, open_storage

pytestmark = pytest.mark.integration

REPO = Path(__file__).resolve().parents[1]
GRACE_S = 3


def hold_lock_and_die(code: str, env: dict[str, str]) -> None:
    """Run ``code`` (which takes a lock) in a child, wait until it holds it, then SIGKILL it."""
    script = f"{code}\nprint('locked', flush=True)\nimport time; time.sleep(120)"
    child = subprocess.Popen(
        [sys.executable, "-c", script],
        stdout=subprocess.PIPE,
        text=True,
        env={**os.environ, **env, "PYTHONPATH": str(REPO)},
        cwd=REPO,
    )
    try:
        assert child.stdout.readline().strip() == "locked"
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()


@pytest.mark.parametrize("kind", ["symlink", "open"])
def test_journal_lock_of_a_killed_process_is_broken_after_the_grace_period(tmp_path, monkeypatch, kind):
    journal = tmp_path / "optuna_journal.log"
    env = {LOCK_ENV: kind, GRACE_ENV: str(GRACE_S)}
    hold_lock_and_die(
        "from pathlib import Path; from sweepkit.sweeper._storage import journal_lock; "
        f"journal_lock(Path({str(journal)!r})).acquire()",
        env,
    )
    assert os.path.lexists(f"{journal}.lock"), "the dead holder's lock file stays behind"

    for name, value in env.items():
        monkeypatch.setenv(name, value)
    open_storage.cache_clear()
    storage = open_storage(f"journal://{journal}")
    assert type(storage._backend._lock) is type(journal_lock(journal))
    start = time.monotonic()
    study = optuna.create_study(storage=storage, study_name="s")  # writes: takes the lock
    study.tell(study.ask(), 1.0)
    waited = time.monotonic() - start
    open_storage.cache_clear()
    assert GRACE_S <= waited < GRACE_S + 10
    assert not os.path.lexists(f"{journal}.lock")
    reloaded = optuna.load_study(study_name="s", storage=open_storage(str(journal)))
    assert [t.value for t in reloaded.trials] == [1.0]
    open_storage.cache_clear()


@pytest.mark.parametrize("kind", ["flock", "soft"])
def test_manifest_lock_of_a_killed_process_does_not_block_registration(tmp_path, monkeypatch, kind):
    sweep = tmp_path / "sweep"
    sweep.mkdir()  # opening a manager creates nothing; its first registration does
    hold_lock_and_die(
        f"from sweepkit.manifest import SweepManager; SweepManager({str(sweep)!r}, lock={kind!r})._lock.acquire()", {}
    )
    monkeypatch.setenv("SWEEPKIT_LOCK", kind)
    start = time.monotonic()
    manager = SweepManager(sweep, top_k=1, lock_timeout=5)
    manager.register_model(run_id="a", run_name="a", metric_value=0.5, model_path=None, status="failed")
    assert time.monotonic() - start < 2  # flock: the kernel dropped it; soft: the dead pid is seen
    assert [r["run_id"] for r in manager.load_runs()] == ["a"]


def test_bad_journal_lock_settings_are_clear_errors(tmp_path, monkeypatch):
    monkeypatch.setenv(LOCK_ENV, "nfs")
    with pytest.raises(_storage.SweepConfigError, match="use 'symlink' \\(default\\) or 'open'"):
        journal_lock(tmp_path / "j.log")
    monkeypatch.setenv(LOCK_ENV, "open")
    monkeypatch.setenv(GRACE_ENV, "0")
    with pytest.raises(_storage.SweepConfigError, match="whole number of seconds >= 1"):
        journal_lock(tmp_path / "j.log")
