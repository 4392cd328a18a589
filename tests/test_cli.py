"""The ``sweepkit`` command on sweeps made by real multiruns (and damaged copies of them)."""

from __future__ import annotations

import csv
import json
import os
import shutil
import signal
import struct
import subprocess
import sys
import time
from pathlib import Path

import pytest

from sweepkit.cli import main

from conftest import DATA_DIR, GRID, REPO, TINY, TOPK, plot_data, report_payload

pytestmark = pytest.mark.integration

HEAVY = {"torch", "wandb", "optuna", "numpy", "rich"}


def clone(sweep: Path, base: Path, root_name: str) -> Path:
    """Copy a sweep under ``base/root_name`` (same length as "outputs"), rewriting its absolute
    paths so the copy is what a real sweep at that place would hold."""
    assert len(root_name) == len("outputs")
    old_root = base / "outputs"
    dest = base / root_name / sweep.relative_to(old_root)
    shutil.copytree(sweep, dest, symlinks=True)
    for path in dest.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".yaml", ".log"):
            text = path.read_text()
            path.write_text(text.replace(str(old_root), str(base / root_name)))
    return dest


def cli(capsys, *args: str) -> tuple[int, str, str]:
    code = main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def job_records(sweep: Path) -> dict[str, dict]:
    return {p.parent.name: json.loads(p.read_text()) for p in sweep.glob("*/run.json")}


def expected_top(sweep: Path, k: int = 2) -> list[str]:
    """Run names of the best k finished runs, straight from the jobs' run.json files."""
    records = [r for r in job_records(sweep).values() if r["status"] in ("complete", "pruned")]
    return [r["run_name"] for r in sorted(records, key=lambda r: r["best_value"])[:k]]


# ------------------------------------------------------------------ global behaviour
def test_help_is_fast_to_import_and_lists_examples():
    probe = (
        "import sys; from sweepkit.cli import main; code = main(['--help']); "
        "print('LOADED', sorted(m for m in %r if m in sys.modules)); sys.exit(code)" % HEAVY
    )
    result = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True)
    assert result.returncode == 0
    assert "LOADED []" in result.stdout
    assert "examples:" in result.stdout and "sweepkit cleanup --days 30 --live" in result.stdout
    version = subprocess.run([sys.executable, "-m", "sweepkit.cli", "--version"], capture_output=True, text=True)
    assert version.returncode == 0 and version.stdout.startswith("sweepkit ")


def test_usage_errors_exit_2(capsys, grid_sweep):
    assert cli(capsys, "frobnicate")[0] == 2
    assert cli(capsys)[0] == 2
    code, _, err = cli(capsys, "cleanup", grid_sweep, "--days", "-3")
    assert code == 2 and "--days must be 0 or more" in err
    code, _, err = cli(capsys, "cleanup", grid_sweep, "--days", "soon")
    assert code == 2 and "--days must be a number" in err
    assert grid_sweep.is_dir()


def test_missing_path_and_no_sweep_exit_1(capsys, tmp_path):
    code, _, err = cli(capsys, "summarize", tmp_path / "nope")
    assert code == 1 and "no such file or directory" in err
    code, _, err = cli(capsys, "list", tmp_path)
    assert code == 1 and "no sweep found" in err


def _moved(sweep: Path, dest: Path) -> Path:
    """A copy of ``sweep`` at ``dest`` whose files name ``dest``, as a sweep run there would."""
    shutil.copytree(sweep, dest, symlinks=True)
    for path in dest.rglob("*"):
        if path.is_file() and path.suffix in (".json", ".jsonl", ".yaml", ".log"):
            path.write_text(path.read_text().replace(str(sweep), str(dest)))
    return dest


