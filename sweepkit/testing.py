"""Fault injection for sweepkit's crash tests: the one home of every fault point.

When ``$SWEEPKIT_FAULT_POINT`` names a step (``before_log_append``, ``after_stage``, ... see
``docs/manifest.md``), the process that reaches it kills itself with SIGKILL, or with
``$SWEEPKIT_FAULT_SIGNAL=INT`` interrupts itself (SIGINT: Ctrl-C, which unwinds). Unset in normal
use, where :func:`fault_point` is one dictionary lookup.
"""

from __future__ import annotations

import os
import signal

FAULT_ENV = "SWEEPKIT_FAULT_POINT"
FAULT_SIGNAL_ENV = "SWEEPKIT_FAULT_SIGNAL"

__all__ = ["FAULT_ENV", "FAULT_SIGNAL_ENV", "fault_point"]


def fault_point(name: str) -> None:
    """Kill (or, with ``$SWEEPKIT_FAULT_SIGNAL=INT``, interrupt) this process when
    ``$SWEEPKIT_FAULT_POINT`` equals ``name``."""
    if os.environ.get(FAULT_ENV) == name:
        os.kill(os.getpid(), signal.SIGINT if os.environ.get(FAULT_SIGNAL_ENV) == "INT" else signal.SIGKILL)
