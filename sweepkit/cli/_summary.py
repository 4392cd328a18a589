"""``summarize``, ``compare`` and ``list``: tables over the sweeps below a path."""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sweepkit.cli._render import STATUS_STYLE, Table, fmt_bytes, fmt_num, fmt_time, print_json, style
from sweepkit.cli._sweeps import Objective, Run, Sweep, dir_size, find_sweeps
from sweepkit.errors import CliError

MAX_PARAM_COLUMNS = 6
MAX_TEST_COLUMNS = 4


def run(args: argparse.Namespace) -> int:
    sweeps = find_sweeps(args.path)
    handler = {"summarize": summarize, "compare": compare, "list": list_sweeps}[args.command]
    return handler(sweeps, args)


def varying_params(runs: list[Run]) -> list[str]:
    """Parameter names whose value is not the same in every one of ``runs``."""
    values: dict[str, set[str]] = {}
    missing: set[str] = set()
    for run in runs:
        params = run.get("params") or {}
        for key, value in params.items():
            values.setdefault(key, set()).add(repr(value))
        if values:
            missing.update(k for k in values if k not in params)
    return [k for k, v in values.items() if len(v) > 1 or k in missing]


def report_errors(sweeps: list[Sweep]) -> int:
    """Print each sweep's read errors to stderr; 1 when there were any."""
    code = 0
    for sweep in sweeps:
        for error in dict.fromkeys(sweep.errors):
            print(f"sweepkit: error: {error}", file=sys.stderr)
            code = 1
    return code


def sweep_summary(sweep: Sweep, top_n: int | None = None) -> dict[str, Any]:
    """What ``summarize`` shows of one sweep, as a plain dict (also the --json output)."""
    ranked = sweep.ranked()[: top_n or sweep.top_k]
    keys = varying_params(ranked if len(ranked) > 1 else sweep.runs)
    best = ranked[0] if ranked else None
    return {
        "sweep": sweep.name,
        "path": str(sweep.path.absolute()),
        "labels": sweep.labels,
        "what": sweep.what,
        "source": "optuna" if sweep.runs and sweep.runs[0].get("source") == "optuna" else "manifest",
        "started": sweep.started,
        "status": sweep.status(),
        "metric": sweep.metric_name,
        "mode": sweep.mode,
        "top_k": sweep.top_k,
        "n_runs": len(sweep.runs),
        "n_trials": sweep.n_trials,
        "counts": sweep.counts(),
        "best": _brief(best, []) if best else None,
        "varying_params": keys,
        "test_metrics": test_metrics(ranked),
        "top": [dict(_brief(r, keys), rank=i) for i, r in enumerate(ranked, 1)],
        "objectives": sweep.objectives,
        "front": [dict(_brief(r, keys), rank=r.get("rank")) for r in sweep.front()],
        "disk": sweep.disk(),
        "errors": list(dict.fromkeys(sweep.errors)),
    }


def _brief(run: Run, keys: list[str]) -> dict[str, Any]:
    params = run.get("params") or {}
    return {
        "run_id": run.get("run_id"),
        "run_name": run.get("run_name"),
        "job_num": run.get("job_num"),
        "status": run.get("status"),
        "metric_value": run.get("metric_value"),
        "best_epoch": run.get("best_epoch"),
        **({"metric_values": run["metric_values"]} if "metric_values" in run else {}),
        "checkpoint": run.get("checkpoint"),
        "wandb": run.get("wandb") or None,
        "test": run.get("test") if isinstance(run.get("test"), dict) else None,
        "params": {k: params.get(k) for k in keys},
    }


def test_metrics(runs: list[Run]) -> list[str]:
    """The test metric names any of ``runs`` recorded (``mse``, ``test/acc``, ...), in order."""
    names: dict[str, None] = {}
    for run in runs:
        if isinstance(run.get("test"), dict):
            names.update(dict.fromkeys(str(k) for k in run["test"]))
    return list(names)


