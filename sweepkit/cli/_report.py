"""``report``: one self-contained, offline HTML page (plotly.js inlined once, nothing fetched)
with Optuna's interactive plots of the sweep (see :mod:`sweepkit.cli._figures`) and what only
sweepkit knows: the top-k (or Pareto) table with each kept checkpoint's path and size, disk used and
reclaimed, status counts, elapsed time and ETA, and each run's data source. ``--png DIR`` /
``--svg DIR`` write the plots as titled, labelled images too.

When the sweep holds a leaderboard (the JSON that ``sweepkit leaderboard`` leaves in every sweep
it scores, see :func:`leaderboard_path`) or ``--leaderboard FILE`` names one, the page also has a
"Leaderboard" table. The file is read as plain JSON: nothing of the workload that made it is
imported here."""

from __future__ import annotations

import argparse
import json
import os
import sys
import time
from html import escape
from pathlib import Path
from typing import Any, Mapping, cast

from sweepkit._eta import describe
from sweepkit._io import finite, jsonable
from sweepkit._version import __version__
from sweepkit.cli._render import fmt_bytes, fmt_num, fmt_time, print_json, write_file
from sweepkit.cli._summary import report_errors, test_metrics, varying_params
from sweepkit.cli._sweeps import Run, Sweep, latest_sweep
from sweepkit.errors import CliError
from sweepkit.records import INTERNAL_DIR, LEADERBOARD_NAME


def run(args: argparse.Namespace) -> int:
    from sweepkit.cli import _figures

    _figures.require_plotting()
    sweep = latest_sweep(args.path)
    output = Path(args.output)
    if not output.parent.is_dir():
        raise CliError(f"cannot write {output}: folder {output.parent} does not exist")
    board_path = Path(args.leaderboard) if args.leaderboard else leaderboard_path(sweep.path)
    if args.leaderboard and not board_path.is_file():
        raise CliError(f"--leaderboard {board_path}: no such file")
    board = None
    if board_path.is_file():
        try:
            board = load_leaderboard(board_path)
        except ValueError as exc:
            print(
                f"sweepkit report: warning: leaderboard {board_path}: {exc}; the report has no "
                "leaderboard section (rerun `sweepkit leaderboard` to write it again)",
                file=sys.stderr,
            )
    data = report_data(sweep, args.top)
    if board is not None:
        data["leaderboard"] = leaderboard_data(board, board_path, sweep)
    study = _figures.study_of(sweep)
    plots = _figures.plots(study, len(data["top"]) or sweep.top_k)
    data["plots"] = [p.name for p in plots]
    write_file(output, render_html(data, plots).encode("utf-8"))
    with_board = f", the leaderboard of {board_path}" if board is not None else ""
    print(
        f"wrote {output} ({len(plots)} plots, {len(data['top'])} top runs{with_board}) for {sweep.name}",
        file=sys.stderr,
    )
    images: list[str] = []
    for fmt in ("png", "svg"):
        folder = getattr(args, fmt, None)
        if folder:
            images += [str(p) for p in _figures.write_images(study, plots, Path(folder), fmt)]
            print(f"wrote {len(plots)} {fmt.upper()} images to {folder}", file=sys.stderr)
    if getattr(args, "json", False):
        print_json(
            {
                "sweep": str(sweep.path),
                "output": str(output),
                "plots": len(plots),
                "top": len(data["top"]),
                "leaderboard": str(board_path) if board is not None else None,
                "images": images,
            }
        )
    return report_errors([sweep])


def data_source(record: Mapping[str, Any] | None) -> str | None:
    """What a run trained on, from its record's ``data`` field (``file Wind.csv``, ``synthetic
    Solar``), or None when the app records nothing."""
    data = (record or {}).get("data")
    if isinstance(data, str):
        return data
    if not isinstance(data, dict):
        return None
    where = Path(str(data["path"])).name if data.get("path") else data.get("name")
    return " ".join(str(x) for x in (data.get("source"), where) if x) or None


def _file_size(path: Any) -> int | None:
    try:
        return os.stat(path, follow_symlinks=False).st_size if path else None
    except OSError:
        return None


def _top_entry(sweep: Sweep, rank: int, run: Run, keys: list[str], tests: list[str]) -> dict[str, Any]:
    test = run["test"] if isinstance(run.get("test"), dict) else {}
    checkpoint = run.get("checkpoint")
    return {
        "rank": rank,
        "run_id": run["run_id"],
        "run_name": run.get("run_name"),
        "job": run.get("job_num"),
        "metric_value": run.get("metric_value"),
        "metric_values": run.get("metric_values"),
        "best_epoch": run.get("best_epoch"),
        "status": run.get("status"),
        "test": {t: test.get(t) for t in tests},
        "data": data_source(sweep.job_record(run)),
        "checkpoint": checkpoint,
        "checkpoint_in_sweep": (os.path.relpath(checkpoint, sweep.path.absolute()) if checkpoint else None),
        "checkpoint_bytes": _file_size(checkpoint),
        "params": {k: (run.get("params") or {}).get(k) for k in keys},
    }