def test_sweeps_are_found_by_what_hydra_wrote_in_any_layout(capsys, grid_sweep, tmp_path, monkeypatch):
    # lightning-hydra-template's layout, next to an outputs/ that holds only a single run
    (tmp_path / "outputs" / "2026-01-01" / "12-00-00" / ".hydra").mkdir(parents=True)
    multiruns = tmp_path / "logs" / "train" / "multiruns"
    marked = _moved(grid_sweep, multiruns / "2026-01-01_12-00-00")
    bare = _moved(grid_sweep, multiruns / "2026-01-02_12-00-00")
    for name in ("multirun.yaml", "sweep_results.json", "runs.jsonl", "sweep_summary.yaml", "sweep_manager.log"):
        (bare / name).unlink(missing_ok=True)
    shutil.rmtree(bare / ".sweepkit", ignore_errors=True)  # left: the jobs' .hydra/hydra.yaml
    (tmp_path / ".venv" / "multirun.yaml").parent.mkdir()
    (tmp_path / ".venv" / "multirun.yaml").write_text("{}\n")  # hidden: never searched
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SWEEPKIT_OUTPUTS", raising=False)
    code, out, err = cli(capsys, "list", "--json")
    assert code == 0, err
    assert sorted(r["path"] for r in json.loads(out)) == [str(marked), str(bare)]
    assert {r["runs"] for r in json.loads(out)} == {4}
    # a job whose hydra.sweep.dir names another folder does not make its parent a sweep
    other = tmp_path / "elsewhere" / "copy"
    shutil.copytree(bare, other, symlinks=True)  # its hydra.yaml files still name bare
    code, _, err = cli(capsys, "list", "--json", other.parent)
    assert code == 1 and "no sweep found" in err
    shutil.rmtree(other.parent)
    # $SWEEPKIT_OUTPUTS, and a path given, override the search
    monkeypatch.setenv("SWEEPKIT_OUTPUTS", str(marked))
    code, out, _ = cli(capsys, "list", "--json")
    assert code == 0 and [r["path"] for r in json.loads(out)] == [str(marked)]
    code, out, _ = cli(capsys, "list", "--json", bare)
    assert code == 0 and [r["path"] for r in json.loads(out)] == [str(bare)]
    monkeypatch.delenv("SWEEPKIT_OUTPUTS")
    (tmp_path / "sub").mkdir()
    monkeypatch.chdir(tmp_path / "sub")
    code, _, err = cli(capsys, "summarize")
    assert code == 1 and "no sweep found under . (searched 6 levels deep" in err
    assert "SWEEPKIT_OUTPUTS" in err


# ------------------------------------------------------------------ read-only commands
def test_summarize_real_sweeps(capsys, base, grid_sweep, optuna_sweep):
    code, out, err = cli(capsys, "--json", "summarize", base / "outputs")
    assert code == 0, err
    info = json.loads(out)
    assert [Path(s["path"]).name for s in info] == ["tpe_00", "grid_0"]  # newest first
    grid = info[1]
    assert grid["counts"]["complete"] == 4 and grid["n_runs"] == 4 and grid["n_trials"] == 4
    assert [e["run_name"] for e in grid["top"]] == expected_top(grid_sweep)
    top_params = [r["params"] for r in job_records(grid_sweep).values() if r["run_name"] in expected_top(grid_sweep)]
    p1, p2 = top_params
    assert grid["varying_params"] == [k for k in p1 if p1[k] != p2[k]]
    assert grid["best"]["run_name"] == expected_top(grid_sweep)[0]
    assert grid["disk"]["deleted_checkpoints"] == 2 and grid["disk"]["reclaimed_bytes"] > 0
    tpe = info[0]
    assert tpe["n_runs"] == 6 and tpe["n_trials"] == 6
    assert tpe["counts"]["complete"] + tpe["counts"]["pruned"] == 6
    assert [e["run_name"] for e in tpe["top"]] == expected_top(optuna_sweep)

    code, out, _ = cli(capsys, "summarize", grid_sweep)  # plain text: no colour when captured
    assert code == 0 and "\x1b[" not in out
    first, second = expected_top(grid_sweep)
    assert "runs 4 of 4: complete 4" in out and out.index(first) < out.index(second)
    assert grid["varying_params"][0] in out and "reclaimed" in out


def test_compare_and_list(capsys, base, grid_sweep, optuna_sweep):
    code, out, _ = cli(capsys, "--json", "compare", base / "outputs", "--model", "dmixer")
    rows = json.loads(out)
    assert code == 0 and [r["runs"] for r in rows] == [6, 4]
    assert rows[1]["best_run"] == expected_top(grid_sweep)[0]
    code, _, err = cli(capsys, "compare", base / "outputs", "--model", "s5")
    assert code == 1 and "no sweep matches model=s5" in err
    code, out, _ = cli(capsys, "list", base / "outputs", "--json")
    rows = json.loads(out)
    assert code == 0 and [r["runs"] for r in rows] == [6, 4]
    assert all(not r["running"] and r["size_bytes"] > 0 for r in rows)
    code, out, _ = cli(capsys, "list", base / "outputs")
    assert "grid_0" in out and "no" in out


