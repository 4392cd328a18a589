"""Real Hydra multiruns of multi-objective sweeps with the Pareto-front manifest.

The forecasting app (``objective=[val_loss,n_params]``), the toy app returning a dict, and an
app with no sweepkit code returning a tuple; basic and joblib launchers. Each manifest's front
is checked against a brute-force dominance computation over every registered run.
"""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
from test_any_app import run_plain
from test_sweeper_runs import run_toy

from conftest import TINY_DATA, plot_data, run_cli, run_train

pytestmark = pytest.mark.integration

LAUNCHERS = {"basic": [], "joblib": ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]}


def brute_front(runs: list[dict], modes: list[str]) -> set[str]:
    signed = {
        r["run_id"]: [v if m == "min" else -v for v, m in zip(r["metric_values"], modes)]
        for r in runs
        if r["status"] in ("complete", "pruned")
        and all(isinstance(v, (int, float)) and math.isfinite(v) for v in r.get("metric_values") or [None])
    }

    def dominates(a, b):
        return all(x <= y for x, y in zip(a, b)) and a != b

    return {rid for rid, p in signed.items() if not any(dominates(q, p) for q in signed.values())}


def check_front(sweep: Path, names: list[str], top_k: int) -> dict:
    doc = json.loads((sweep / "sweep_results.json").read_text())
    assert [o["name"] for o in doc["objectives"]] == names and doc["runs_complete"]
    modes = [o["mode"] for o in doc["objectives"]]
    front = brute_front(doc["runs"], modes)
    assert front and {e["run_id"] for e in doc["front"]} == front
    kept = [e["run_id"] for e in doc["top"]]
    assert set(kept) <= front and 1 <= len(kept) <= top_k
    assert {r["run_id"] for r in doc["runs"] if r["on_front"]} == front
    files = sorted(p.name for p in (sweep / "best_models").glob("*_best_model*"))
    assert [f[:9] for f in files] == [f"front_{i:02d}_" for i in range(1, len(kept) + 1)]
    firsts = [e["metric_values"][0] for e in doc["top"]]
    assert firsts == sorted(firsts, reverse=modes[0] == "max")  # stable order: first metric
    return doc


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_forecasting_app_keeps_the_front_of_val_loss_and_n_params(tmp_path, launcher):
    sweep = tmp_path / "sweep"
    # the linear model's search space: a map per channel or one shared, with or without a
    # trend decomposition, so the parameter count differs between trials
    args = [
        "-m",
        *TINY_DATA,
        "model=linear",
        "dataset=Wind",
        "experiment=quick",
        "sweeper=hyperband",
        "objective=[val_loss,n_params]",
        "hydra.sweeper.n_trials=6",
        f"hydra.sweep.dir={sweep}",
        *LAUNCHERS[launcher],
    ]
    result = run_train(args, cwd=tmp_path)
    assert result.returncode == 0, result.stderr[-3000:]
    assert "pruner=NopPruner" in result.stdout  # Hyperband cannot judge two objectives
    doc = check_front(sweep, ["val_loss", "n_params"], top_k=3)
    assert doc["n_runs"] == 6
    for run in doc["runs"]:
        assert run["metric_values"][1] == int(run["metric_values"][1]) > 0  # a parameter count
    assert "Pareto front (val_loss, n_params)" in result.stdout
    summary = run_cli(tmp_path, "summarize", str(sweep))
    assert summary.returncode == 0, summary.stderr
    kept, front = len(doc["top"]), len(doc["front"])
    assert f"Pareto front (val_loss min, n_params min): {front} run(s), {kept} kept" in summary.stdout
    analysis = json.loads(run_cli(tmp_path, "analyze", str(sweep), "--json").stdout)
    assert [e["run_id"] for e in analysis["front"]] == [e["run_id"] for e in doc["front"]]
    assert [e["rank"] for e in analysis["front"] if e["rank"]] == list(range(1, kept + 1))
    report = run_cli(tmp_path, "report", str(sweep), "-o", str(tmp_path / "r.html"))
    assert report.returncode == 0, report.stderr
    html = (tmp_path / "r.html").read_text()
    assert f"Kept on the Pareto front: {kept} of {front}" in html
    traces = {t["hovertemplate"].split("<extra>")[1]: t for t in plot_data(html)["plot-pareto_front"]["data"]}
    assert len(traces["Best Trial</extra>"]["x"]) == front  # Optuna's front
    assert len(traces["kept</extra>"]["x"]) == kept  # sweepkit's ring around each kept checkpoint
    export = run_cli(tmp_path, "export", str(sweep), "--output", str(tmp_path / "runs.json"))
    assert export.returncode == 0, export.stderr
    rows = {r["run_id"]: r for r in json.loads((tmp_path / "runs.json").read_text())}
    for run in doc["runs"]:
        row = rows[run["run_id"]]
        assert [row["metric.val_loss"], row["metric.n_params"]] == run["metric_values"]
        assert row["on_front"] == run["on_front"] and row["rank"] == run["rank"]


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_toy_app_dict_return_names_the_metrics_of_the_manifest(tmp_path, launcher):
    out = tmp_path / "sweep"
    proc = run_toy(
        out,
        "sweeper=bayes",
        "return_width=true",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.direction=[minimize,maximize]",
        "trainer.max_epochs=2",
        "+hydra.callbacks.topk._target_=sweepkit.hooks.TopKCallback",
        "+hydra.callbacks.topk.top_k=2",
        *LAUNCHERS[launcher],
    )
    doc = check_front(out, ["val_loss", "width"], top_k=2)
    assert [o["mode"] for o in doc["objectives"]] == ["min", "max"]  # from the sweeper
    assert "ERROR" not in proc.stderr and "Pareto front" in proc.stdout


def test_an_app_without_sweepkit_code_returns_a_tuple(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_plain(
        tmp_path,
        "x=0.0,0.1,0.25,0.3,0.45,0.6",
        "+pareto=true",
        "hydra.callbacks.topk.metric_name=[loss,size]",
        f"hydra.sweep.dir={sweep}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    doc = check_front(sweep, ["loss", "size"], top_k=3)
    by_x = {r["params"]["x"]: r for r in doc["runs"]}
    # loss (x-0.3)^2 and size x: the runs from x=0 to x=0.3 trade one for the other
    assert {e["run_id"] for e in doc["front"]} == {by_x[x]["run_id"] for x in (0.0, 0.1, 0.25, 0.3)}
    assert by_x[0.6]["on_front"] is False and by_x[0.45]["on_front"] is False
    assert json.loads((sweep / "0" / "run.json").read_text())["best_values"] == {"loss": 0.09, "size": 0.0}


def test_a_metric_the_job_does_not_return_is_said_and_never_on_the_front(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_plain(
        tmp_path,
        "x=0.0,0.1",
        "+pareto=true",
        "hydra.callbacks.topk.metric_name=[loss,size,speed]",
        f"hydra.sweep.dir={sweep}",
    )
    assert proc.returncode == 0, proc.stderr[-3000:]
    assert "recorded no 'loss', 'size', 'speed' (it returned 2 values (0.09, 0.0))" in proc.stdout + proc.stderr
    doc = json.loads((sweep / "sweep_results.json").read_text())
    assert doc["front"] == [] and doc["top"] == [] and doc["counts"] == {"complete": 2}
