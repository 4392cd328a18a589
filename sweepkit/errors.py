"""sweepkit's exceptions: one base class, :class:`SweepkitError`.

Every error sweepkit raises on purpose derives from it, and its message is one line that names
the setting (or file), the value and what to do. Each also derives from the built-in exception it
was before (``ValueError`` for bad settings, ``RuntimeError`` for states), so code that caught
those still does.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

__all__ = [
    "BadReturn",
    "CliError",
    "ConfigError",
    "DataError",
    "ManifestCorruptError",
    "ManifestError",
    "SweepAborted",
    "SweepConfigError",
    "SweepRunningError",
    "SweepkitError",
    "WandbSetupError",
]


class SweepkitError(Exception):
    """Base of sweepkit's errors."""


class SweepConfigError(SweepkitError, ValueError):
    """A sweep setting that cannot work; raised before any job runs."""


class BadReturn(SweepkitError, ValueError):
    """The task's return value does not fit the study's objectives."""


class SweepAborted(SweepkitError, RuntimeError):
    """Too many trials failed: the sweep stops (the study stays consistent and resumable)."""


class ManifestError(SweepkitError, RuntimeError):
    """A sweep directory is not in a state the manager can work with."""


class ManifestCorruptError(ManifestError):
    """A manifest file does not parse. ``path`` names it; ``moved_to`` is where it was kept."""

    def __init__(self, message: str, path: Path, moved_to: Path | None = None, reason: str = "") -> None:
        super().__init__(message)
        self.path = path
        self.moved_to = moved_to
        self.reason = reason  # what is wrong with the file, in a few words

    @property
    def kept_as(self) -> str:
        """The name the file is kept under now (its own when it was not moved)."""
        return (self.moved_to or self.path).name


class SweepRunningError(SweepkitError, RuntimeError):
    """A command that deletes or re-ranks met a sweep that is running. ``activity`` (a
    ``sweepkit._liveness.Activity``) says what runs."""

    def __init__(self, message: str, activity: Any) -> None:
        super().__init__(message)
        self.activity = activity


class CliError(SweepkitError):
    """A failure the ``sweepkit`` command reports in one message (exit code 1)."""


class ConfigError(SweepkitError, ValueError):
    """A setting of the app (``model.*``, ``trainer.*``, ...) that cannot work; found before
    the data loads where it can be."""


class DataError(SweepkitError, ValueError):
    """A data file or dataset setting that cannot be used."""


class WandbSetupError(SweepkitError, RuntimeError):
    """The W&B settings cannot work (bad mode, no credentials for online mode)."""
