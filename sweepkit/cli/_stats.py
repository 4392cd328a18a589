"""Numbers behind ``analyze`` and ``report``: metric spread, importance, learning curves."""

from __future__ import annotations

import logging
import math
from typing import Any, Iterable, TypeGuard

from sweepkit.cli._sweeps import Run, Sweep
from sweepkit.records import JOURNAL_NAME, RANKED_STATUSES

log = logging.getLogger("sweepkit.cli")


def finite(value: Any) -> TypeGuard[float]:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


def quantile(sorted_values: list[float], q: float) -> float:
    pos = (len(sorted_values) - 1) * q
    lo, hi = math.floor(pos), math.ceil(pos)
    return sorted_values[lo] + (sorted_values[hi] - sorted_values[lo]) * (pos - lo)


def metric_stats(values: Iterable[Any]) -> dict[str, Any] | None:
    """n, min, quartiles, max, mean, std and a 10-bin histogram of finite ``values`` (others are
    left out)."""
    values = sorted(v for v in values if finite(v))
    if not values:
        return None
    n = len(values)
    mean = sum(values) / n
    std = math.sqrt(sum((v - mean) ** 2 for v in values) / n)
    lo, hi = values[0], values[-1]
    bins = [0] * 10
    for v in values:
        bins[min(9, int((v - lo) / ((hi - lo) or 1.0) * 10))] += 1
    return {
        "n": n,
        "min": lo,
        "p25": quantile(values, 0.25),
        "median": quantile(values, 0.5),
        "p75": quantile(values, 0.75),
        "max": hi,
        "mean": mean,
        "std": std,
        "histogram": {"lo": lo, "hi": hi, "counts": bins},
    }


def scored_runs(sweep: Sweep) -> list[Run]:
    """Runs with a finite metric to learn from: complete ones (with pruned if fewer than 3)."""
    complete = [r for r in sweep.runs if r.get("status") == "complete" and finite(r.get("metric_value"))]
    if len(complete) >= 3:
        return complete
    return [r for r in sweep.runs if r.get("status") in RANKED_STATUSES and finite(r.get("metric_value"))]


def _ranks(values: list[float]) -> list[float]:
    """Average ranks (ties share the mean rank)."""
    order = sorted(range(len(values)), key=values.__getitem__)
    ranks = [0.0] * len(values)
    i = 0
    while i < len(order):
        j = i
        while j + 1 < len(order) and values[order[j + 1]] == values[order[i]]:
            j += 1
        for k in range(i, j + 1):
            ranks[order[k]] = (i + j) / 2
        i = j + 1
    return ranks


def _pearson(x: list[float], y: list[float]) -> float:
    n = len(x)
    mx, my = sum(x) / n, sum(y) / n
    sxy = sum((a - mx) * (b - my) for a, b in zip(x, y))
    sxx = sum((a - mx) ** 2 for a in x)
    syy = sum((b - my) ** 2 for b in y)
    return sxy / math.sqrt(sxx * syy) if sxx and syy else 0.0


def rank_importance(runs: list[Run], keys: list[str]) -> dict[str, float]:
    """|Spearman rho| of each numeric param with the metric; for a categorical param the
    correlation ratio (eta) of the metric's ranks across its values. Sorted, largest first."""
    out: dict[str, float] = {}
    for key in keys:
        pairs = [(r["params"][key], r["metric_value"]) for r in runs if key in (r.get("params") or {})]
        if len(pairs) < 3:
            continue
        values, metric = [p[0] for p in pairs], [p[1] for p in pairs]
        metric_ranks = _ranks(metric)
        if all(finite(v) for v in values):
            out[key] = abs(_pearson(_ranks([float(v) for v in values]), metric_ranks))
        else:
            groups: dict[str, list[float]] = {}
            for v, r in zip(values, metric_ranks):
                groups.setdefault(repr(v), []).append(r)
            mean = sum(metric_ranks) / len(metric_ranks)
            total = sum((r - mean) ** 2 for r in metric_ranks)
            between = sum(len(g) * (sum(g) / len(g) - mean) ** 2 for g in groups.values())
            out[key] = math.sqrt(between / total) if total else 0.0
    return dict(sorted(out.items(), key=lambda kv: -kv[1]))


def optuna_importance(sweep: Sweep) -> dict[str, float] | None:
    """Optuna's parameter importance from the sweep's journal; None when unavailable."""
    journal = sweep.path / JOURNAL_NAME
    if not journal.is_file():
        return None
    try:
        import optuna

        from sweepkit.sweeper import open_storage

        optuna.logging.set_verbosity(optuna.logging.WARNING)
        storage = open_storage("journal://" + str(journal.absolute()))
        names = optuna.get_all_study_names(storage)
        if not names:
            return None
        study = optuna.load_study(study_name=names[0], storage=storage)
        importance = optuna.importance.get_param_importances(study)
    except Exception as exc:  # too few trials, a foreign journal, optuna missing
        log.debug("optuna importance unavailable for %s: %s", sweep.path, exc)
        return None
    return {k: float(v) for k, v in importance.items()}


def importance(sweep: Sweep, keys: list[str]) -> tuple[str, dict[str, float]]:
    """(method, {param: importance}) — Optuna's evaluator when the study exists, else rank
    correlation over the runs."""
    found = optuna_importance(sweep)
    if found:
        return "optuna (fANOVA)", found
    return "rank correlation (|Spearman rho|; eta for categorical)", rank_importance(scored_runs(sweep), keys)


def curve(sweep: Sweep, run: Run) -> list[dict[str, Any]]:
    """A run's per-epoch history from its job's ``run.json`` ([] when gone)."""
    record = sweep.job_record(run) or {}
    history = record.get("history")
    return [h for h in history if isinstance(h, dict)] if isinstance(history, list) else []
