"""Hydra discovers the sweepkit sweeper here; the implementation lives in ``sweepkit.sweeper``."""
