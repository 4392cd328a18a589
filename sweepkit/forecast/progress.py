"""Progress inside a training epoch: a bar on a terminal, plain periodic lines otherwise.

``trainer.progress``: ``auto`` (a tqdm bar when stderr is a terminal, else lines), ``bar``,
``log`` (a line every ``trainer.progress_every_s`` seconds, for pipes and SLURM logs) or
``none``. Both show the training windows per second.
"""

from __future__ import annotations

import logging
import sys
import time

log = logging.getLogger("sweepkit.train")

MODES = ("auto", "bar", "log", "none")


def resolve_mode(mode: str | None, stream=None) -> str:
    """``auto`` becomes ``bar`` on a terminal with tqdm installed, else ``log``."""
    mode = str(mode or "auto")
    if mode not in MODES:
        raise ValueError(f"trainer.progress must be one of {', '.join(MODES)}, got {mode!r}")
    if mode != "auto":
        return mode
    stream = stream or sys.stderr
    try:
        import tqdm  # noqa: F401
    except ImportError:
        return "log"
    return "bar" if getattr(stream, "isatty", lambda: False)() else "log"


class EpochProgress:
    """Counts one epoch's batches; ``update(windows)`` after each, ``close()`` at the end."""

    def __init__(
        self, mode: str, epoch: int, max_epochs: int, total_batches: int, every_s: float = 30.0, clock=time.perf_counter
    ) -> None:
        self.mode, self.epoch, self.max_epochs = mode, epoch, max_epochs
        self.total, self.every_s, self.clock = total_batches, float(every_s), clock
        self.batches = self.windows = 0
        self.started = self.last_line = clock()
        self.bar = None
        if mode == "bar":
            from tqdm import tqdm

            self.bar = tqdm(
                total=total_batches,
                desc=f"epoch {epoch}/{max_epochs}",
                unit="batch",
                leave=False,
                dynamic_ncols=True,
                file=sys.stderr,
            )

    def rate(self) -> float:
        """Training windows per second so far in this epoch."""
        elapsed = self.clock() - self.started
        return self.windows / elapsed if elapsed > 0 else 0.0

    def update(self, windows: int) -> None:
        self.batches += 1
        self.windows += int(windows)
        if self.bar is not None:
            self.bar.update(1)
            if self.batches % 10 == 0 or self.batches == self.total:
                self.bar.set_postfix_str(f"{self.rate():,.0f} windows/s", refresh=False)
        elif self.mode == "log":
            now = self.clock()
            if now - self.last_line >= self.every_s and self.batches < self.total:
                self.last_line = now
                left = (self.total - self.batches) * (now - self.started) / self.batches
                log.info(
                    "epoch %d/%d: %d/%d batches (%.0f%%), %s windows/s, ~%.0f s left in the epoch",
                    self.epoch,
                    self.max_epochs,
                    self.batches,
                    self.total,
                    100 * self.batches / self.total,
                    f"{self.rate():,.0f}",
                    left,
                )

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()
