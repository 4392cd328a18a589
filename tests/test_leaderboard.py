"""The leaderboard: a real tiny sweep's best checkpoint re-scored beside the baselines."""

from __future__ import annotations

import json
import subprocess
import sys

import pytest

from conftest import REPO, TINY_DATA, run_train
from sweepkit.cli import main


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A 2-job grid sweep of a tiny linear model on the (shipped) Wind file."""
    root = tmp_path_factory.mktemp("lb")
    out = run_train(["-m", "sweeper=grid", "dataset=Wind", *TINY_DATA, "trainer.max_epochs=2", "model=linear",
                     "model.individual=true,false", f"hydra.sweep.dir={root}/sweeps/a"], root)
    assert out.returncode == 0, out.stderr[-3000:]
    return root / "sweeps" / "a"


def _board(capsys, *args):
    assert main(["leaderboard", *map(str, args), "--json"]) == 0
    return json.loads(capsys.readouterr().out)


def test_sweep_best_checkpoint_is_rescored_on_val_and_test(sweep, capsys):
    board = _board(capsys, sweep.parent, "--dataset", "Wind", "--lookback", "24", "96")
    rows = {r["name"]: r for r in board["rows"]}
    assert sorted(r["lookback"] for r in board["rows"] if r["name"] == "ridge") == [24, 96]
    assert {"ridge", "naive_mean", "repeat_last", "linear"} <= set(rows)
    assert board["horizon"] == 12 and board["series"]["source"] == "file"
    best = json.loads((sweep / "sweep_results.json").read_text())["best"]
    record = json.loads((sweep / best["run_id"] / "run.json").read_text())
    linear = rows["linear"]
    # the re-evaluation reproduces what the run measured: val at its best epoch, and test
    assert linear["val"]["mse"] == pytest.approx(best["metric_value"], rel=1e-5)
    assert linear["test"]["mse"] == pytest.approx(record["test"]["mse"], rel=1e-5)
    assert linear["test"]["mae"] == pytest.approx(record["test"]["mae"], rel=1e-5)
    per_channel = linear["test"]["mse_per_channel"]
    assert len(per_channel) == 7 and sum(per_channel) / 7 == pytest.approx(linear["test"]["mse"], rel=1e-6)
    tests = [r["test"]["mse"] for r in board["rows"]]
    assert tests == sorted(tests)
    assert any("seasonal_naive at lookback 24" in s for s in board["skipped"])  # one day is 96 steps
    assert [r["lookback"] for r in board["rows"] if r["name"] == "seasonal_naive"] == [96]


def test_other_horizon_is_left_out_with_the_reason(sweep, capsys, tmp_path):
    cfg = tmp_path / "Wind.yaml"
    cfg.write_text((REPO / "conf" / "dataset" / "Wind.yaml").read_text().replace("horizon: 96", "horizon: 24")
                   .replace("max_rows: null", "max_rows: 2000").replace("lookback: 96", "lookback: 24"))
    board = _board(capsys, sweep.parent, "--dataset", "Wind", "--dataset-config", cfg)
    assert [r["kind"] for r in board["rows"]].count("sweep") == 0
    assert any("other test windows: horizon 12 (not 24)" in s for s in board["skipped"])


def test_seeds_retrain_the_val_best_configuration(sweep, capsys, tmp_path):
    """Seed 42 is the sweep's own seed: retraining it reproduces the sweep's run."""
    from sweepkit.forecast.leaderboard import retrain_seeds

    board = _board(capsys, sweep.parent, "--dataset", "Wind", "--seeds", "2", "--seeds-dir", tmp_path / "s")
    (seeds,) = [r for r in board["rows"] if r["kind"] == "seeds"]
    assert seeds["seeds"] == [0, 1] and seeds["test_mse"][0] != seeds["test_mse"][1]
    assert seeds["test"]["mse"] == pytest.approx(sum(seeds["test_mse"]) / 2)
    assert seeds["test_mse_sd"] > 0 and (tmp_path / "s" / "seed_1" / "run.json").is_file()
    (linear,) = [r for r in board["rows"] if r["kind"] == "sweep"]
    again = retrain_seeds(linear["config"], [42], tmp_path / "again", log=lambda *a: None)
    assert again.test.mse == pytest.approx(linear["test"]["mse"], rel=1e-4)


def test_no_sweep_shows_baselines_and_published_anchors(tmp_path, monkeypatch, capsys):
    monkeypatch.chdir(REPO)  # conf/dataset/Wind.yaml: lookback 96, horizon 96, the whole file
    assert main(["leaderboard", str(tmp_path), "--dataset", "Wind"]) == 0
    text = capsys.readouterr().out
    assert "Aurora (zero-shot, published)" in text and "0.9510" in text and "MOIRAI" in text
    lines = [line.split() for line in text.splitlines() if line.strip().startswith(("ridge", "naive_mean"))]
    scores = {parts[0]: float(parts[4]) for parts in lines}
    assert scores["ridge"] < 0.9 < scores["naive_mean"]
    assert f"no sweep of Wind found under {tmp_path}" in text


def test_cli_imports_no_torch():
    code = ("import sys; from sweepkit.cli._app import build_parser; "
            "build_parser().parse_args(['leaderboard', '--dataset', 'Wind']); "
            "import sweepkit.forecast.leaderboard; assert 'torch' not in sys.modules, 'torch imported'")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
