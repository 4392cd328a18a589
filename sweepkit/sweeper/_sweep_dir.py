"""A sweep directory's identity: one live driver at a time, and the study it resumes.

``<sweep>/.sweepkit/driver.lock`` is held (``flock``) by the process that runs the sweep loop
for as long as it runs; the kernel drops it when that process dies, so a second launch into
the same directory is refused only while the first is alive (invariant 11).
``<sweep>/.sweepkit/study.json`` stores the study's name, so a copied or moved sweep resumes
its own study instead of starting one named after its new path.
"""

from __future__ import annotations

import json
import logging
import os
import socket
import time
from pathlib import Path
from typing import Any

from sweepkit._io import atomic_write_json
from sweepkit.records import INTERNAL_DIR
from sweepkit.sweeper._search_space import SweepConfigError
from sweepkit.sweeper._storage import default_study_name

try:
    import fcntl
except ImportError:  # not POSIX: no driver lock
    fcntl = None  # type: ignore[assignment]

log = logging.getLogger(__name__)

DRIVER_LOCK = "driver.lock"
STUDY_FILE = "study.json"


class SweepAlreadyRunning(SweepConfigError):
    """Another live process runs the sweep loop of this directory."""


def hold_driver_lock(sweep_dir: Path) -> int | None:
    """Take the sweep's driver lock for the life of this process; returns its fd (keep it open).

    Raises :class:`SweepAlreadyRunning` naming the holder when another live process has it.
    """
    if fcntl is None:
        return None
    path = Path(sweep_dir) / INTERNAL_DIR / DRIVER_LOCK
    path.parent.mkdir(parents=True, exist_ok=True)
    fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        holder = _holder(fd)
        os.close(fd)
        raise SweepAlreadyRunning(
            f"a sweep is already running in {sweep_dir} (pid {holder.get('pid', '?')} on host "
            f"{holder.get('host', '?')}, since {holder.get('started', '?')}). Wait for it to "
            "end, or choose another hydra.sweep.dir; the lock goes with the process that holds "
            "it, so a sweep whose driver died can be resumed at once."
        ) from None
    except BaseException:
        os.close(fd)
        raise
    os.ftruncate(fd, 0)
    os.write(
        fd,
        json.dumps(
            {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S")}
        ).encode(),
    )
    return fd


def release_driver_lock(fd: int | None) -> None:
    if fd is not None:
        os.close(fd)  # closing drops the flock


def _holder(fd: int) -> dict[str, Any]:
    try:
        data = os.pread(fd, 4096, 0)
        holder = json.loads(data) if data else {}
    except (OSError, ValueError):
        holder = {}
    return holder if isinstance(holder, dict) else {}


def resolve_study_name(sweep_dir: Path, configured: str | None) -> str:
    """The study this sweep directory runs: ``configured`` when given, else the one stored in
    the directory, else a new name from the directory's path (then stored)."""
    path = Path(sweep_dir) / INTERNAL_DIR / STUDY_FILE
    try:
        stored = json.loads(path.read_text()).get("study_name")
    except (OSError, ValueError, AttributeError):
        stored = None
    if configured and stored and configured != stored:
        log.warning(
            f"{sweep_dir} ran study {stored!r}; hydra.sweeper.study_name={configured!r} switches it to another study"
        )
    name = configured or stored or default_study_name(sweep_dir)
    if name != stored:
        path.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(path, {"study_name": name})
    return name


def check_callback_mode(config: Any, direction: str) -> None:
    """Refuse a top-k callback whose ``mode`` ranks the opposite way to the study."""
    from omegaconf import OmegaConf

    callbacks = OmegaConf.select(config, "hydra.callbacks", default=None) or {}
    expected = {"minimize": "min", "maximize": "max"}.get(direction)
    for name, callback in callbacks.items():
        target = str(OmegaConf.select(callback, "_target_", default="") or "")
        if not target.endswith("TopKCallback") or expected is None:
            continue
        mode = OmegaConf.select(callback, "mode", default="min")
        if mode is not None and mode != expected:  # null follows the direction
            raise SweepConfigError(
                f"hydra.sweeper.direction={direction} but the top-k manifest "
                f"(hydra.callbacks.{name}.mode) keeps the runs with the "
                f"{'lowest' if mode == 'min' else 'highest'} value (mode={mode!r}); set "
                f"mode={expected!r} (sweepkit.mode) or the other direction"
            )
