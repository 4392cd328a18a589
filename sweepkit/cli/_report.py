"""``report``: one self-contained HTML page (inline SVG, no scripts or links to fetch) with the
optimization history, parallel coordinates, parameter importance, learning curves of the top k,
pruned-trial curves and the top-k table; ``--png DIR`` writes the plots as PNG images too.

When the sweep holds a leaderboard (the JSON that ``sweepkit leaderboard`` leaves in every sweep
it scores, see :func:`leaderboard_path`) or ``--leaderboard FILE`` names one, the page also has a
"Leaderboard" table. The file is read as plain JSON: nothing of the workload that made it is
imported here."""

from __future__ import annotations

import argparse
import json
import sys
import time
from html import escape
from pathlib import Path
from typing import Any, cast

from sweepkit._io import finite, jsonable
from sweepkit._version import __version__
from sweepkit.cli import _plots, _stats
from sweepkit.cli._render import fmt_num, fmt_time, print_json, write_file
from sweepkit.cli._summary import report_errors, test_metrics, varying_params
from sweepkit.cli._sweeps import Sweep, latest_sweep
from sweepkit.errors import CliError
from sweepkit.records import INTERNAL_DIR, LEADERBOARD_NAME, RANKED_STATUSES

MAX_PARALLEL_RUNS = 500
MAX_PRUNED_CURVES = 200
MAX_PARALLEL_PARAMS = 8


def run(args: argparse.Namespace) -> int:
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
    figures = build_figures(data)
    write_file(output, render_html(data, figures).encode("utf-8"))
    with_board = f", the leaderboard of {board_path}" if board is not None else ""
    print(
        f"wrote {output} ({len(figures)} plots, {len(data['top'])} top runs{with_board}) for {sweep.name}",
        file=sys.stderr,
    )
    images: list[str] = []
    if args.png:
        from sweepkit.cli._png import write_pngs

        images = [str(p) for p in write_pngs(figures, Path(args.png))]
        print(f"wrote {len(images)} PNG images (plots without text labels) to {args.png}", file=sys.stderr)
    if getattr(args, "json", False):
        print_json(
            {
                "sweep": str(sweep.path),
                "output": str(output),
                "plots": len(figures),
                "top": len(data["top"]),
                "leaderboard": str(board_path) if board is not None else None,
                "png": images,
            }
        )
    return report_errors([sweep])


def _points(history: list[dict[str, Any]], metric: str) -> list[list[float]]:
    return [[h["epoch"], h[metric]] for h in history if _stats.finite(h.get("epoch")) and _stats.finite(h.get(metric))]


