"""A sweep directory's identity: one live driver at a time, and the study it resumes.

``<sweep>/.sweepkit/driver.lock`` is held (``flock``) by the process that runs the sweep loop
for as long as it runs; the kernel drops it when that process dies, so a second launch into
the same directory is refused only while the first is alive (invariant 11).
The study's name is written into ``multirun.yaml`` (and the jobs' Hydra configs), so a copied or
moved sweep resumes its own study, by any copy, instead of starting one named after its new
path; ``<sweep>/.sweepkit/study.json`` caches it.
"""

from __future__ import annotations

import json
import logging
from pathlib import Path
from typing import Any

from sweepkit import _liveness
from sweepkit._io import atomic_write_json, atomic_write_text
from sweepkit._settings import MODE_OF
from sweepkit.errors import SweepConfigError
from sweepkit.records import HYDRA_DIR, INTERNAL_DIR, MULTIRUN_CONFIG, STUDY_FILE
from sweepkit.sweeper._storage import default_study_name

log = logging.getLogger(__name__)


class SweepAlreadyRunning(SweepConfigError):
    """Another live process runs the sweep loop of this directory."""


def hold_driver_lock(sweep_dir: Path) -> int | None:
    """Take the sweep's driver lock for the life of this process; returns its fd (keep it open).

    Raises :class:`SweepAlreadyRunning` naming the holder when another live process has it.
    """
    try:
        return _liveness.hold_driver_lock(sweep_dir)
    except _liveness.SweepRunningError as exc:
        raise SweepAlreadyRunning(_liveness.launch_refused(sweep_dir, exc.activity)) from None


release_driver_lock = _liveness.release_driver_lock


def resolve_study_name(sweep_dir: Path, configured: str | None) -> str:
    """The study this sweep directory runs: ``configured`` when given, else the one the directory
    names, else a new name from the directory's path.

    The directory names its study in ``multirun.yaml`` (``hydra.sweeper.study_name``, written
    by :func:`write_multirun_config`) and in its jobs' ``.hydra/hydra.yaml``, files that any copy
    keeps; ``.sweepkit/study.json`` is a cache of it that a copy may lose (invariant 12).
    """
    sweep_dir = Path(sweep_dir)
    cache = sweep_dir / INTERNAL_DIR / STUDY_FILE
    try:
        cached = json.loads(cache.read_text()).get("study_name")
    except (OSError, ValueError, AttributeError):
        cached = None
    stored = cached or _named_study(sweep_dir)
    if configured and stored and configured != stored:
        log.warning(
            f"{sweep_dir} ran study {stored!r}; hydra.sweeper.study_name={configured!r} switches it to another study"
        )
    name = configured or stored or default_study_name(sweep_dir)
    if name != cached:
        cache.parent.mkdir(parents=True, exist_ok=True)
        atomic_write_json(cache, {"study_name": name})
    return name


def write_multirun_config(sweep_dir: Path, config: Any, study_name: str) -> None:
    """``multirun.yaml``: the sweep's composed config with the study it runs filled in, any
    password in a URL masked (``${oc.env:...}`` stays as written)."""
    from omegaconf import OmegaConf

    from sweepkit.sweeper._storage import redact

    data = OmegaConf.to_container(config, resolve=False)
    assert isinstance(data, dict)
    data.setdefault("hydra", {}).setdefault("sweeper", {})["study_name"] = study_name
    atomic_write_text(Path(sweep_dir) / MULTIRUN_CONFIG, redact(OmegaConf.to_yaml(data)))


def _named_study(sweep_dir: Path) -> str | None:
    """The study name that ``multirun.yaml`` or, failing it, a job's ``.hydra/hydra.yaml`` gives."""
    import yaml

    candidates = [sweep_dir / MULTIRUN_CONFIG]
    try:
        candidates += sorted(sweep_dir.glob(f"*/{HYDRA_DIR}/hydra.yaml"))[:3]
    except OSError:
        pass
    for path in candidates:
        try:
            doc = yaml.safe_load(path.read_text(encoding="utf-8"))
            name = doc["hydra"]["sweeper"]["study_name"]
        except (OSError, ValueError, yaml.YAMLError, KeyError, TypeError):
            continue
        if isinstance(name, str) and name and "${" not in name:
            return name
    return None


def check_callback_mode(config: Any, direction: str) -> None:
    """Refuse a top-k callback whose ``mode`` ranks the opposite way to the study."""
    from omegaconf import OmegaConf

    callbacks = OmegaConf.select(config, "hydra.callbacks", default=None) or {}
    expected = MODE_OF.get(direction)
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