def _wandb_ref(info: dict[str, Any] | None) -> str:
    """A W&B run's URL when online, else its id."""
    if not info:
        return "-"
    return str(info.get("url") or info.get("id") or "-")


def summarize(sweeps: list[Sweep], args: argparse.Namespace) -> int:
    summaries = [sweep_summary(s, args.top) for s in sweeps]
    if args.json:
        print_json(summaries)
        return report_errors(sweeps)
    for i, info in enumerate(summaries):
        if i:
            print()
        print(_summary_text_header(info))
        if info["objectives"]:
            _print_front(info)
        elif info["top"]:
            keys = info["varying_params"][:MAX_PARAM_COLUMNS]
            tests = info["test_metrics"][:MAX_TEST_COLUMNS]
            wandb = any(entry["wandb"] for entry in info["top"])
            heads = [_test_head(t) for t in tests]
            table = Table(
                ["rank", "run", info["metric"], "epoch", "status", *heads, *keys, *(["wandb"] if wandb else [])],
                align_right={"rank", info["metric"], "epoch", *heads},
            )
            for entry in info["top"]:
                test = entry["test"] or {}
                table.add(
                    entry["rank"],
                    entry["run_name"] or "-",
                    entry["metric_value"],
                    entry["best_epoch"],
                    entry["status"] or "-",
                    *(fmt_num(test.get(t)) for t in tests),
                    *(fmt_num(entry["params"].get(k)) for k in keys),
                    *([_wandb_ref(entry["wandb"])] if wandb else []),
                )
            table.print(indent="  ")
            hidden = len(info["varying_params"]) - len(keys)
            if hidden > 0:
                print(f"  (+{hidden} more differing params; see `sweepkit export`)")
        disk = info["disk"]
        print(
            f"  disk: best_models {fmt_bytes(disk['best_models_bytes'])}, reclaimed "
            f"{fmt_bytes(disk['reclaimed_bytes'])} ({disk['deleted_checkpoints']} checkpoint(s) "
            "deleted)"
        )
    return report_errors(sweeps)


def front_heading(objectives: list[Objective], n_front: int, n_kept: int) -> str:
    """``Pareto front (val_loss min, n_params min): 5 runs, 3 kept``."""
    names = ", ".join(f"{o['name']} {o['mode']}" for o in objectives)
    return f"Pareto front ({names}): {n_front} run(s), {n_kept} kept"


def _print_front(info: dict[str, Any]) -> None:
    """The front of a multi-metric sweep: every non-dominated run, kept ones numbered."""
    front = info["front"]
    print("  " + front_heading(info["objectives"], len(front), sum(e["rank"] is not None for e in front)))
    if not front:
        return
    names = [o["name"] for o in info["objectives"]]
    keys = info["varying_params"][:MAX_PARAM_COLUMNS]
    tests = [t for t in test_metrics(front)][:MAX_TEST_COLUMNS]
    heads = [_test_head(t) for t in tests]
    table = Table(["kept", "run", *names, "status", *heads, *keys], align_right={"kept", *names, *heads})
    for entry in front:
        test = entry["test"] or {}
        values = entry.get("metric_values") or [None] * len(names)
        table.add(
            f"#{entry['rank']}" if entry["rank"] else "-",
            entry["run_name"] or "-",
            *values,
            entry["status"] or "-",
            *(fmt_num(test.get(t)) for t in tests),
            *(fmt_num(entry["params"].get(k)) for k in keys),
        )
    table.print(indent="  ")


def _test_head(name: str) -> str:
    """A test metric's column: ``test/acc`` as is, a bare ``mse`` as ``test mse``."""
    return name if name.startswith("test") else f"test {name}"


