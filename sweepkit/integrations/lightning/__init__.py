"""sweepkit and Lightning: :class:`SweepkitCallback` connects a Trainer to a sweep
(``pip install 'sweepkit[lightning]'``), and :func:`recorded_best` reads which of a job's
checkpoints ModelCheckpoint recorded as its best, and :func:`best_model_score` its best value
(under ``ddp_spawn`` too). Loading this package imports neither Lightning
nor torch; the callback's name loads Lightning.
"""

from __future__ import annotations

from typing import Any

from sweepkit.integrations.lightning._checkpoint import best_model_score, recorded_best

__all__ = ["SweepkitCallback", "best_model_score", "recorded_best"]


def __getattr__(name: str) -> Any:
    if name == "SweepkitCallback":
        from sweepkit.integrations.lightning._callback import SweepkitCallback

        return SweepkitCallback
    raise AttributeError(f"module 'sweepkit.integrations.lightning' has no attribute {name!r}")
