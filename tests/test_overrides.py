"""Overrides are read with Hydra's own parser (``sweepkit._overrides``), so quoted commas and
list values are one value, and a grid's size counts only real sweeps."""

from __future__ import annotations

import yaml

from sweepkit._overrides import override_values, sweep_size
from sweepkit.cli import Sweep


def test_a_list_value_is_one_value_and_a_grid_counts_only_its_sweeps():
    task = ["objective=[val_loss,n_params]", "model.d_model=8,16"]
    assert sweep_size(task) == 2  # not 4: the list is one value
    assert sweep_size(["a=1,2", "b=x,y,z", "hydra.launcher.n_jobs=1,2"]) == 6
    assert sweep_size(["x=tag(log, interval(0.1, 1))"]) is None  # an interval has no count


def test_values_keep_their_types_and_quoted_commas():
    values = override_values(["model.d_model=8", "+x=1e-3", "z='a,b'", "model=s5", "n=null", "hydra.run.dir=o", "~y"])
    assert values == {"model.d_model": 8, "x": 0.001, "z": "a,b", "model": "s5", "n": None}
    assert override_values(["objective=[val_loss,n_params]"]) == {"objective": "[val_loss,n_params]"}


def test_a_sweep_reads_its_planned_trials_from_the_grid(tmp_path):
    """``sweepkit summarize`` plans a basic-sweeper grid of a list value and a sweep as 2 jobs."""
    sweep = tmp_path / "grid"
    sweep.mkdir()
    config = {"hydra": {"overrides": {"task": ["objective=[val_loss,n_params]", "model.d_model=8,16"]}}}
    (sweep / "multirun.yaml").write_text(yaml.safe_dump(config))
    assert Sweep(sweep).n_trials == 2
