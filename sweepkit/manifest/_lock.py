"""The sweep lock: an exclusive ``flock`` on ``<sweep>/.sweep.lock``, waited for in the kernel."""

from __future__ import annotations

import os
import threading

try:
    import fcntl
except ImportError:  # not POSIX: the caller falls back to filelock.FileLock
    fcntl = None


class FlockLock:
    """An exclusive ``flock`` on ``path``; the kernel drops it when the holder dies.

    A waiter blocks in the kernel's ``flock`` (in a helper thread, so ``timeout`` still
    applies) and is woken when the holder releases; polling would leave the lock idle between
    tries. ``timeout`` None or negative waits forever. The lock file is opened per acquire, so
    a forked child never shares its parent's lock.
    """

    def __init__(self, path: str | os.PathLike, timeout: float | None) -> None:
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
        state = {"error": None, "abandoned": False}

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