def report_data(sweep: Sweep, top_n: int | None = None) -> dict[str, Any]:
    """Everything the page plots, as plain data (embedded in the page as JSON)."""
    metric, runs = sweep.metric_name, sweep.runs
    keys = varying_params(runs)
    method, scores = _stats.importance(sweep, keys)
    finished = [r for r in runs if r.get("status") in RANKED_STATUSES and _stats.finite(r.get("metric_value"))]
    history = [
        {
            "x": r["job_num"] if isinstance(r.get("job_num"), int) else i,
            "value": r["metric_value"],
            "status": r["status"],
            "run_id": r["run_id"],
        }
        for i, r in enumerate(finished)
    ]
    parallel_keys = sorted(keys, key=lambda k: -scores.get(k, 0.0))[:MAX_PARALLEL_PARAMS]
    best_first = sorted(finished, key=lambda r: r["metric_value"], reverse=sweep.mode == "max")
    parallel = [
        {
            "run_id": r["run_id"],
            "value": r["metric_value"],
            "params": {k: (r.get("params") or {}).get(k) for k in parallel_keys},
        }
        for r in best_first[:MAX_PARALLEL_RUNS]
    ]
    ranked = sweep.ranked()[: top_n or sweep.top_k]
    top_curves = [
        {"run_id": r["run_id"], "label": f"#{i} {r.get('run_name')}", "points": _points(_stats.curve(sweep, r), metric)}
        for i, r in enumerate(ranked, 1)
    ]
    pruned = [r for r in runs if r.get("status") == "pruned"][:MAX_PRUNED_CURVES]
    pruned_curves = [
        {
            "run_id": r["run_id"],
            "status": "pruned",
            "colour": "#ff7f0e",
            "points": _points(_stats.curve(sweep, r), metric),
        }
        for r in pruned
    ]
    top = []
    tests = test_metrics(ranked)
    for i, r in enumerate(ranked, 1):
        test = r["test"] if isinstance(r.get("test"), dict) else {}
        top.append(
            {
                "rank": i,
                "run_id": r["run_id"],
                "run_name": r.get("run_name"),
                "metric_value": r.get("metric_value"),
                "best_epoch": r.get("best_epoch"),
                "status": r.get("status"),
                "test": {t: test.get(t) for t in tests},
                "checkpoint": r.get("checkpoint"),
                "params": {k: (r.get("params") or {}).get(k) for k in keys},
            }
        )
    objectives = sweep.objectives
    pareto = None
    if objectives:
        on_front = {r["run_id"]: r.get("rank") for r in sweep.front()}
        pareto = {
            "names": [o["name"] for o in objectives],
            "modes": [o["mode"] for o in objectives],
            "runs": [
                {
                    "run_id": r["run_id"],
                    "run_name": r.get("run_name"),
                    "values": r.get("metric_values"),
                    "on_front": r["run_id"] in on_front,
                    "kept": on_front.get(r["run_id"]),
                }
                for r in runs
                if r.get("status") in RANKED_STATUSES
            ],
        }
        for entry, r in zip(top, ranked):
            entry["metric_values"] = r.get("metric_values")
    return {
        "sweep": sweep.name,
        "path": str(sweep.path.absolute()),
        "labels": sweep.labels,
        "pareto": pareto,
        "what": sweep.what,
        "test_metrics": tests,
        "metric": metric,
        "mode": sweep.mode,
        "status": sweep.status(),
        "started": sweep.started,
        "counts": sweep.counts(),
        "n_trials": sweep.n_trials,
        "varying_params": keys,
        "history": history,
        "parallel": {"keys": parallel_keys, "rows": parallel},
        "importance": {"method": method, "scores": scores},
        "top_curves": top_curves,
        "pruned_curves": pruned_curves,
        "top": top,
        "generated": time.time(),
    }


def build_figures(data: dict[str, Any]) -> list[_plots.Figure]:
    metric = data["metric"]
    pareto = data.get("pareto")
    front = [_plots.front_plot(pareto["runs"], pareto["names"], pareto["modes"])] if pareto else []
    return [
        *front,
        _plots.history_plot(data["history"], metric, data["mode"]),
        _plots.parallel_plot(data["parallel"]["rows"], data["parallel"]["keys"], metric, data["mode"]),
        _plots.importance_plot(data["importance"]["scores"], data["importance"]["method"]),
        _plots.curves_plot(
            "top_k_curves", f"Learning curves of the top {len(data['top'])}", data["top_curves"], metric
        ),
        _plots.curves_plot(
            "pruned_curves",
            f"Pruned trials ({len(data['pruned_curves'])}, orange) against the top k",
            data["top_curves"],
            metric,
            background=data["pruned_curves"],
        ),
    ]


CSS = """
body{font-family:sans-serif;margin:2em;color:#222;max-width:1200px}
h1{font-size:1.4em} h2{font-size:1.1em;margin-top:2em}
table{border-collapse:collapse;font-size:.9em}
td,th{padding:.25em .8em;border-bottom:1px solid #ddd}
th{text-align:left;background:#f4f4f4} td.num{text-align:right;font-variant-numeric:tabular-nums}
figure{margin:1em 0} .meta{color:#555}
tr.this td{background:#fff3c4;font-weight:bold} tr.published td{font-style:italic;color:#555}
"""


