"""The global top-k manifest of a sweep: :class:`SweepManager` and the readers of its files.

See ``docs/manifest.md`` for the files a sweep directory holds and their fields. File names and
statuses live in :mod:`sweepkit.records`.
"""

from sweepkit._liveness import SweepRunningError
from sweepkit.manifest._manager import SweepManager, read_run_json, read_settings
from sweepkit.manifest._store import (
    ManifestCorruptError,
    ManifestError,
    latest_records,
    read_log,
    read_manifest,
)

__all__ = [
    "ManifestCorruptError",
    "ManifestError",
    "SweepManager",
    "SweepRunningError",
    "latest_records",
    "read_log",
    "read_manifest",
    "read_run_json",
    "read_settings",
]
