"""``monitor``: a refreshing terminal view of a running sweep, from the jobs' ``run.json`` files."""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Any

from sweepkit._eta import describe
from sweepkit.cli._render import Table, fmt_num, print_json, progress_bar, sparkline, style, use_colour
from sweepkit.cli._sweeps import Sweep, latest_sweep


def run(args: argparse.Namespace) -> int:
    path = latest_sweep(args.path).path
    if use_colour() and not args.once and not args.json:
        return _live(path, args.interval)
    while True:
        state = snapshot(Sweep(path))
        print_json(state) if args.json else print(render(state))
        sys.stdout.flush()
        if args.once:
            return 0
        if not state["running"]:
            if not args.json:
                print(f"sweep {state['sweep']} is not running; monitor stops")
            return 0
        time.sleep(args.interval)


def _live(path: Path, interval: float) -> int:
    """On a terminal: one frame redrawn in place by rich's ``Live`` until the sweep stops."""
    from rich.console import Console
    from rich.live import Live
    from rich.text import Text

    console = Console(highlight=False)
    with Live(console=console, auto_refresh=False, transient=False) as live:
        while True:
            state = snapshot(Sweep(path))
            live.update(Text.from_ansi(render(state)), refresh=True)
            if not state["running"]:
                break
            time.sleep(interval)
    console.print(f"sweep {state['sweep']} is not running; monitor stops")
    return 0


def snapshot(sweep: Sweep) -> dict[str, Any]:
    """Everything one frame shows, as plain data (the --json output)."""
    counts = sweep.counts()
    jobs = []
    for run in sweep.runs:
        if run.get("status") != "running":
            continue
        record = sweep.job_record(run) or {}
        history = record.get("history") or []
        metric = record.get("metric_name") or sweep.metric_name
        jobs.append(
            {
                "run_id": run["run_id"],
                "run_name": run.get("run_name"),
                "epoch": record.get("epoch"),
                "max_epochs": record.get("max_epochs"),
                "last": history[-1].get(metric) if history else None,
                "best": record.get("best_value"),
                "curve": [h.get(metric) for h in history],
            }
        )
    top = [
        {
            "rank": i,
            "run_name": r.get("run_name"),
            "metric_value": r.get("metric_value"),
            "best_epoch": r.get("best_epoch"),
            "status": r.get("status"),
        }
        for i, r in enumerate(sweep.ranked(), 1)
    ]
    progress = sweep.progress()
    running = sweep.running
    return {
        "sweep": sweep.name,
        "labels": sweep.labels,
        "what": sweep.what,
        "metric": sweep.metric_name,
        "running": running,
        "n_trials": sweep.n_trials,
        "done": progress["done"],
        "counts": counts,
        "jobs": jobs,
        "top": top,
        "time": time.time(),
        "elapsed_s": progress["elapsed_s"],
        "eta_s": progress["eta_s"],
        "timeout_s": progress["timeout_s"],
    }


def _timing(state: dict[str, Any]) -> str:
    """``  elapsed 12m03s, ETA 30m10s`` (the ETA while running)."""
    eta = state.get("eta_s") if state["running"] else None
    return "  " + describe(state["elapsed_s"], eta, state.get("timeout_s"))


def render(state: dict[str, Any]) -> str:
    what = state["what"]
    status = style("running", "cyan") if state["running"] else style("finished", "green")
    counts = state["counts"]
    lines = [
        style(f"Sweep {state['sweep']}", "bold")
        + f"  {what}  {status}  "
        + time.strftime("%H:%M:%S", time.localtime(state["time"])),
        "  " + progress_bar(state["done"], state["n_trials"]) + _timing(state),
        f"  complete {counts['complete']}  pruned {counts['pruned']}  "
        f"failed {counts['failed'] + counts['killed']}  running {counts['running']}",
        "",
    ]
    metric = state["metric"]
    if state["jobs"]:
        table = Table(
            ["job", "run", "epoch", f"last {metric}", f"best {metric}", "curve"],
            title="running jobs",
            align_right={"epoch", f"last {metric}", f"best {metric}"},
        )
        for job in state["jobs"]:
            epoch = f"{fmt_num(job['epoch'])}/{fmt_num(job['max_epochs'])}"
            table.add(
                job["run_id"], job["run_name"] or "-", epoch, job["last"], job["best"], sparkline(job["curve"], 20)
            )
        lines.append(table.render_plain("  "))
    else:
        lines.append("  no job running right now")
    lines.append("")
    if state["top"]:
        table = Table(["rank", "run", metric, "epoch", "status"], title="top k", align_right={"rank", metric, "epoch"})
        for entry in state["top"]:
            table.add(
                entry["rank"],
                entry["run_name"] or "-",
                entry["metric_value"],
                entry["best_epoch"],
                entry["status"] or "-",
            )
        lines.append(table.render_plain("  "))
    else:
        lines.append("  no ranked run yet")
    return "\n".join(lines)
