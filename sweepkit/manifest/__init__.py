"""The global top-k manifest of a sweep: :class:`SweepManager` and its file formats.

See ``docs/manifest.md`` for the files a sweep directory holds and their fields. The file names
and statuses are :mod:`sweepkit.records`' (the common ones re-exported here).
"""

from sweepkit.manifest._manager import (
    WRITE_EVERY,
    SweepManager,
    job_dirs_with_records,
    read_run_json,
    read_settings,
    summary_dict,
)
from sweepkit.manifest._store import (
    FAULT_ENV,
    ManifestCorruptError,
    ManifestError,
    latest_records,
    read_log,
    read_manifest,
)
from sweepkit.records import (
    BEST_DIR,
    FINISHED_STATUSES as STATUSES,
    KEPT_DIR,
    LOG_NAME,
    RANKED_STATUSES,
    RESULTS_NAME,
    SUMMARY_NAME,
    job_run_id,
)

__all__ = [
    "SweepManager", "ManifestError", "ManifestCorruptError", "read_manifest", "latest_records",
    "read_run_json", "job_run_id", "read_log", "WRITE_EVERY", "summary_dict", "STATUSES", "RANKED_STATUSES",
    "BEST_DIR", "LOG_NAME", "RESULTS_NAME", "SUMMARY_NAME", "FAULT_ENV", "KEPT_DIR",
    "read_settings", "job_dirs_with_records",
]
