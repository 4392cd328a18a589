"""The global top-k manifest of a sweep: :class:`SweepManager` and its file formats.

See ``docs/manifest.md`` for the files a sweep directory holds and their fields.
"""

from sweepkit.manifest._manager import (
    WRITE_EVERY,
    RANKED_STATUSES,
    STATUSES,
    SweepManager,
    job_dirs_with_records,
    job_run_id,
    read_run_json,
    read_settings,
    summary_dict,
)
from sweepkit.manifest._files import KEPT_DIR
from sweepkit.manifest._store import (
    BEST_DIR,
    FAULT_ENV,
    LOG_NAME,
    RESULTS_NAME,
    SUMMARY_NAME,
    ManifestCorruptError,
    ManifestError,
    latest_records,
    read_log,
    read_manifest,
)

__all__ = [
    "SweepManager", "ManifestError", "ManifestCorruptError", "read_manifest", "latest_records",
    "read_run_json", "job_run_id", "read_log", "WRITE_EVERY", "summary_dict", "STATUSES", "RANKED_STATUSES",
    "BEST_DIR", "LOG_NAME", "RESULTS_NAME", "SUMMARY_NAME", "FAULT_ENV", "KEPT_DIR",
    "read_settings", "job_dirs_with_records",
]
