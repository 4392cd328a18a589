"""Whether a sweep is running: one probe for every command (DESIGN.md invariant 13).

A sweep is alive while any of these holds, checked in this order:

1. its driver holds ``<sweep>/.sweepkit/driver.lock`` (``flock``; the kernel drops it when the
   driver dies), taken by the sweeper, or by the top-k callback for another sweeper;
2. a registration holds the manifest's lock ``<sweep>/.sweep.lock``;
3. a job holds its lock ``<job dir>/.job.lock`` (from the job's start to its end);
4. a job's ``run.json`` says ``running``, was written in the last ``RECENT_S`` seconds and is
   not in the manifest's log (a job on a host whose locks do not reach this one).

:func:`sweep_activity` asks; :func:`exclusive` is what a command that deletes or re-ranks holds
while it acts: it takes the driver lock itself, so no driver can start meanwhile, and refuses
(:class:`SweepRunningError`, naming the pid and host) when anything else is alive. Locks this
process holds already (a driver finishing its own sweep) do not count as another's.
"""

from __future__ import annotations

import json
import os
import socket
import stat
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterator

from sweepkit.errors import SweepRunningError
from sweepkit.records import (
    DRIVER_LOCK,
    INTERNAL_DIR,
    JOB_LOCK,
    LOCK_NAME,
    LOG_NAME,
    RUN_RECORD,
    STUDY_FILE,
    job_run_id,
    read_run_record,
)

try:
    import fcntl
except ImportError:  # not POSIX: no flock; the probe falls back on recent writes
    fcntl = None  # type: ignore[assignment]

#: A job whose ``run.json`` says running and was written this recently counts as alive.
RECENT_S = 600.0

#: Locks this process holds: real path -> [fd, holds]; taking one again only counts.
_held: dict[str, list[int]] = {}


@dataclass(frozen=True)
class Activity:
    """What keeps a sweep alive: ``what`` (``driver``, ``registration``, ``job 3``) and, where a
    lock file says, the holder's ``pid``, ``host`` and start time."""

    what: str
    pid: int | None = None
    host: str | None = None
    since: str | None = None

    def __str__(self) -> str:
        who = ", ".join(
            part
            for part in (
                f"pid {self.pid}" if self.pid is not None else "",
                f"host {self.host}" if self.host else "",
                f"since {self.since}" if self.since else "",
            )
            if part
        )
        return f"its {self.what} is alive" + (f" ({who})" if who else "")


def hold_lock(path: Path) -> int | None:
    """Take the ``flock`` on ``path`` for the life of this process (or :func:`release_lock`) and
    write this process's pid, host and time into it. Returns its fd, or None without flock.

    Raises :class:`SweepRunningError` when another live process holds it.
    """
    if fcntl is None:
        return None
    key = os.path.realpath(path)
    if key in _held:
        _held[key][1] += 1
        return _held[key][0]
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT | getattr(os, "O_NOFOLLOW", 0), 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        activity = _activity_of(fd, "driver" if path.name == DRIVER_LOCK else "job")
        os.close(fd)
        raise SweepRunningError(f"{path.parent} is in use: {activity}", activity) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    holder = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
    os.write(fd, json.dumps(holder).encode())
    _held[key] = [fd, 1]
    return fd


def release_lock(fd: int | None) -> None:
    """Give back one hold of a lock from :func:`hold_lock`; the last one closes it."""
    if fd is None:
        return
    for key, entry in list(_held.items()):
        if entry[0] == fd:
            entry[1] -= 1
            if entry[1] > 0:
                return
            del _held[key]
            break
    os.close(fd)  # closing drops the flock


def hold_driver_lock(sweep_dir: Path) -> int | None:
    """Take the sweep's driver lock (:func:`hold_lock`)."""
    return hold_lock(Path(sweep_dir) / INTERNAL_DIR / DRIVER_LOCK)


def release_driver_lock(fd: int | None, sweep_dir: Path | None) -> None:
    """Give back the driver lock; when it is the last hold and the launch left nothing in the
    sweep but sweepkit's own folder (it was refused before any job), remove that folder."""
    if fd is None or sweep_dir is None:
        release_lock(fd)
        return
    internal = Path(sweep_dir) / INTERNAL_DIR
    stub = False
    if _held.get(os.path.realpath(internal / DRIVER_LOCK), [fd, 2])[1] == 1:
        try:
            stub = os.listdir(sweep_dir) == [INTERNAL_DIR] and set(os.listdir(internal)) <= {DRIVER_LOCK, STUDY_FILE}
        except OSError:
            stub = False
    if stub:  # unlinked while still held: a launch racing this one is refused, not split
        for name in os.listdir(internal):
            os.unlink(internal / name)
        os.rmdir(internal)
    release_lock(fd)


