"""How long a sweep has left: one rule for the sweeper's updates and ``sweepkit monitor``."""

from __future__ import annotations


def eta_seconds(done: int, remaining: int, elapsed: float, timeout: float | None = None) -> float | None:
    """Seconds until ``remaining`` more trials finish at the rate of the ``done`` ones.

    Trials pruned early count at what they cost, since the rate is trials finished per second
    of this run. With a time limit the ETA is at most the time left (trials running then still
    finish). None before any trial finished.
    """
    if remaining <= 0:
        return 0.0
    if done <= 0:
        return None
    eta = remaining * elapsed / done
    if timeout is not None:
        eta = min(eta, max(0.0, timeout - elapsed))
    return eta


def format_duration(seconds: float) -> str:
    """``42s``, ``7m05s``, ``1h02m``."""
    seconds = max(0, int(round(seconds)))
    if seconds < 60:
        return f"{seconds}s"
    if seconds < 3600:
        return f"{seconds // 60}m{seconds % 60:02d}s"
    return f"{seconds // 3600}h{seconds % 3600 // 60:02d}m"


def describe(elapsed: float, eta: float | None, timeout: float | None = None) -> str:
    """``elapsed 12m03s, ETA 30m10s``; ``(time limit)`` when the limit, not the budget, decides."""
    text = f"elapsed {format_duration(elapsed)}"
    if eta is not None:
        text += f", ETA {format_duration(eta)}"
        if timeout is not None and eta >= timeout - elapsed - 1e-9:
            text += " (time limit)"
    return text
