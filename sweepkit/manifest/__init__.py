"""The global top-k manifest of a sweep: :class:`SweepManager` and the readers of its files.

See ``docs/manifest.md`` for the files a sweep directory holds and their fields. File names and
statuses live in :mod:`sweepkit.records`.
"""

from sweepkit.errors import ManifestCorruptError, ManifestError, SweepRunningError
from sweepkit.manifest._files import is_the_recorded_file
from sweepkit.manifest._jobs import job_dirs_started
from sweepkit.manifest._manager import WRITE_EVERY, SweepManager
from sweepkit.manifest._reads import read_run_json, read_settings, read_state
from sweepkit.manifest._store import latest_records, read_log, read_manifest

__all__ = [
    "WRITE_EVERY",
    "ManifestCorruptError",
    "ManifestError",
    "SweepManager",
    "SweepRunningError",
    "is_the_recorded_file",
    "job_dirs_started",
    "latest_records",
    "read_log",
    "read_manifest",
    "read_run_json",
    "read_settings",
    "read_state",
]
