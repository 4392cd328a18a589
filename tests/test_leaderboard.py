"""The leaderboard: a real tiny sweep's best checkpoint re-scored beside the baselines."""

from __future__ import annotations

import html
import json
import os
import re
import shutil
import subprocess
import sys

import pytest
from omegaconf import OmegaConf

from sweepkit.cli import main

from conftest import REPO, TINY_DATA, report_payload, run_train

pytestmark = pytest.mark.integration


@pytest.fixture(scope="module")
def sweep(tmp_path_factory):
    """A 2-job grid sweep of a tiny linear model on the (shipped) Wind file."""
    root = tmp_path_factory.mktemp("lb")
    out = run_train(
        [
            "-m",
            "sweeper=grid",
            "dataset=Wind",
            *TINY_DATA,
            "trainer.max_epochs=2",
            "model=linear",
            "model.individual=true,false",
            f"hydra.sweep.dir={root}/sweeps/a",
        ],
        root,
    )
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
    cfg.write_text(
        (REPO / "conf" / "dataset" / "Wind.yaml")
        .read_text()
        .replace("horizon: 96", "horizon: 24")
        .replace("max_rows: null", "max_rows: 2000")
        .replace("lookback: 96", "lookback: 24")
    )
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
    assert re.search(r"best epoch \d+ \(\d+ trials\)", linear["detail"]), linear["detail"]
    # a sweep that skipped test scoring (trainer.test=false) still gets its seeds scored on test
    config = OmegaConf.load(linear["config"])
    config.trainer.test = False
    OmegaConf.save(config, tmp_path / "no_test.yaml")
    again = retrain_seeds(tmp_path / "no_test.yaml", [42], tmp_path / "again", log=lambda *a: None)
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
    code = (
        "import sys; from sweepkit.cli._app import build_parser; "
        "build_parser().parse_args(['leaderboard', '--dataset', 'Wind']); "
        "import sweepkit.forecast.leaderboard; assert 'torch' not in sys.modules, 'torch imported'"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr


# ------------------------------------------------------------------ the leaderboard in the report
NO_WORKLOAD = (
    "import sys; from sweepkit.cli import main; code = main(sys.argv[1:]); "
    "heavy = [m for m in sys.modules if m.split('.')[0] == 'torch' or m.startswith('sweepkit.forecast')]; "
    "assert not heavy, heavy; sys.exit(code)"
)


def _report(*args):
    """``sweepkit report ARGS`` in a fresh interpreter, which must import neither torch nor the workload."""
    return subprocess.run(
        [sys.executable, "-c", NO_WORKLOAD, "report", *map(str, args)], capture_output=True, text=True, cwd=REPO
    )


def _leaderboard_rows(page):
    """(row class, cells) of the page's leaderboard table; None when the page has no such section."""
    if 'id="leaderboard"' not in page:
        return None
    section = page[page.index('id="leaderboard"') :]
    section = section[: section.index("</table>")]
    return [
        (css or None, [html.unescape(c) for c in re.findall(r"<td[^>]*>(.*?)</td>", cells)])
        for css, cells in re.findall(r"<tr(?: class=(\w+))?>(.*?)</tr>", section)
        if "<td" in cells
    ]


def _copy(sweep, dest):
    """The sweep without the leaderboard that an earlier test may have left in it."""
    return shutil.copytree(sweep, dest, ignore=shutil.ignore_patterns("leaderboard.json"))


def test_the_report_shows_the_leaderboard_the_command_saved(sweep, capsys, tmp_path):
    from sweepkit.cli._render import fmt_num

    before = {name: (sweep / name).read_bytes() for name in ("sweep_results.json", "runs.jsonl")}
    top_level, mtime = sorted(os.listdir(sweep)), os.stat(sweep).st_mtime_ns
    kept = sorted(os.listdir(sweep / "best_models"))
    assert (
        main(["leaderboard", str(sweep.parent), "--dataset", "Wind", "--json", "--html", str(tmp_path / "lb.html")])
        == 0
    )
    out, err = capsys.readouterr()
    board = json.loads(out)
    saved = sweep / ".sweepkit" / "leaderboard.json"
    assert json.loads(saved.read_text()) == board
    assert "saved in" in err and "leaderboard.json" in err
    # the manifest, the checkpoints and the sweep's top level (its last-write time) are untouched
    assert {name: (sweep / name).read_bytes() for name in before} == before
    assert sorted(os.listdir(sweep / "best_models")) == kept
    assert sorted(os.listdir(sweep)) == top_level and os.stat(sweep).st_mtime_ns == mtime
    assert not [p for p in (sweep / ".sweepkit").iterdir() if p.name.endswith(".tmp")]

    result = _report(sweep, "-o", tmp_path / "report.html")
    assert result.returncode == 0, result.stderr
    assert "the leaderboard of" in result.stderr
    page = (tmp_path / "report.html").read_text()
    rows = _leaderboard_rows(page)
    expected = sorted(board["rows"], key=lambda r: r["test"]["mse"])
    assert [cells[1] for _, cells in rows] == [r["name"] for r in expected]
    assert [cells[5] for _, cells in rows] == [fmt_num(r["test"]["mse"]) for r in expected]
    assert [cells[6] for _, cells in rows] == [fmt_num(r["test"]["mae"]) for r in expected]
    (mine,) = [cells for css, cells in rows if css == "this"]
    (scored,) = [r for r in board["rows"] if r["kind"] == "sweep"]
    assert mine[1:3] == ["linear", "this sweep"] and mine[5] == fmt_num(scored["test"]["mse"])
    best = json.loads((sweep / "sweep_results.json").read_text())["best"]
    assert scored["run_name"] == best["run_name"] and "<b>Note</b>" not in page
    payload = report_payload(page)
    assert payload["leaderboard"]["board"]["rows"][0]["name"] == expected[0]["name"]
    # --html: the same table on a page of its own
    assert _leaderboard_rows((tmp_path / "lb.html").read_text()) == [
        (
            None if css == "this" else css,
            [c.replace("this sweep", "sweep") if i == 2 else c for i, c in enumerate(cells)],
        )
        for css, cells in rows
    ]


def test_a_report_without_a_leaderboard_has_no_such_section(sweep, tmp_path):
    copy = _copy(sweep, tmp_path / "plain")
    result = _report(copy, "-o", tmp_path / "report.html")
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "report.html").read_text()
    assert _leaderboard_rows(page) is None and "Leaderboard" not in page and "leaderboard" not in result.stderr
    assert "<td>linear_Wind_00" in page  # the rest of the report is there