def report_data(sweep: Sweep, top_n: int | None = None) -> dict[str, Any]:
    """Everything the page states besides its plots, as plain data (embedded in the page as
    JSON): the sweep's facts, progress and disk, and the top-k (or Pareto) table."""
    runs = sweep.runs
    keys = varying_params(runs)
    ranked = sweep.ranked()[: top_n or sweep.top_k]
    tests = test_metrics(ranked)
    top = [_top_entry(sweep, i, r, keys, tests) for i, r in enumerate(ranked, 1)]
    sources: dict[str, int] = {}
    for run in runs:
        source = data_source(sweep.job_record(run))
        if source:
            sources[source] = sources.get(source, 0) + 1
    objectives = sweep.objectives
    return {
        "sweep": sweep.name,
        "path": str(sweep.path.absolute()),
        "labels": sweep.labels,
        "what": sweep.what,
        "metric": sweep.metric_name,
        "mode": sweep.mode,
        "objectives": objectives,
        "front_size": len(sweep.front()) if objectives else None,
        "status": sweep.status(),
        "started": sweep.started,
        "progress": sweep.progress(),
        "counts": sweep.counts(),
        "disk": sweep.disk(),
        "data_sources": sources,
        "test_metrics": tests,
        "varying_params": keys,
        "top": top,
        "generated": time.time(),
    }


CSS = """
body{font-family:sans-serif;margin:2em auto;padding:0 1em;color:#222;max-width:1200px}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:2em}
.scroll{overflow-x:auto;max-width:100%}
table{border-collapse:collapse;font-size:.9em}
td,th{padding:.25em .8em;border-bottom:1px solid #ddd;vertical-align:top}
th{text-align:left;background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
td.text{white-space:nowrap} td.path{font-family:monospace;font-size:.85em;word-break:break-all;min-width:16em}
.plot{width:100%;height:480px} .meta{color:#555} .warn{color:#a40}
tr.this td{background:#fff3c4;font-weight:bold} tr.published td{font-style:italic;color:#555}
"""


