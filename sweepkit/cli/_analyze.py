"""``analyze``: metric distribution, best params, parameter importance and top-k learning curves."""

from __future__ import annotations

import argparse
from typing import Any

from sweepkit.cli import _stats
from sweepkit.cli._render import Table, fmt_num, print_json, sparkline, style
from sweepkit.cli._summary import front_heading, report_errors, varying_params
from sweepkit.cli._sweeps import Sweep, latest_sweep
from sweepkit.records import RANKED_STATUSES


def run(args: argparse.Namespace) -> int:
    sweep = latest_sweep(args.path)
    info = analysis(sweep, args.top)
    if args.json:
        print_json(info)
        return report_errors([sweep])
    print_analysis(info)
    return report_errors([sweep])


def analysis(sweep: Sweep, top_n: int | None = None) -> dict[str, Any]:
    """What ``analyze`` shows, as plain data (also its --json output)."""
    metric = sweep.metric_name
    keys = varying_params(sweep.runs)
    ranked = sweep.ranked()[: top_n or sweep.top_k]
    best = ranked[0] if ranked else None
    method, scores = _stats.importance(sweep, keys)
    by_status = {
        s: _stats.metric_stats([r.get("metric_value") for r in sweep.runs if r.get("status") == s])
        for s in RANKED_STATUSES
    }
    curves = []
    for rank, run in enumerate(ranked, 1):
        history = _stats.curve(sweep, run)
        curves.append({"rank": rank, "run_name": run.get("run_name"), "values": [h.get(metric) for h in history]})
    return {
        "sweep": sweep.name,
        "labels": sweep.labels,
        "what": sweep.what,
        "metric": metric,
        "mode": sweep.mode,
        "counts": sweep.counts(),
        "distribution": _stats.metric_stats(
            [r.get("metric_value") for r in sweep.runs if r.get("status") in RANKED_STATUSES]
        ),
        "distribution_by_status": by_status,
        "best": None
        if best is None
        else {
            "run_name": best.get("run_name"),
            "run_id": best.get("run_id"),
            "metric_value": best.get("metric_value"),
            "best_epoch": best.get("best_epoch"),
            "params": {k: (best.get("params") or {}).get(k) for k in keys},
        },
        "varying_params": keys,
        "importance": {"method": method, "scores": scores},
        "curves": curves,
        "objectives": sweep.objectives,
        "front": [
            {
                "rank": r.get("rank"),
                "run_name": r.get("run_name"),
                "run_id": r.get("run_id"),
                "metric_values": r.get("metric_values"),
                "params": {k: (r.get("params") or {}).get(k) for k in keys},
            }
            for r in sweep.front()
        ],
    }


def print_analysis(info: dict[str, Any]) -> None:
    metric = info["metric"]
    print(style(f"Sweep {info['sweep']}", "bold") + f"  {info['what']}  ({metric}, {info['mode']})")
    dist = info["distribution"]
    print(f"\n{style(metric + ' distribution', 'bold')} (complete and pruned runs)")
    if dist is None:
        print("  no run with a finite metric yet")
    else:
        print(
            f"  n {dist['n']}  min {fmt_num(dist['min'])}  p25 {fmt_num(dist['p25'])}  "
            f"median {fmt_num(dist['median'])}  p75 {fmt_num(dist['p75'])}  "
            f"max {fmt_num(dist['max'])}  mean {fmt_num(dist['mean'])}  "
            f"std {fmt_num(dist['std'])}"
        )
        hist = dist["histogram"]
        peak = max(hist["counts"]) or 1
        width = (hist["hi"] - hist["lo"]) / 10
        for i, count in enumerate(hist["counts"]):
            left = hist["lo"] + i * width
            print(f"  {fmt_num(left, 4):>10} | {'#' * round(count / peak * 30):<30} {count}")
    if info["objectives"]:
        _print_front(info)
    best = info["best"]
    print(f"\n{style('best params', 'bold')}" + (f" (best {metric})" if info["objectives"] else ""))
    if best is None:
        print("  no ranked run yet")
    else:
        print(
            f"  run {best['run_name']}: {metric} {fmt_num(best['metric_value'])} at epoch {fmt_num(best['best_epoch'])}"
        )
        for key, value in best["params"].items():
            print(f"    {key} = {fmt_num(value)}")
    imp = info["importance"]
    print(f"\n{style('parameter importance', 'bold')} ({imp['method']})")
    if not imp["scores"]:
        print("  not enough runs with different parameters to tell")
    else:
        table = Table(["param", "importance", ""], align_right={"importance"})
        peak = max(imp["scores"].values()) or 1.0
        for key, score in imp["scores"].items():
            table.add(key, f"{score:.3f}", "#" * round(score / peak * 30))
        table.print(indent="  ")
    print(f"\n{style('learning curves of the top ' + str(len(info['curves'])), 'bold')} ({metric} per epoch)")
    for entry in info["curves"]:
        values = [v for v in entry["values"] if _stats.finite(v)]
        span = f"{fmt_num(values[0], 4)} -> {fmt_num(values[-1], 4)}" if values else "no history"
        print(f"  #{entry['rank']} {entry['run_name']:<24} {sparkline(entry['values'], 40):<40} {span}")


def _print_front(info: dict[str, Any]) -> None:
    front = info["front"]
    kept = sum(e["rank"] is not None for e in front)
    print("\n" + style(front_heading(info["objectives"], len(front), kept), "bold"))
    names = [o["name"] for o in info["objectives"]]
    table = Table(["kept", "run", *names, *info["varying_params"][:4]], align_right={"kept", *names})
    for entry in front:
        params = [fmt_num(entry["params"].get(k)) for k in info["varying_params"][:4]]
        table.add(
            f"#{entry['rank']}" if entry["rank"] else "-",
            entry["run_name"] or "-",
            *(entry["metric_values"] or [None] * len(names)),
            *params,
        )
    table.print(indent="  ")