def sweep_activity(sweep_dir: str | os.PathLike[str]) -> Activity | None:
    """What keeps the sweep alive now (the module's four checks, in order), or None."""
    sweep = Path(sweep_dir)
    driver = _held_elsewhere(sweep / INTERNAL_DIR / DRIVER_LOCK, "driver")
    if driver is not None:
        return driver
    if _held_elsewhere(sweep / LOCK_NAME, "registration", soft_ok=True) is not None:
        return Activity("registration")
    jobs = [sweep, *_job_dirs(sweep)]
    for job in jobs:
        held = _held_elsewhere(job / JOB_LOCK, "job" if job == sweep else f"job {job.name}")
        if held is not None:
            return held
    now = time.time()
    log: bytes | None = None  # the manifest's log, read once if a job says running
    for job in jobs:
        record = read_run_record(job) if (job / RUN_RECORD).exists() else None
        if record and record.get("status") == "running":
            age = now - _mtime(job / RUN_RECORD)
            if age >= RECENT_S:
                continue
            if log is None:
                log = _read(sweep / LOG_NAME)
            run_id = job_run_id(sweep, job, record)
            if b'"run_id":' + json.dumps(run_id).encode() in log:
                continue  # registered since (killed, e.g. by Ctrl-C): it ended
            what = "job" if job == sweep else f"job {job.name}"
            return Activity(f"{what} (its run.json says running, written {age:.0f} s ago)")
    return None


def _read(path: Path) -> bytes:
    try:
        return path.read_bytes()
    except OSError:
        return b""


def launch_refused(sweep_dir: Path, activity: Activity) -> str:
    """What a launch into a sweep whose driver is alive says (the sweeper and the callback)."""
    return (
        f"a sweep is already running in {sweep_dir} (pid {activity.pid or '?'} on host "
        f"{activity.host or '?'}, since {activity.since or '?'}). Wait for it to end, or choose "
        "another hydra.sweep.dir; the lock goes with the process that holds it, so a sweep whose "
        "driver died can be resumed at once."
    )


@contextmanager
def exclusive(sweep_dir: str | os.PathLike[str], action: str) -> Iterator[None]:
    """Hold the sweep's driver lock while ``action`` (a verb phrase: "delete it") runs, after
    checking that nothing else in the sweep is alive; else :class:`SweepRunningError`:
    "<sweep> is running: its driver is alive (pid 123, host h, since ...); <action> after it ends".
    """
    sweep = Path(sweep_dir)
    try:
        fd = hold_driver_lock(sweep) if sweep.is_dir() else None
    except SweepRunningError as exc:
        raise SweepRunningError(f"{sweep} is running: {exc.activity}; {action} after it ends", exc.activity) from None
    try:
        activity = sweep_activity(sweep)
        if activity is not None:
            raise SweepRunningError(f"{sweep} is running: {activity}; {action} after it ends", activity)
        yield
    finally:
        release_lock(fd)


def _held_elsewhere(path: Path, what: str, soft_ok: bool = False) -> Activity | None:
    """The holder of the ``flock`` on ``path`` when another process holds it, else None."""
    if os.path.realpath(path) in _held:
        return None
    try:
        if not stat.S_ISREG(os.lstat(path).st_mode):
            return None
    except OSError:
        return None
    if soft_ok and os.environ.get("SWEEPKIT_LOCK") == "soft":  # a soft lock is held while it exists
        return Activity(what)
    if fcntl is None:
        return None
    try:
        fd = os.open(path, os.O_RDONLY | getattr(os, "O_NOFOLLOW", 0))
    except OSError:
        return None
    try:
        fcntl.flock(fd, fcntl.LOCK_SH | fcntl.LOCK_NB)
    except OSError:
        return _activity_of(fd, what)
    finally:
        os.close(fd)  # closing releases our lock, if we got it
    return None


def _activity_of(fd: int, what: str) -> Activity:
    try:
        data = os.pread(fd, 4096, 0)
        holder: Any = json.loads(data) if data else {}
    except (OSError, ValueError):
        holder = {}
    if not isinstance(holder, dict):
        holder = {}
    pid = holder.get("pid")
    return Activity(
        what, pid if isinstance(pid, int) else None, holder.get("host") or None, holder.get("started") or None
    )


def _job_dirs(sweep: Path) -> list[Path]:
    try:
        return sorted(e for e in sweep.iterdir() if e.is_dir() and not e.is_symlink() and not e.name.startswith("."))
    except OSError:
        return []


def _mtime(path: Path) -> float:
    try:
        return os.stat(path).st_mtime
    except OSError:
        return 0.0