def html_table(head: list[str], rows: list[tuple[list[tuple[object, str]], str | None]]) -> list[str]:
    """An HTML table in a horizontally scrolling box: ``rows`` are (cells, class of the row or
    None), a cell is (value, its class: "num", "path" or "")."""
    lines = ['<div class="scroll"><table><tr>' + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for cells, css in rows:
        lines.append(
            f"<tr{f' class={css}' if css else ''}>"
            + "".join(f"<td{f' class={kind}' if kind else ''}>{escape(fmt_num(v))}</td>" for v, kind in cells)
            + "</tr>"
        )
    return [*lines, "</table></div>"]


def _top_table(data: dict[str, Any]) -> list[str]:
    objectives = data["objectives"]
    names = [o["name"] for o in objectives] if objectives else [data["metric"]]
    tests, keys = data["test_metrics"], data["varying_params"]
    head = [
        "rank",
        "run",
        "job",
        *names,
        "epoch",
        "status",
        *(t if t.startswith("test") else f"test {t}" for t in tests),
        *(["data"] if any(e["data"] for e in data["top"]) else []),
        "checkpoint",
        "size",
        *keys,
    ]
    rows: list[tuple[list[tuple[object, str]], str | None]] = []
    for entry in data["top"]:
        values = (entry.get("metric_values") or [None] * len(names)) if objectives else [entry["metric_value"]]
        cells: list[tuple[object, str]] = [
            (entry["rank"], "num"),
            (entry["run_name"], ""),
            (entry["job"], "num"),
            *((v, "num") for v in values),
            (entry["best_epoch"], "num"),
            (entry["status"], ""),
            *((entry["test"].get(t), "num") for t in tests),
            *([(entry["data"], "text")] if "data" in head else []),
            (entry["checkpoint_in_sweep"], "path"),
            (fmt_bytes(entry["checkpoint_bytes"]) if entry["checkpoint_bytes"] is not None else None, "text"),
            *((entry["params"].get(k), "num") for k in keys),
        ]
        rows.append((cells, None))
    return html_table(head, rows)


def _facts(data: dict[str, Any]) -> list[str]:
    """The lines under the title: where, when, progress, disk and data."""
    counts, disk, progress = data["counts"], data["disk"], data["progress"]
    summary = ", ".join(f"{k} {v}" for k, v in counts.items() if v) or "none"
    planned = f" of {progress['n_trials']}" if progress.get("n_trials") else ""
    timing = describe(progress["elapsed_s"], progress.get("eta_s"), progress.get("timeout_s"))
    sources = data["data_sources"]
    lines = [
        escape(data["path"]),
        f"started {fmt_time(data['started'])}, {escape(data['status'])}, {escape(timing)}; "
        f"{progress['done']}{planned} trials finished; runs: {escape(summary)}",
        f"metric {escape(data['metric'])} ({escape(data['mode'])})"
        + (
            f"; objectives {escape(', '.join(o['name'] + ' (' + o['mode'] + ')' for o in data['objectives']))}"
            if data["objectives"]
            else ""
        ),
        f"disk: kept checkpoints {fmt_bytes(disk['best_models_bytes'])}, reclaimed "
        f"{fmt_bytes(disk['reclaimed_bytes'])} ({disk['deleted_checkpoints']} checkpoints deleted)",
    ]
    if sources:
        lines.append("data: " + escape(", ".join(f"{s} ({n} runs)" for s, n in sources.items())))
    out = [f'<p class="meta">{"<br>".join(lines)}</p>']
    synthetic = [s for s in sources if s.startswith("synthetic")]
    if synthetic:
        out.append(f'<p class="warn">Runs trained on synthetic data: {escape(", ".join(synthetic))}.</p>')
    return out


def render_html(data: dict[str, Any], plots: list[Any]) -> str:
    """The page: facts, the top-k table, the leaderboard, then each plot (plotly.js inlined once)."""
    from plotly.offline import get_plotlyjs

    what = data["what"] or "sweep"
    payload = json.dumps(jsonable(data), default=str, allow_nan=False).replace("</", "<\\/")
    kept = len(data["top"])
    heading = f"Kept on the Pareto front: {kept} of {data['front_size']}" if data["objectives"] else f"Top {kept}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>sweepkit report: {escape(data['sweep'])}</title>",
        f"<style>{CSS}</style>",
        f'<script type="text/javascript">{get_plotlyjs()}</script>',
        "</head><body>",
        f"<h1>{escape(what)}: {escape(data['sweep'])}</h1>",
        *_facts(data),
        f'<h2 id="top">{escape(heading)}</h2>',
        f'<p class="meta">checkpoint paths are relative to {escape(data["path"])}</p>' if data["top"] else "",
        *(_top_table(data) if data["top"] else ["<p>No finished run yet.</p>"]),
        *(leaderboard_html(data["leaderboard"]) if data.get("leaderboard") else []),
    ]
    config = {"displaylogo": False, "responsive": True}
    for plot in plots:
        parts += [
            f'<h2 id="{plot.name}">{escape(plot.title)}</h2>',
            plot.figure.update_layout(title=None, margin={"t": 30}).to_html(  # the heading is the title
                full_html=False,
                include_plotlyjs=False,
                div_id=f"plot-{plot.name}",
                config=config,
                default_width="100%",
                default_height="480px",
            ),
        ]
    parts += [
        f'<p class="meta">sweepkit {__version__}, {fmt_time(data["generated"])}</p>',
        f'<script type="application/json" id="sweep-data">{payload}</script>',
        "</body></html>",
    ]
    return "\n".join(p for p in parts if p) + "\n"


# ------------------------------------------------------------------ the leaderboard section
def leaderboard_path(sweep_dir: Path) -> Path:
    """Where ``sweepkit leaderboard`` leaves its result in each sweep it scores: in sweepkit's own
    folder, so the sweep's top level, and with it the last-write time that tells a running sweep
    and cleanup's age, stays as the sweep left it."""
    return Path(sweep_dir) / INTERNAL_DIR / LEADERBOARD_NAME


def load_leaderboard(path: Path) -> dict[str, Any]:
    """A leaderboard file (the JSON of ``sweepkit leaderboard``); ValueError says what is wrong."""
    try:
        board = json.loads(Path(path).read_text(encoding="utf-8"))
    except OSError as exc:
        raise ValueError(f"cannot read it ({exc.strerror or exc})") from None
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise ValueError(f"not valid JSON ({exc})") from None
    rows = board.get("rows") if isinstance(board, dict) else None
    if not isinstance(rows, list) or not all(
        isinstance(r, dict)
        and isinstance(r.get("name"), str)
        and all(isinstance(r.get(s), (dict, type(None))) for s in ("val", "test"))
        for r in rows
    ):
        raise ValueError("not a leaderboard (it needs a list of rows, each with a name and val/test scores)")
    return cast("dict[str, Any]", board)  # a JSON object, checked above


def _test_mse(row: dict[str, Any]) -> float:
    mse = finite((row.get("test") or {}).get("mse"))
    return float("inf") if mse is None else mse


