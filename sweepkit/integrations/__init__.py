"""Adapters for training frameworks. Each is an optional extra and is imported only by name:
``from sweepkit.integrations.lightning import SweepkitCallback`` (``pip install 'sweepkit[lightning]'``).
"""
