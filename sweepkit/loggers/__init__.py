"""Experiment loggers. ``make_logger(cfg.logger)`` returns one; ``none`` logs nothing.

A logger has ``start(config, run_name, group, tags) -> dict | None`` (returns ``{"id", "url"}``
when the backend gives a run id), ``log(metrics, step)`` and ``finish(status, summary)``.
"""

from __future__ import annotations

from typing import Any


class NullLogger:
    """Logs nothing (``logger=none``)."""

    def start(
        self, config: dict, run_name: str, group: str | None = None, tags: list[str] | None = None
    ) -> dict | None:
        return None

    def log(self, metrics: dict[str, float], step: int) -> None:
        pass

    def finish(self, status: str, summary: dict[str, Any]) -> None:
        pass


def make_logger(cfg: Any):
    """Build the logger a ``logger`` config names (``name: none`` or ``name: wandb``)."""
    name = (cfg or {}).get("name", "none") if cfg is not None else "none"
    if name in (None, "none"):
        return NullLogger()
    if name == "wandb":
        from sweepkit.loggers.wandb import WandbLogger  # imported only when asked for

        return WandbLogger(cfg)
    raise ValueError(f"unknown logger {name!r}; choose logger=none or logger=wandb")