def leaderboard_data(board: dict[str, Any], path: Path | None = None, sweep: Sweep | None = None) -> dict[str, Any]:
    """The board (read from ``path``) with its rows ranked by test MSE, ``this`` marking those of
    ``sweep`` (its best run and the seeds retraining it), and a note when the board no longer
    matches the sweep."""
    board = jsonable(board)  # NaN as None: the page embeds its data as standard JSON
    here = sweep.path.resolve() if sweep is not None else None
    rows = []
    for row in sorted(board["rows"], key=_test_mse):
        mine = here is not None and isinstance(row.get("sweep"), str) and Path(row["sweep"]).resolve() == here
        rows.append(dict(row, this=mine))
    note = None
    if sweep is not None:
        scored = [r for r in rows if r["this"] and r.get("kind") == "sweep"]
        ranked = sweep.ranked()
        best = ranked[0].get("run_name") if ranked else None
        if not scored:
            note = f"this sweep has no row in {path}"
        elif best is not None and scored[0].get("run_name") != best:
            note = (
                f"the leaderboard scored run {scored[0].get('run_name')}; the sweep's best run is now "
                f"{best}: rerun `sweepkit leaderboard` to score it"
            )
    return {"file": None if path is None else str(path), "board": dict(board, rows=rows), "note": note}


def _with_spread(row: dict[str, Any], metric: str) -> str:
    value = fmt_num((row.get("test") or {}).get(metric))
    spread = row.get(f"test_{metric}_sd")
    return f"{value} ± {fmt_num(spread, 2)}" if finite(spread) is not None else value


def leaderboard_html(data: dict[str, Any]) -> list[str]:
    """The "Leaderboard" section: one row per entry, best test MSE first; the sweep's own rows
    highlighted, published figures in italics; seeds rows show mean ± standard deviation."""
    board = data["board"]
    series = board.get("series") if isinstance(board.get("series"), dict) else {}
    source = series.get("source")
    if source == "file" and series.get("path"):
        source = f"file {Path(str(series['path'])).name}"
    facts = [
        str(source) if source else None,
        f"{series['rows']} x {series['channels']}" if series.get("rows") and series.get("channels") else None,
        f"horizon {board['horizon']}" if board.get("horizon") is not None else None,
        f"{board['test_windows']} test windows" if board.get("test_windows") is not None else None,
    ]
    head = ["#", "model", "source", "lookback", "val MSE", "test MSE", "test MAE", "detail"]
    rows: list[tuple[list[tuple[object, str]], str | None]] = []
    for i, row in enumerate(data["board"]["rows"], 1):
        kind = str(row.get("kind") or "-")
        cells: list[tuple[object, str]] = [
            (i, "num"),
            (row["name"], ""),
            (("this sweep" if kind == "sweep" else f"{kind} (this sweep)") if row["this"] else kind, ""),
            (row.get("lookback"), "num"),
            ((row.get("val") or {}).get("mse"), "num"),
            (_with_spread(row, "mse"), "num"),
            (_with_spread(row, "mae"), "num"),
            (row.get("detail") or "", ""),
        ]
        rows.append((cells, "this" if row["this"] else "published" if kind == "published" else None))
    parts = [
        f'<h2 id="leaderboard">Leaderboard{" " + escape(str(board["dataset"])) if board.get("dataset") else ""}</h2>',
        f'<p class="meta">{escape(", ".join(f for f in facts if f))}{"; " if any(facts) else ""}'
        "ranked by test MSE; a sweep's row is its best run, chosen on val; "
        f"{'from ' + escape(data['file']) + ', ' if data.get('file') else ''}"
        f"made {fmt_time(board.get('generated'))} by <code>sweepkit leaderboard</code></p>",
    ]
    if data.get("note"):
        parts.append(f"<p><b>Note</b>: {escape(data['note'])}</p>")
    parts += html_table(head, rows)
    skipped = [s for s in board.get("skipped") or [] if isinstance(s, str)]
    if skipped:
        parts.append('<p class="meta">left out: ' + "; ".join(escape(s) for s in skipped) + "</p>")
    return parts


def leaderboard_page(board: dict[str, Any]) -> str:
    """A page of its own with the leaderboard section (``sweepkit leaderboard --html FILE``)."""
    data = leaderboard_data(board)
    payload = json.dumps(data, default=str, allow_nan=False).replace("</", "<\\/")
    title = f"sweepkit leaderboard: {board.get('dataset') or ''}".strip()
    return (
        "\n".join(
            [
                "<!DOCTYPE html>",
                '<html lang="en"><head><meta charset="utf-8">',
                f"<title>{escape(title)}</title>",
                f"<style>{CSS}</style>",
                "</head><body>",
                *leaderboard_html(data),
                f'<p class="meta">sweepkit {__version__}</p>',
                f'<script type="application/json" id="leaderboard-data">{payload}</script>',
                "</body></html>",
            ]
        )
        + "\n"
    )
