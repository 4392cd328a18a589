"""What sweepkit knows of Lightning's checkpoint format: the ``best_model_path`` that
ModelCheckpoint keeps in its callback state."""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any


def recorded_best(found: list[Path]) -> Path | None:
    """The file among ``found`` (oldest to newest) that ModelCheckpoint recorded as its
    ``best_model_path`` in the newest one; None when torch is not loaded (a job that never
    imported torch wrote no Lightning file), the newest is not a Lightning checkpoint, or the
    recorded file is not among ``found``."""
    if "torch" not in sys.modules:
        return None
    import torch

    try:
        state = torch.load(found[-1], map_location="cpu", weights_only=True, mmap=True)
    except Exception:
        return None
    callbacks = state.get("callbacks") if isinstance(state, dict) else None
    real = {os.path.realpath(p): p for p in found}
    for key, cb_state in (callbacks or {}).items():
        if "ModelCheckpoint" in str(key) and isinstance(cb_state, dict):
            path = cb_state.get("best_model_path")
            if path and os.path.realpath(path) in real:
                return real[os.path.realpath(path)]
    return None


def best_model_score(trainer: Any) -> float | None:
    """The best value the Trainer's ModelCheckpoint recorded, in any strategy: under
    ``ddp_spawn`` the process that called ``fit`` gets back only ``best_model_path``, so the score
    is read from that checkpoint's own ModelCheckpoint state. None without a checkpoint."""
    callback = getattr(trainer, "checkpoint_callback", None)
    if callback is None:
        return None
    if callback.best_model_score is not None:
        return float(callback.best_model_score)
    if not callback.best_model_path:
        return None
    import torch

    state = torch.load(callback.best_model_path, map_location="cpu", weights_only=True)
    for key, saved in (state.get("callbacks") or {}).items():
        if "ModelCheckpoint" in str(key) and isinstance(saved, dict) and saved.get("best_model_score") is not None:
            return float(saved["best_model_score"])
    return None