def test_export_csv_and_json(capsys, base, grid_sweep, optuna_sweep, tmp_path):
    target = tmp_path / "runs.csv"
    code, _, err = cli(capsys, "export", base / "outputs", "--output", target)
    assert code == 0, err
    with open(target, newline="") as handle:
        rows = list(csv.DictReader(handle))
    assert len(rows) == 10
    grid_rows = {r["run_id"]: r for r in rows if r["sweep"].endswith("grid_0")}
    for job, record in job_records(grid_sweep).items():
        row = grid_rows[job]
        assert float(row["metric_value"]) == pytest.approx(record["best_value"])
        assert float(row["params.trainer.lr"]) == record["params"]["trainer.lr"]
        assert row["status"] == record["status"]
    ranked = sorted((r for r in grid_rows.values() if r["rank"]), key=lambda r: int(r["rank"]))
    assert [r["run_name"] for r in ranked] == expected_top(grid_sweep)
    assert all(Path(r["checkpoint"]).is_file() for r in ranked)

    target = tmp_path / "runs.json"
    assert cli(capsys, "export", grid_sweep, "-o", target)[0] == 0
    data = json.loads(target.read_text())
    assert sorted(r["run_id"] for r in data) == ["0", "1", "2", "3"]

    code, _, err = cli(capsys, "export", grid_sweep, "-o", tmp_path / "runs.xlsx")
    assert code == 2 and "unknown output format '.xlsx'" in err
    code, _, err = cli(capsys, "export", grid_sweep, "-o", tmp_path / "runs.parquet")
    try:
        import pyarrow  # noqa: F401
    except ImportError:
        assert code == 1 and "needs pyarrow" in err
        assert not (tmp_path / "runs.parquet").exists()
    else:
        assert code == 0 and (tmp_path / "runs.parquet").stat().st_size > 0


def test_analyze(capsys, grid_sweep, optuna_sweep):
    code, out, _ = cli(capsys, "--json", "analyze", optuna_sweep)
    info = json.loads(out)
    assert code == 0
    assert info["importance"]["method"].startswith("optuna")
    assert set(info["importance"]["scores"]) <= set(info["varying_params"]) | {"model.d_model"}
    assert info["best"]["run_name"] == expected_top(optuna_sweep)[0]
    records = {r["run_name"]: r for r in job_records(optuna_sweep).values()}
    for curve in info["curves"]:
        history = records[curve["run_name"]]["history"]
        assert curve["values"] == [h["val_loss"] for h in history]
    assert info["distribution"]["n"] == 6

    code, out, _ = cli(capsys, "analyze", grid_sweep)
    assert code == 0
    assert "rank correlation" in out and "trainer.lr" in out
    assert "learning curves of the top 2" in out


def _png_size(path: Path) -> tuple[int, int]:
    data = path.read_bytes()
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    width, height = struct.unpack(">II", data[16:24])
    return width, height


def test_report_html_and_images(capsys, optuna_sweep, tmp_path):
    target = tmp_path / "report.html"
    code, _, err = cli(
        capsys, "report", optuna_sweep, "-o", target, "--png", tmp_path / "png", "--svg", tmp_path / "svg"
    )
    assert code == 0, err
    html = target.read_text()
    assert "<script src" not in html and "<link" not in html  # self-contained: plotly.js is inlined
    assert html.count("plotly.js v") == 1  # once, not per plot
    data = report_payload(html)
    names = ["optimization_history", "parallel_coordinates", "param_importances", "learning_curves", "timeline"]
    assert data["plots"] == names
    figures = plot_data(html)
    assert list(figures) == [f"plot-{n}" for n in names]
    records = job_records(optuna_sweep)
    # every run is one trial of the timeline, its hover text naming the run
    hover = " ".join(str(t.get("hovertext") or t.get("text") or "") for t in figures["plot-timeline"]["data"])
    for record in records.values():
        assert f'"run_name": "{record["run_name"]}"' in hover
    # the learning curves: one line per run with a curve, named after the run, the kept ones ranked
    lines = {t["name"] for t in figures["plot-learning_curves"]["data"]}
    for rank, name in enumerate(expected_top(optuna_sweep), 1):
        assert f"#{rank} {name}" in lines
    pruned = [r for r in records.values() if r["status"] == "pruned"]
    assert pruned and "pruned" in lines
    # the table: each kept run with its checkpoint's path in the sweep and its size on disk
    assert [t["run_name"] for t in data["top"]] == expected_top(optuna_sweep)
    for entry in data["top"]:
        assert (optuna_sweep / entry["checkpoint_in_sweep"]).stat().st_size == entry["checkpoint_bytes"]
        assert f"<td class=path>{entry['checkpoint_in_sweep']}</td>" in html
    assert "reclaimed" in html and data["disk"]["deleted_checkpoints"] == len(records) - 2
    assert data["progress"]["done"] == len(records)
    # images carry their titles and labels (matplotlib writes SVG text as text)
    assert sorted(p.name for p in (tmp_path / "png").iterdir()) == sorted(f"{n}.png" for n in names)
    width, height = _png_size(tmp_path / "png" / "optimization_history.png")
    assert width > 400 and height > 300
    svg = (tmp_path / "svg" / "learning_curves.svg").read_text()
    assert "Learning curves" in svg and ">epoch<" in svg and ">val_loss<" in svg