def html_table(head: list[str], rows: list[tuple[list[tuple[object, bool]], str | None]]) -> list[str]:
    """An HTML table: ``rows`` are (cells, class of the row or None), a cell is (value, is a number)."""
    lines = ["<table><tr>" + "".join(f"<th>{escape(h)}</th>" for h in head) + "</tr>"]
    for cells, css in rows:
        lines.append(
            f"<tr{f' class={css}' if css else ''}>"
            + "".join(f"<td{' class=num' if num else ''}>{escape(fmt_num(v))}</td>" for v, num in cells)
            + "</tr>"
        )
    return [*lines, "</table>"]


def render_html(data: dict[str, Any], figures: list[_plots.Figure]) -> str:
    counts = data["counts"]
    what = data["what"] or "sweep"
    summary = ", ".join(f"{k} {v}" for k, v in counts.items() if v)
    keys = data["varying_params"]
    tests = data["test_metrics"]
    pareto = data.get("pareto")
    names = pareto["names"] if pareto else [data["metric"]]
    head = [
        "rank",
        "run",
        *names,
        "epoch",
        "status",
        *(t if t.startswith("test") else f"test {t}" for t in tests),
        *keys,
    ]
    rows: list[tuple[list[tuple[object, bool]], str | None]] = []
    for entry in data["top"]:
        values = (entry.get("metric_values") or [None] * len(names)) if pareto else [entry["metric_value"]]
        cells = [
            (entry["rank"], True),
            (entry["run_name"], False),
            *((v, True) for v in values),
            (entry["best_epoch"], True),
            (entry["status"], False),
            *((entry["test"].get(t), True) for t in tests),
            *((entry["params"].get(k), True) for k in keys),
        ]
        rows.append((cells, None))
    payload = json.dumps(data, default=str, allow_nan=False).replace("</", "<\\/")
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f"<title>sweepkit report: {escape(data['sweep'])}</title>",
        f"<style>{CSS}</style>",
        "</head><body>",
        f"<h1>{escape(what)}: {escape(data['sweep'])}</h1>",
        f'<p class="meta">{escape(data["path"])}<br>started {fmt_time(data["started"])}, '
        f"{escape(data['status'])}; runs: {escape(summary or 'none')}; metric "
        f"{escape(data['metric'])} ({escape(data['mode'])})</p>",
        (
            f"<h2>Kept on the Pareto front: {len(data['top'])} of {sum(r['on_front'] for r in pareto['runs'])}</h2>"
            if pareto
            else f"<h2>Top {len(data['top'])}</h2>"
        ),
        *html_table(head, rows),
        *(leaderboard_html(data["leaderboard"]) if data.get("leaderboard") else []),
    ]
    for fig in figures:
        parts += [f'<h2 id="{fig.name}">{escape(fig.title)}</h2>', "<figure>", fig.to_svg(), "</figure>"]
    parts += [
        f'<p class="meta">sweepkit {__version__}, {fmt_time(data["generated"])}</p>',
        f'<script type="application/json" id="sweep-data">{payload}</script>',
        "</body></html>",
    ]
    return "\n".join(parts) + "\n"


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
    rows: list[tuple[list[tuple[object, bool]], str | None]] = []
    for i, row in enumerate(data["board"]["rows"], 1):
        kind = str(row.get("kind") or "-")
        cells: list[tuple[object, bool]] = [
            (i, True),
            (row["name"], False),
            (("this sweep" if kind == "sweep" else f"{kind} (this sweep)") if row["this"] else kind, False),
            (row.get("lookback"), True),
            ((row.get("val") or {}).get("mse"), True),
            (_with_spread(row, "mse"), True),
            (_with_spread(row, "mae"), True),
            (row.get("detail") or "", False),
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
