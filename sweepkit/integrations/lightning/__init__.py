"""sweepkit and Lightning: :class:`SweepkitCallback` connects a Trainer to a sweep
(``pip install 'sweepkit[lightning]'``), and :func:`recorded_best` reads which of a job's
checkpoints ModelCheckpoint recorded as its best. Loading this package imports neither Lightning
nor torch; the callback's name loads Lightning.
"""

from __future__ import annotations

from typing import Any

from sweepkit.integrations.lightning._checkpoint import recorded_best

__all__ = ["SweepkitCallback", "recorded_best"]


def __getattr__(name: str) -> Any:
    if name == "SweepkitCallback":
        from sweepkit.integrations.lightning._callback import SweepkitCallback

        return SweepkitCallback
    raise AttributeError(f"module 'sweepkit.integrations.lightning' has no attribute {name!r}")