def test_report_on_a_grid_sweep_draws_the_same_plots(capsys, grid_sweep, tmp_path):
    code, out, err = cli(capsys, "--json", "report", grid_sweep, "-o", tmp_path / "grid.html")
    assert code == 0, err
    html = (tmp_path / "grid.html").read_text()
    figures = plot_data(html)
    names = ["optimization_history", "parallel_coordinates", "param_importances", "learning_curves", "timeline"]
    assert json.loads(out)["plots"] == len(names) and list(figures) == [f"plot-{n}" for n in names]
    axes = figures["plot-parallel_coordinates"]["layout"]["xaxis"]["ticktext"]
    assert sorted(axes) == ["model.d_model", "trainer.lr", "val_loss"]  # the grid's two axes, no constant one
    assert len(figures["plot-learning_curves"]["data"]) == 4


@pytest.mark.parametrize(
    "module, command, message",
    [
        ("plotly", "report", "`sweepkit report` draws with plotly: pip install 'sweepkit[report]'"),
        (
            "optuna_dashboard",
            "dashboard",
            "`sweepkit dashboard` serves optuna-dashboard: pip install 'sweepkit[dashboard]'",
        ),
    ],
)
def test_a_page_command_without_its_extra_names_it(optuna_sweep, tmp_path, module, command, message):
    blocked = f"import sys; sys.modules[{module!r}] = None; from sweepkit.cli import main; sys.exit(main(sys.argv[1:]))"
    result = subprocess.run(
        [
            sys.executable,
            "-c",
            blocked,
            command,
            str(optuna_sweep),
            *(["-o", str(tmp_path / "r.html")] * (command == "report")),
        ],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert result.returncode == 1
    assert result.stderr.strip().splitlines() == [f"sweepkit {command}: error: {message}"]
    assert not (tmp_path / "r.html").exists()


def test_dashboard_of_a_sweep_without_a_study_says_what_to_use(capsys, grid_sweep):
    code, _, err = cli(capsys, "dashboard", grid_sweep)
    assert code == 1 and "has no Optuna study" in err and "`sweepkit report`" in err


# ------------------------------------------------------------------ verify / repair
def test_verify_finds_and_repairs_damage(capsys, base, optuna_sweep):
    sweep = clone(optuna_sweep, base, "verify1")
    code, out, _ = cli(capsys, "verify", sweep)
    assert code == 0 and "ok" in out
    best = sweep / "best_models"
    second = sorted(best.glob("rank_02_*_best_model.pth"))[0]
    second.rename(best / second.name.replace("rank_02_", "rank_07_"))
    records = job_records(sweep)
    ranked = {p.name for p in best.glob("rank_*_best_model.pth")}
    loser = next(
        j
        for j, r in records.items()  # a run that finished outside the top 2
        if r["status"] in ("complete", "pruned") and not any(r["run_name"] in n for n in ranked)
    )
    (sweep / loser / "best_model.pth").write_bytes(b"stale")
    (sweep / "6").mkdir()
    unreported = dict(records[loser], status="complete", checkpoint=None, run_name="late_job", job_num=6)
    (sweep / "6" / "run.json").write_text(json.dumps(unreported))

    code, out, _ = cli(capsys, "--json", "verify", sweep)
    report = json.loads(out)
    assert code == 1
    text = "\n".join(report["problems"])
    assert f"{second.name} is missing" in text and "rank_07_" in text
    assert f"run {loser} is not in the top 2" in text
    assert "job 6 ended (complete) but never registered" in text

    code, out, _ = cli(capsys, "verify", sweep, "--repair")
    assert "repair:" in out and "registered unreported job 6" in out
    assert second.is_file()
    # the stale file is not the checkpoint the run registered: repair leaves it, and says so
    assert code == 1 and (sweep / loser / "best_model.pth").read_bytes() == b"stale"
    assert "is a newer file than the checkpoint it registered" in out
    (sweep / loser / "best_model.pth").unlink()
    assert cli(capsys, "verify", sweep)[0] == 0


def test_corrupt_manifest_is_named_and_other_sweeps_still_show(capsys, base, grid_sweep):
    sweep = clone(grid_sweep, base, "corrupt")
    other = sweep.parent / "grid_1"
    shutil.copytree(sweep, other)
    (sweep / "sweep_results.json").write_text("{ not json")
    code, out, err = cli(capsys, "summarize", base / "corrupt")
    assert code == 1
    assert f"{sweep / 'sweep_results.json'} is corrupt" in err and "verify --repair" in err
    assert "grid_1" in out and "grid_0" in out  # both still listed
    assert (sweep / "sweep_results.json").read_text() == "{ not json"  # read-only: untouched
    code, out, _ = cli(capsys, "verify", sweep, "--repair")
    assert code == 0, out
    code, out, _ = cli(capsys, "--json", "summarize", sweep)
    assert code == 0 and [e["run_name"] for e in json.loads(out)[0]["top"]] == expected_top(sweep)


# ------------------------------------------------------------------ cleanup
def _age(path: Path, days: float) -> None:
    old = time.time() - days * 86400
    for top, dirs, files in os.walk(path):
        for name in files + dirs:
            os.utime(os.path.join(top, name), (old, old), follow_symlinks=False)
    os.utime(path, (old, old))


def test_cleanup_dry_run_then_live_deletes_exactly_that(capsys, base, grid_sweep, tmp_path):
    root = base / "cleanup"
    old = clone(grid_sweep, base, "cleanup")
    fresh = old.parent / "grid_fresh"
    shutil.copytree(old, fresh)
    outside = tmp_path / "precious.txt"
    outside.write_text("keep me")
    (old / "0" / "link_out").symlink_to(outside)
    (old / "0" / "dir_link").symlink_to(tmp_path, target_is_directory=True)
    _age(old, 40)

    code, out, _ = cli(capsys, "--json", "cleanup", root, "--days", "30")
    plan = json.loads(out)
    assert code == 0 and not plan["live"]
    assert [Path(s["path"]) for s in plan["sweeps"]] == [old.absolute()]
    assert plan["bytes"] > 0 and old.is_dir()  # a dry run deletes nothing
    code, out, _ = cli(capsys, "cleanup", root, "--days", "30")
    assert "would delete 1 sweep(s)" in out and "dry run" in out

    code, out, _ = cli(capsys, "--json", "cleanup", root, "--days", "30", "--live")
    done = json.loads(out)
    assert code == 0 and done["sweeps"] == plan["sweeps"] and done["bytes"] == plan["bytes"]
    assert not old.exists() and fresh.is_dir()
    assert outside.read_text() == "keep me" and tmp_path.is_dir()  # links were not followed


# ------------------------------------------------------------------ a sweep in progress
def test_monitor_list_and_cleanup_on_a_running_sweep(capsys, base):
    sweep = base / "live" / "sweeps" / "dmixer" / "Solar" / "running"
    args = [
        sys.executable,
        str(REPO / "train.py"),
        "-m",
        *TINY,
        *GRID,
        *TOPK,
        "trainer.max_epochs=200",
        "trainer.patience=1000",
        "trainer.lr=1e-3,3e-3",
        f"hydra.sweep.dir={sweep}",
    ]
    env = {**os.environ, "SWEEPKIT_DATA_DIR": str(DATA_DIR), "WANDB_MODE": "disabled"}
    proc = subprocess.Popen(
        args, cwd=base, env=env, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL, start_new_session=True
    )
    try:
        deadline = time.time() + 90
        while time.time() < deadline:
            try:
                record = json.loads((sweep / "0" / "run.json").read_text())
                if record["status"] == "running" and record["epoch"] >= 2:
                    break
            except (OSError, ValueError):
                pass
            assert proc.poll() is None, "the sweep ended before it could be watched"
            time.sleep(0.3)
        else:
            pytest.fail("the sweep never reported a running epoch")
        code, out, _ = cli(capsys, "--json", "monitor", sweep, "--once")
        frame = json.loads(out)
        assert code == 0 and frame["running"] and frame["n_trials"] == 2
        assert [j["run_id"] for j in frame["jobs"]] == ["0"]
        assert frame["jobs"][0]["epoch"] >= 2 and frame["jobs"][0]["max_epochs"] == 200
        assert frame["elapsed_s"] > 0 and frame["eta_s"] is None  # no trial has finished yet
        code, out, _ = cli(capsys, "monitor", sweep, "--once")
        assert "running jobs" in out and "/200" in out and "0/2" in out
        assert "elapsed " in out and "ETA" not in out
        code, out, _ = cli(capsys, "--json", "list", sweep)
        assert json.loads(out)[0]["running"] is True
        code, out, err = cli(capsys, "cleanup", sweep, "--days", "0", "--live")
        assert code == 1 and "still running" in err and sweep.is_dir()
    finally:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()


def _in_a_terminal(args: list[str], env: dict[str, str]) -> tuple[int, str]:
    """Run ``args`` (environment ``env``) with stdout and stderr on a pseudo-terminal; (exit code,
    what it showed)."""
    import pty

    primary, secondary = pty.openpty()
    proc = subprocess.Popen(args, stdout=secondary, stderr=secondary, env={**env, "COLUMNS": "160"})
    os.close(secondary)
    shown = b""
    while True:
        try:
            chunk = os.read(primary, 65536)
        except OSError:  # the child closed the terminal
            break
        if not chunk:
            break
        shown += chunk
    os.close(primary)
    return proc.wait(timeout=60), shown.decode(errors="replace")


def test_monitor_on_a_terminal_draws_with_rich_and_plain_text_under_no_color(optuna_sweep):
    args = [sys.executable, "-m", "sweepkit.cli", "monitor", str(optuna_sweep), "--interval", "0.2"]
    env = {k: v for k, v in os.environ.items() if k != "NO_COLOR"}
    code, shown = _in_a_terminal(args, {**env, "TERM": "xterm-256color"})
    assert code == 0 and "top k" in shown and "monitor stops" in shown
    assert "\x1b[" in shown  # rich's live view: colour and cursor control
    top = expected_top(optuna_sweep)[0]
    assert top in shown
    code, plain = _in_a_terminal(args, {**env, "NO_COLOR": "1"})
    assert code == 0 and "top k" in plain and top in plain and "\x1b[" not in plain


def test_monitor_eta_follows_the_finished_trials_and_the_time_limit():
    from sweepkit.cli._monitor import render

    state = {
        "sweep": "s",
        "what": "",
        "running": True,
        "n_trials": 10,
        "done": 4,
        "counts": {"complete": 3, "pruned": 1, "failed": 0, "killed": 0, "running": 1},
        "jobs": [],
        "top": [],
        "time": 0.0,
        "metric": "val_loss",
        "elapsed_s": 100.0,
        "eta_s": 150.0,
        "timeout_s": None,
    }
    assert "4/10 (40%)  elapsed 1m40s, ETA 2m30s\n" in render(state)
    state.update(eta_s=20.0, timeout_s=120.0)
    assert "elapsed 1m40s, ETA 20s (time limit)" in render(state)
    state.update(running=False, eta_s=None)
    assert "elapsed 1m40s\n" in render(state) and "ETA" not in render(state)


def test_debug_logging_goes_to_stderr(grid_sweep):
    env = {**os.environ, "SWEEP_DEBUG": "1"}
    result = subprocess.run(
        [sys.executable, "-m", "sweepkit.cli", "list", str(grid_sweep)], capture_output=True, text=True, env=env
    )
    assert result.returncode == 0
    assert "found 1 sweep(s)" in result.stderr and "finished in" in result.stderr
    assert "found 1 sweep" not in result.stdout
