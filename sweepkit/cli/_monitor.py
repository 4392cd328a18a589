"""``monitor``: a refreshing terminal view of a running sweep, from the jobs' ``run.json`` files."""

from __future__ import annotations

import argparse
import sys
import time
from typing import Any

from sweepkit._eta import describe, eta_seconds
from sweepkit.cli._render import Table, fmt_num, print_json, progress_bar, sparkline, style, use_colour
from sweepkit.cli._sweeps import Sweep, latest_sweep
from sweepkit.records import FINISHED_STATUSES

CLEAR = "\x1b[H\x1b[2J"


def run(args: argparse.Namespace) -> int:
    path = latest_sweep(args.path).path
    while True:
        sweep = Sweep(path)
        state = snapshot(sweep)
        if args.json:
            print_json(state)
        else:
            if use_colour() and not args.once:
                sys.stdout.write(CLEAR)
            print(render(state))
        sys.stdout.flush()
        if args.once:
            return 0
        if not state["running"]:
            if not args.json:
                print(f"sweep {state['sweep']} is not running; monitor stops")
            return 0
        time.sleep(args.interval)


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
    now, done = time.time(), sum(counts.get(s, 0) for s in FINISHED_STATUSES)
    running = sweep.running
    elapsed = max(0.0, (now if running else sweep.updated) - sweep.started)
    eta = None
    if running and sweep.n_trials:
        eta = eta_seconds(done, sweep.n_trials - done, elapsed, sweep.timeout)
    return {
        "sweep": sweep.name,
        "labels": sweep.labels,
        "what": sweep.what,
        "metric": sweep.metric_name,
        "running": running,
        "n_trials": sweep.n_trials,
        "done": done,
        "counts": counts,
        "jobs": jobs,
        "top": top,
        "time": now,
        "elapsed_s": elapsed,
        "eta_s": eta,
        "timeout_s": sweep.timeout,
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