@pytest.mark.parametrize(
    "text, reason",
    [('{"rows": [', "not valid JSON"), ('{"rows": "ridge"}', "not a leaderboard"), ("[1, 2]", "not a leaderboard")],
)
def test_a_corrupt_leaderboard_is_named_and_the_report_still_renders(sweep, tmp_path, text, reason):
    copy = _copy(sweep, tmp_path / "corrupt")
    (copy / ".sweepkit" / "leaderboard.json").write_text(text)
    result = _report(copy, "-o", tmp_path / "report.html")
    assert result.returncode == 0, result.stderr
    assert f"warning: leaderboard {copy / '.sweepkit' / 'leaderboard.json'}: {reason}" in result.stderr
    page = (tmp_path / "report.html").read_text()
    assert _leaderboard_rows(page) is None and "<td>linear_Wind_00" in page


def test_a_leaderboard_file_ranks_marks_published_and_shows_seed_spread(sweep, tmp_path):
    """--leaderboard FILE: rows ranked by test MSE whatever their order in the file; published
    anchors marked; the seeds row shows mean ± sd; a board that scored another run says so."""
    copy = _copy(sweep, tmp_path / "other")
    score = lambda mse, mae: {"mse": mse, "mae": mae}  # noqa: E731
    board = {
        "dataset": "Wind",
        "horizon": 96,
        "generated": 1.7e9,
        "rows": [
            {
                "name": "ridge",
                "kind": "baseline",
                "lookback": 96,
                "val": score(1.08, 0.7),
                "test": score(0.8817, 0.6346),
            },
            {
                "name": "Aurora (zero-shot, published)",
                "kind": "published",
                "lookback": None,
                "val": None,
                "test": score(0.951, None),
            },
            {
                "name": "linear x3 seeds",
                "kind": "seeds",
                "lookback": 96,
                "val": score(0.98, None),
                "test": score(0.851, 0.6098),
                "test_mse_sd": 0.0032,
                "test_mae_sd": 0.0023,
                "sweep": str(copy),
            },
            {
                "name": "linear",
                "kind": "sweep",
                "lookback": 96,
                "val": score(0.99, 0.6),
                "test": score(0.8511, 0.6094),
                "sweep": str(copy),
                "run_name": "some_other_run",
            },
            {"name": "broken", "kind": "baseline", "lookback": 96, "val": None, "test": None},
        ],
    }
    path = tmp_path / "lb.json"
    path.write_text(json.dumps(board))
    result = _report(copy, "-o", tmp_path / "report.html", "--leaderboard", path)
    assert result.returncode == 0, result.stderr
    page = (tmp_path / "report.html").read_text()
    rows = _leaderboard_rows(page)
    assert [(css, cells[1], cells[2], cells[5], cells[6]) for css, cells in rows] == [
        ("this", "linear x3 seeds", "seeds (this sweep)", "0.851 ± 0.0032", "0.6098 ± 0.0023"),
        ("this", "linear", "this sweep", "0.8511", "0.6094"),
        (None, "ridge", "baseline", "0.8817", "0.6346"),
        ("published", "Aurora (zero-shot, published)", "published", "0.951", "-"),
        (None, "broken", "baseline", "-", "-"),
    ]
    assert "the leaderboard scored run some_other_run; the sweep&#x27;s best run is now linear_Wind_00" in page

    missing = _report(copy, "-o", tmp_path / "missing.html", "--leaderboard", tmp_path / "nope.json")
    assert missing.returncode == 1 and "--leaderboard" in missing.stderr and "no such file" in missing.stderr
    assert not (tmp_path / "missing.html").exists()
