"""scripts/bench_search.py --quick: the search benchmark harness on the bundled tables."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO

pytestmark = [pytest.mark.integration, pytest.mark.slow]


def test_the_quick_harness_scores_every_method_on_every_table(tmp_path):
    result = subprocess.run(
        [sys.executable, str(REPO / "scripts" / "bench_search.py"), "all", "--quick", "--out", str(tmp_path)],
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stderr[-3000:]
    assert "average rank" in result.stdout and "simulated wall-clock" in result.stdout
    blackbox = json.loads((tmp_path / "search_blackbox.json").read_text())
    assert sorted(blackbox["tasks"]) == [
        "hpolib/naval_propulsion",
        "hpolib/parkinsons_telemonitoring",
        "hpolib/protein_structure",
        "hpolib/slice_localization",
    ]
    for task in blackbox["tasks"].values():
        regret, medians = task["regret"]["50"], task["median"]["50"]
        assert set(regret) == {"sweepkit bayes", "optuna TPE", "random", "hyperopt TPE"}
        assert regret["random"] == pytest.approx(1.0)  # the scale: random search's median
        assert all(value >= task["oracle"] for value in medians.values())  # nothing beats the oracle
        assert all(len(curve) == 50 for curve in task["curves"].values())
    pruning = json.loads((tmp_path / "search_pruning.json").read_text())
    hartmann = pruning[0]
    assert hartmann["problem"].startswith("hartmann6")
    # the target is no-pruning TPE's regret at the largest budget, which it reaches by then
    assert hartmann["reach_target"]["TPE, no pruning"] <= max(hartmann["budgets"])
    assert all(row[str(b)] >= 0 for row in hartmann["median_regret"].values() for b in hartmann["budgets"])
    timing = json.loads((tmp_path / "search_async.json").read_text())
    assert len(timing) == 8 and all(row["async_s"] > 0 and row["batch_s"] > 0 for row in timing.values())
    assert (tmp_path / "search_regret.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
