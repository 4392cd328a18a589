"""What the sweeper tells the user: a console update after each batch and the final results file."""

from __future__ import annotations

import json
import logging
import math
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sweepkit._io import atomic_write_text

if TYPE_CHECKING:
    import optuna

log = logging.getLogger("sweepkit.sweeper")

RESULTS_FILE = "optimization_results.yaml"
MANIFEST_FILE = "sweep_results.json"
# user attributes the sweeper and the job's reporter write on trials
PRUNED_ATTR = "sweepkit_pruned_at"
APPLIED_ATTR = "sweepkit_applied"
REJECTED_ATTR = "sweepkit_rejected"
RETRIED_ATTR = "sweepkit_retried"
NEVER_LAUNCHED_ATTR = "sweepkit_never_launched"
#: Finished trials that do not use up the budget (n_trials).
UNCOUNTED_ATTRS = (REJECTED_ATTR, RETRIED_ATTR, NEVER_LAUNCHED_ATTR)


def applied_params(trial: "optuna.trial.FrozenTrial") -> dict[str, Any]:
    """The parameter values the trial's job actually received (after any swap)."""
    return {**trial.params, **trial.user_attrs.get(APPLIED_ATTR, {})}


def state_counts(study: "optuna.Study") -> dict[str, int]:
    from optuna.trial import TrialState

    counts = {state.name.lower(): 0 for state in TrialState}
    for trial in study.get_trials(deepcopy=False):
        counts[trial.state.name.lower()] += 1
    return counts


def best_trial(study: "optuna.Study") -> "optuna.trial.FrozenTrial | None":
    try:
        return study.best_trial
    except ValueError:  # no completed trial yet
        return None


def read_top_k(sweep_dir: Path, limit: int = 5) -> list[dict[str, Any]]:
    """Entries of the manifest's ranking, or [] while it is missing or mid-write."""
    try:
        data = json.loads((sweep_dir / MANIFEST_FILE).read_text())
    except (OSError, ValueError):
        return []
    if isinstance(data, dict):
        for key in ("top", "ranking", "entries"):
            if isinstance(data.get(key), list):
                data = data[key]
                break
    if not isinstance(data, list):
        return []
    return [entry for entry in data if isinstance(entry, dict)][:limit]


def job_outcome(job_dir: Path) -> "tuple[optuna.trial.TrialState, float | None] | None":
    """(COMPLETE, value) or (PRUNED, None) from a finished job's run.json; None otherwise."""
    from optuna.trial import TrialState

    try:
        record = json.loads((job_dir / "run.json").read_text())
    except (OSError, ValueError):
        return None
    value = record.get("best_value") if isinstance(record, dict) else None
    if record.get("status") == "pruned":
        return TrialState.PRUNED, None
    if record.get("status") == "complete" and isinstance(value, (int, float)) and math.isfinite(value):
        return TrialState.COMPLETE, float(value)
    return None


def _describe_entry(entry: dict[str, Any]) -> str:
    value = next((entry[k] for k in ("metric_value", "value") if k in entry), None)
    name = next((entry[k] for k in ("run_name", "run_id", "job_num") if k in entry), "?")
    rank = f"#{entry['rank']} " if entry.get("rank") is not None else ""
    shown = f"{value:.6g}" if isinstance(value, (int, float)) else value
    return f"{rank}{name} {shown}"


def log_progress(study: "optuna.Study", sweep_dir: Path, n_trials: int) -> None:
    """Log trials done / pruned / failed, the best so far and the manifest's top k."""
    counts = state_counts(study)
    finished = counts["complete"] + counts["pruned"] + counts["fail"]
    log.info(
        f"Sweep update: {finished}/{n_trials} trials finished "
        f"({counts['complete']} complete, {counts['pruned']} pruned, {counts['fail']} failed)"
    )
    best = best_trial(study)
    if best is not None:
        log.info(f"  best so far: trial {best.number} value={best.value:.6g} {applied_params(best)}")
    top = read_top_k(sweep_dir)
    if top:
        log.info("  top k (manifest): " + "; ".join(_describe_entry(e) for e in top))


def write_results(study: "optuna.Study", sweep_dir: Path, storage: str) -> Path:
    """Write best parameters and value to ``<sweep dir>/optimization_results.yaml``."""
    best = best_trial(study)
    counts = state_counts(study)
    result: dict[str, Any] = {
        "name": "sweepkit",
        "study_name": study.study_name,
        "storage": storage,
        "direction": study.direction.name.lower(),
        "best_trial": best.number if best else None,
        "best_value": _plain(best.value) if best else None,
        "best_params": {k: _plain(v) for k, v in applied_params(best).items()} if best else {},
        "trials": {k: counts[k] for k in ("complete", "pruned", "fail")},
    }
    path = sweep_dir / RESULTS_FILE
    atomic_write_text(path, yaml.safe_dump(result, sort_keys=False))
    if best is not None:
        log.info(f"Best value {best.value:.6g} (trial {best.number}): {result['best_params']}")
    else:
        log.info("No trial completed: no best parameters.")
    log.info(f"Results written to {path}")
    return path


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value.item() if hasattr(value, "item") else value
