"""The sweep lock: an exclusive ``flock`` on ``<sweep>/.sweep.lock``, waited for in the kernel.

:func:`make_lock` builds the lock a manager takes; :mod:`sweepkit._liveness` asks, without
waiting, whether another process holds it now.
"""

from __future__ import annotations

import contextlib
import logging
import os
import sys
import threading
from pathlib import Path
from typing import Any, Iterator, Protocol

#: ``flock(2)`` exists here; elsewhere the sweep lock is ``filelock.FileLock``.
HAVE_FLOCK = sys.platform != "win32"
if HAVE_FLOCK:
    import fcntl

LOCK_KINDS = ("flock", "soft")


class SweepLock(Protocol):
    """What a manager needs of its lock (FlockLock and filelock's locks have it)."""

    @property
    def lock_file(self) -> str: ...

    @property
    def timeout(self) -> float | None: ...

    def acquire(self) -> Any: ...

    def release(self) -> Any: ...


def lock_kind(kind: str | None = None) -> str:
    """``kind``, else ``$SWEEPKIT_LOCK``, else ``"flock"``; a clear error for anything else."""
    kind = kind or os.environ.get("SWEEPKIT_LOCK", "flock")
    if kind not in LOCK_KINDS:
        raise ValueError(f"lock must be 'flock' or 'soft' (argument or $SWEEPKIT_LOCK), got {kind!r}")
    return kind


def make_lock(path: Path, kind: str | None, timeout: float) -> SweepLock:
    """The lock on ``path``: ``flock`` (default) or ``soft`` (``filelock.SoftFileLock``)."""
    import filelock

    kind = lock_kind(kind)
    if kind == "soft":
        return filelock.SoftFileLock(path, timeout=timeout, poll_interval=0.002)
    if not HAVE_FLOCK:
        return filelock.FileLock(path, timeout=timeout, poll_interval=0.001)
    return FlockLock(path, timeout)


@contextlib.contextmanager
def held(lock: SweepLock, log: logging.Logger) -> Iterator[None]:
    """Hold ``lock``; a :class:`TimeoutError` that says who to look for when it is not granted."""
    Path(lock.lock_file).parent.mkdir(parents=True, exist_ok=True)
    log.debug("lock acquire %s", lock.lock_file)
    try:
        lock.acquire()
    except TimeoutError as exc:
        raise TimeoutError(
            f"could not lock {lock.lock_file} within {lock.timeout} s; another "
            "process holds it (raise lock_timeout, or check for a hung process)"
        ) from exc
    try:
        yield
    finally:
        lock.release()
        log.debug("lock release %s", lock.lock_file)


class FlockLock:
    """An exclusive ``flock`` on ``path``; the kernel drops it when the holder dies.

    A waiter blocks in the kernel's ``flock`` (in a helper thread, so ``timeout`` still
    applies) and is woken when the holder releases; polling would leave the lock idle between
    tries. ``timeout`` None or negative waits forever. The lock file is opened per acquire, so
    a forked child never shares its parent's lock.
    """

    def __init__(self, path: str | os.PathLike[str], timeout: float | None) -> None:
        self.lock_file = str(path)
        self.timeout = timeout
        self._fd: int | None = None

    def acquire(self) -> None:
        fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            fd = self._wait(fd)  # from here the waiter owns (and on failure closes) the fd
        except BaseException:
            os.close(fd)
            raise
        self._fd = fd

    def release(self) -> None:
        fd, self._fd = self._fd, None
        if fd is not None:
            try:
                fcntl.flock(fd, fcntl.LOCK_UN)
            finally:
                os.close(fd)

    def _wait(self, fd: int) -> int:
        guard = threading.Lock()
        done = threading.Event()
        state: dict[str, Any] = {"error": None, "abandoned": False}

        def block() -> None:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX)
            except BaseException as exc:  # noqa: BLE001 - handed to the waiting thread
                state["error"] = exc
            with guard:
                if state["abandoned"] or state["error"] is not None:
                    os.close(fd)  # closing drops the lock if it was granted after all
                done.set()

        threading.Thread(target=block, name="sweepkit-lock-wait", daemon=True).start()
        timeout = None if self.timeout is None or self.timeout < 0 else self.timeout
        finished = False
        try:
            finished = done.wait(timeout)
        finally:
            with guard:
                if not done.is_set():
                    state["abandoned"] = True  # a timeout or an interrupt: stop waiting
                elif not finished and state["error"] is None:
                    os.close(fd)  # granted while we were interrupted: give it back
        if not finished:
            raise TimeoutError(f"could not lock {self.lock_file} within {timeout} s")
        if state["error"] is not None:
            raise state["error"]
        return fd
