"""The one resolver of a sweep's metrics, modes and top_k (``sweepkit._settings.resolve_settings``)."""

from __future__ import annotations

import pytest
from omegaconf import OmegaConf

from sweepkit import SweepManager
from sweepkit._settings import Settings, resolve_settings
from sweepkit.errors import ManifestError


def test_each_setting_comes_from_the_first_source_that_has_it():
    stored = {"metric_name": "acc", "mode": "max", "top_k": 5}
    config = {"metric_name": "loss", "mode": "min", "top_k": 2}
    hydra = {"sweeper": {"direction": "maximize"}}
    record = {"metric_name": "val/loss", "mode": "min"}
    assert resolve_settings(explicit={"top_k": 7}, stored=stored, config=config) == Settings(("acc",), ("max",), 7)
    assert resolve_settings(config=config, sweeper=hydra, records=[record]) == Settings(("loss",), ("min",), 2)
    assert resolve_settings(sweeper=hydra, records=[record]) == Settings(("val/loss",), ("max",), 3)
    assert resolve_settings(records=[{}, record]) == Settings(("val/loss",), ("min",), 3)
    assert resolve_settings() == Settings(("objective",), ("min",), 3)
    assert resolve_settings(default_metric="val_loss").metric_name == "val_loss"


def test_several_objectives_come_from_the_stored_front_or_the_sweeper():
    stored = {"objectives": [{"name": "loss", "mode": "min"}, {"name": "size", "mode": "max"}], "top_k": 4}
    assert resolve_settings(stored=stored) == Settings(("loss", "size"), ("min", "max"), 4)
    hydra = OmegaConf.create({"sweeper": {"direction": ["minimize", "maximize"], "metric_names": ["a", "b"]}})
    assert resolve_settings(sweeper=hydra) == Settings(("a", "b"), ("min", "max"), 3)
    # without names, the keys of the dict the job returned name them
    unnamed = {"sweeper": {"direction": ["minimize", "minimize"]}}
    assert resolve_settings(sweeper=unnamed, value={"x": 1.0, "y": 2.0}).names == ("x", "y")
    assert resolve_settings(explicit={"metric_name": ["p", "q"], "mode": "max"}).modes == ("max", "max")


def test_a_mode_belongs_to_its_sources_metrics_and_unresolved_interpolations_are_skipped():
    # the stored mode is acc's: a caller who asks for another metric does not inherit it
    assert (
        resolve_settings(explicit={"metric_name": "loss"}, stored={"metric_name": "acc", "mode": "max"}).mode == "min"
    )
    assert resolve_settings(stored={"metric_name": "acc", "mode": "max"}).mode == "max"
    saved = {"metric_name": "${sweepkit.metric_name}", "mode": "${sweepkit.mode}", "top_k": 4}
    assert resolve_settings(config=saved, records=[{"metric_name": "mse"}]) == Settings(("mse",), ("min",), 4)


def test_the_manager_resolves_with_the_same_function_and_refuses_a_conflict(tmp_path):
    checkpoint = tmp_path / "0" / "best_model.pth"
    checkpoint.parent.mkdir()
    checkpoint.write_bytes(b"weights")
    SweepManager(tmp_path, top_k=2, metric_name="acc", mode="max").register_model("0", "run0", 0.9, checkpoint)
    reader = SweepManager(tmp_path)  # the sweep's own settings
    assert (reader.metric_name, reader.mode, reader.top_k) == ("acc", "max", 2)
    other = SweepManager(tmp_path, metric_name="loss")  # another metric: not acc's mode, and refused on write
    assert other.mode == "min"
    with pytest.raises(ManifestError, match="metric_name='acc'"):
        other.register_model("1", "run1", 0.5, None)
