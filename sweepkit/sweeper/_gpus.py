"""GPU-aware trial slots: each trial in flight gets its own GPU on a multi-GPU machine.

``hydra.sweeper.gpus`` picks the devices (``null``: no assignment; ``auto``: the GPUs this
process may use; a list such as ``[0, 1]``). When a trial starts it takes the least-loaded
GPU and its job receives ``hydra.sweeper.gpu_overrides`` with ``{gpu}`` filled in (default
``++hydra.job.env_set.CUDA_VISIBLE_DEVICES={gpu}``, which Hydra sets in the job's environment).
With more trials in flight than GPUs, trials share GPUs evenly. On SLURM the scheduler gives
each array task its own GPU (``hydra.launcher.gpus_per_node``), so nothing is assigned here.
"""

from __future__ import annotations

import logging
import os
import subprocess
import threading
from typing import Any, Optional, Sequence

from sweepkit.errors import SweepConfigError

log = logging.getLogger("sweepkit.sweeper")

# The GPUs this machine has, as a comma list of ids: replaces `nvidia-smi -L` (tests, or a
# machine whose driver tools are not on PATH).
GPUS_ENV = "SWEEPKIT_GPUS_VISIBLE"
DEFAULT_OVERRIDES = ("++hydra.job.env_set.CUDA_VISIBLE_DEVICES={gpu}",)


def detect_gpus() -> list[str]:
    """Ids of the machine's GPUs: ``$SWEEPKIT_GPUS_VISIBLE``, else ``nvidia-smi -L``; [] if none."""
    if GPUS_ENV in os.environ:
        return [g.strip() for g in os.environ[GPUS_ENV].split(",") if g.strip()]
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    if out.returncode != 0:
        return []
    # "GPU 0: NVIDIA H100 80GB HBM3 (UUID: GPU-...)"; MIG devices are indented lines
    return [line.split(":", 1)[0].split()[1] for line in out.stdout.splitlines() if line.startswith("GPU ")]


def _uuids() -> list[str]:
    """The GPUs' UUIDs (``GPU-...``), which CUDA_VISIBLE_DEVICES accepts as well as indices."""
    if GPUS_ENV in os.environ:
        return []
    try:
        out = subprocess.run(["nvidia-smi", "-L"], capture_output=True, text=True, timeout=20)
    except (OSError, subprocess.TimeoutExpired):
        return []
    return [
        line.rsplit("UUID: ", 1)[1].rstrip(")")
        for line in out.stdout.splitlines()
        if line.startswith("GPU ") and "UUID: " in line
    ]


def resolve_gpus(setting: Any) -> Optional[list[str]]:
    """The GPU ids trials are spread over, or None for no assignment; a bad list is an error."""
    if setting is None or setting is False or str(setting).lower() in ("null", "none", ""):
        return None
    if str(setting).lower() == "auto":
        visible = os.environ.get("CUDA_VISIBLE_DEVICES")  # set but empty: no GPU may be used
        gpus = [g.strip() for g in visible.split(",") if g.strip()] if visible is not None else detect_gpus()
        if not gpus:
            log.info("hydra.sweeper.gpus=auto: no GPU found; trials get no GPU assignment")
            return None
        return gpus
    if isinstance(setting, (int, str)):
        wanted = [str(g).strip() for g in str(setting).split(",") if str(g).strip()]
    else:
        wanted = [str(g) for g in setting]
    if not wanted:
        return None
    if len(set(wanted)) != len(wanted):
        raise SweepConfigError(f"hydra.sweeper.gpus={wanted}: each GPU may be listed once")
    present = detect_gpus()
    missing = [g for g in wanted if g not in present]
    if missing and any(g.startswith(("GPU-", "MIG-")) for g in missing):
        missing = [g for g in missing if g not in _uuids()]
    if missing:
        have = ", ".join(present) if present else "none (nvidia-smi -L found no GPU)"
        raise SweepConfigError(
            f"hydra.sweeper.gpus={wanted} names GPU(s) {', '.join(missing)} that this machine "
            f"does not have; its GPUs: {have}. Use a subset, `auto`, or null."
        )
    return wanted


class GpuSlots:
    """Hands out the least-loaded GPU to each starting trial; thread-safe."""

    def __init__(self, gpus: Sequence[str], templates: Sequence[str] = DEFAULT_OVERRIDES) -> None:
        self.load = {gpu: 0 for gpu in gpus}
        self.templates = list(templates)
        self._lock = threading.Lock()
        for template in self.templates:
            if "{gpu}" not in template:
                raise SweepConfigError(f"hydra.sweeper.gpu_overrides entry {template!r} has no {{gpu}} placeholder")

    def acquire(self) -> str:
        with self._lock:
            gpu = min(self.load, key=lambda g: self.load[g])  # first listed among the least loaded
            self.load[gpu] += 1
            return gpu

    def release(self, gpu: Optional[str]) -> None:
        if gpu is None:
            return
        with self._lock:
            self.load[gpu] = max(0, self.load[gpu] - 1)

    def overrides(self, gpu: str) -> list[str]:
        return [template.replace("{gpu}", gpu) for template in self.templates]


def build_slots(setting: Any, templates: Any, slurm: bool) -> Optional[GpuSlots]:
    """The sweep's GPU slots, or None (no GPUs asked for, none found, or SLURM assigns them)."""
    if slurm and setting is not None:
        log.info(
            "hydra.sweeper.gpus: on SLURM each trial's job gets its GPUs from the scheduler "
            "(hydra.launcher.gpus_per_node); the sweeper assigns none"
        )
        return None
    gpus = resolve_gpus(setting)
    if gpus is None:
        return None
    slots = GpuSlots(gpus, list(templates) if templates else DEFAULT_OVERRIDES)
    log.info(f"GPU slots: trials spread over GPUs {', '.join(gpus)} via {slots.templates}")
    return slots