def _summary_text_header(info: dict[str, Any]) -> str:
    what = info["what"] or "unknown model"
    if info["source"] == "optuna":
        what += "; no manifest, from the Optuna study"
    status = style(info["status"], STATUS_STYLE.get(info["status"], ""))
    lines = [style(f"Sweep {info['sweep']}", "bold") + f"  ({what}, started {fmt_time(info['started'])}, {status})"]
    counts = info["counts"]
    shown = ", ".join(f"{k} {v}" for k, v in counts.items() if v or k in ("complete", "pruned", "failed", "running"))
    planned = f" of {info['n_trials']}" if info["n_trials"] else ""
    lines.append(f"  runs {info['n_runs']}{planned}: {shown}")
    best = info["best"]
    if info.get("objectives"):
        pass  # several metrics: no single best; the front follows
    elif best:
        lines.append(
            f"  best {info['metric']} ({info['mode']}): "
            + style(fmt_num(best["metric_value"]), "bold")
            + f"  run {best['run_name']} (job {fmt_num(best['job_num'])}, "
            f"epoch {fmt_num(best['best_epoch'])})"
        )
    else:
        lines.append(f"  best {info['metric']}: - (no finished run with a finite metric yet)")
    return "\n".join(lines)


def wanted_labels(args: argparse.Namespace) -> dict[str, str]:
    """``--label KEY=VALUE`` (repeatable), with ``--model M`` and ``--dataset D`` as shorthands."""
    wanted: dict[str, str] = {}
    for item in args.label or []:
        key, sep, value = item.partition("=")
        if not sep or not key:
            raise CliError(f"--label {item!r}: give KEY=VALUE, e.g. --label model=mlp")
        wanted[key] = value
    wanted.update({k: v for k, v in (("model", args.model), ("dataset", args.dataset)) if v})
    return wanted


def compare(sweeps: list[Sweep], args: argparse.Namespace) -> int:
    wanted = wanted_labels(args)
    selected = [s for s in sweeps if all(s.labels.get(k) == v for k, v in wanted.items())]
    rows: list[dict[str, Any]] = []
    for sweep in selected:
        counts = sweep.counts()
        ranked = sweep.ranked()
        best = ranked[0] if ranked else {}
        rows.append(
            {
                "sweep": sweep.name,
                "labels": sweep.labels,
                "what": sweep.what,
                "started": sweep.started,
                "status": sweep.status(),
                "runs": len(sweep.runs),
                **counts,
                "metric": sweep.metric_name,
                "best": best.get("metric_value"),
                "best_run": best.get("run_name"),
            }
        )
    if args.json:
        print_json(rows)
        return report_errors(sweeps)
    if not rows:
        asked = " ".join(f"{k}={v}" for k, v in wanted.items())
        print(f"no sweep matches {asked} ({len(sweeps)} sweeps under {args.path or '.'})", file=sys.stderr)
        return 1
    table = Table(
        [
            "sweep",
            "what",
            "started",
            "status",
            "runs",
            "complete",
            "pruned",
            "failed",
            "metric",
            "best",
            "best run",
        ],
        align_right={"runs", "complete", "pruned", "failed", "best"},
    )
    for row in rows:
        table.add(
            row["sweep"],
            row["what"] or "-",
            fmt_time(row["started"]),
            row["status"],
            row["runs"],
            row["complete"],
            row["pruned"],
            row["failed"] + row["killed"],
            row["metric"],
            row["best"],
            row["best_run"] or "-",
        )
    table.print()
    return report_errors(sweeps)


def list_sweeps(sweeps: list[Sweep], args: argparse.Namespace) -> int:
    rows: list[dict[str, Any]] = [
        {
            "sweep": s.name,
            "path": str(s.path.absolute()),
            "started": s.started,
            "updated": s.updated,
            "size_bytes": dir_size(s.path),
            "runs": len(s.runs),
            "running": s.running,
        }
        for s in sweeps
    ]
    if args.json:
        print_json(rows)
        return report_errors(sweeps)
    table = Table(["sweep", "started", "size", "runs", "running"], align_right={"size", "runs"})
    for row in rows:
        table.add(
            row["sweep"],
            fmt_time(row["started"]),
            fmt_bytes(row["size_bytes"]),
            row["runs"],
            "yes" if row["running"] else "no",
            row_style="cyan" if row["running"] else None,
        )
    table.print()
    return report_errors(sweeps)
