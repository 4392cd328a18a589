"""What the sweeper tells the user: a console update after each batch and the final results file."""

from __future__ import annotations

import logging
import math
import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from sweepkit._eta import describe, eta_seconds
from sweepkit._io import atomic_write_text
from sweepkit.records import OPTIMIZATION_RESULTS, read_run_record

if TYPE_CHECKING:
    import optuna

log = logging.getLogger("sweepkit.sweeper")

# user attributes the sweeper and the job's reporter write on trials
PRUNED_ATTR = "sweepkit_pruned_at"
APPLIED_ATTR = "sweepkit_applied"
REJECTED_ATTR = "sweepkit_rejected"
RETRIED_ATTR = "sweepkit_retried"
NEVER_LAUNCHED_ATTR = "sweepkit_never_launched"
#: Finished trials that do not use up the budget (n_trials).
UNCOUNTED_ATTRS = (REJECTED_ATTR, RETRIED_ATTR, NEVER_LAUNCHED_ATTR)
FRONT_SHOWN = 10  # Pareto-front trials a sweep update prints


def applied_params(trial: "optuna.trial.FrozenTrial") -> dict[str, Any]:
    """The parameter values the trial's job actually received (after any swap)."""
    return {**trial.params, **trial.user_attrs.get(APPLIED_ATTR, {})}


def shown_params(trial: "optuna.trial.FrozenTrial") -> str:
    """The trial's parameters for a log line: floats to 4 significant digits (the results file
    keeps them whole)."""
    shown = ", ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in applied_params(trial).items())
    return "{" + shown + "}"


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


def pareto_front(study: "optuna.Study") -> "list[optuna.trial.FrozenTrial]":
    """The complete trials no other complete trial dominates, by trial number."""
    return sorted(study.best_trials, key=lambda t: t.number)


def _values(study: "optuna.Study", trial: "optuna.trial.FrozenTrial") -> str:
    names = study.metric_names or [f"value{i}" for i in range(len(trial.values))]
    return " ".join(f"{n}={v:.6g}" for n, v in zip(names, trial.values))


def read_top_k(sweep_dir: Path, limit: int = 5) -> list[dict[str, Any]]:
    """Entries of the manifest's ranking, or [] while it is missing or mid-write."""
    from sweepkit.manifest import read_state

    try:
        data = read_state(sweep_dir)
    except Exception:  # a reader: the manager names the problem when it writes
        return []
    top = data.get("top") if isinstance(data, dict) else None
    if not isinstance(top, list):
        return []
    return [entry for entry in top if isinstance(entry, dict)][:limit]


def job_outcome(job_dir: Path) -> "tuple[optuna.trial.TrialState, float | None] | None":
    """(COMPLETE, value) or (PRUNED, None) from a finished job's run.json; None otherwise."""
    from optuna.trial import TrialState

    record = read_run_record(job_dir)
    if record is None:
        return None
    value = record.get("best_value")
    if record.get("status") == "pruned":
        return TrialState.PRUNED, None
    if record.get("status") == "complete" and isinstance(value, (int, float)) and math.isfinite(value):
        return TrialState.COMPLETE, float(value)
    return None


def _describe_entry(entry: dict[str, Any]) -> str:
    value = next((entry[k] for k in ("metric_values", "metric_value", "value") if k in entry), None)
    name = next((entry[k] for k in ("run_name", "run_id", "job_num") if k in entry), "?")
    rank = f"#{entry['rank']} " if entry.get("rank") is not None else ""
    shown = (
        f"{value:.6g}"
        if isinstance(value, (int, float))
        else "(" + ", ".join(f"{v:.6g}" for v in value) + ")"
        if isinstance(value, list)
        else value
    )
    return f"{rank}{name} {shown}"


class SweepClock:
    """This run's elapsed time, its time limit, and an ETA for the trial budget (see _eta)."""

    def __init__(self, used_at_start: int, timeout: float | None = None) -> None:
        self.started = time.monotonic()
        self.used_at_start = used_at_start
        self.timeout = timeout
        self._warned = False

    def elapsed(self) -> float:
        return time.monotonic() - self.started

    def out_of_time(self) -> bool:
        """Whether the time limit has passed (logged once)."""
        if self.timeout is None or self.elapsed() < self.timeout:
            return False
        if not self._warned:
            self._warned = True
            log.info(f"Time limit hydra.sweeper.timeout={self.timeout:g}s reached: no new trial starts")
        return True

    def eta(self, used_now: int, remaining: int) -> float | None:
        """Seconds until the budget is spent, or None before a trial of this run finished."""
        return eta_seconds(used_now - self.used_at_start, remaining, self.elapsed(), self.timeout)


def log_progress(
    study: "optuna.Study",
    sweep_dir: Path,
    n_trials: int,
    clock: SweepClock | None = None,
    used: int | None = None,
) -> None:
    """Log trials done / pruned / failed, elapsed time and ETA, the best so far and the top k."""
    counts = state_counts(study)
    finished = counts["complete"] + counts["pruned"] + counts["fail"]
    timing = ""
    if clock is not None:
        remaining = max(0, n_trials - used) if used is not None else 0
        eta = clock.eta(used, remaining) if used is not None and remaining else None
        timing = "; " + describe(clock.elapsed(), eta, clock.timeout)
    log.info(
        f"Sweep update: {finished}/{n_trials} trials finished "
        f"({counts['complete']} complete, {counts['pruned']} pruned, {counts['fail']} failed){timing}"
    )
    if len(study.directions) > 1:
        front = pareto_front(study)
        log.info(f"  Pareto front: {len(front)} trial(s)")
        for trial in front[:FRONT_SHOWN]:
            log.info(f"    trial {trial.number}: {_values(study, trial)} {shown_params(trial)}")
        if len(front) > FRONT_SHOWN:
            log.info(f"    ... and {len(front) - FRONT_SHOWN} more (optimization_results.yaml)")
    elif (best := best_trial(study)) is not None:
        log.info(f"  best so far: trial {best.number} value={best.value:.6g} {shown_params(best)}")
    top = read_top_k(sweep_dir)
    if top:
        label = "kept on the front" if "metric_values" in top[0] else "top k"
        log.info(f"  {label} (manifest): " + "; ".join(_describe_entry(e) for e in top))


def write_results(study: "optuna.Study", sweep_dir: Path, storage: str) -> Path:
    """Write the outcome to ``<sweep dir>/optimization_results.yaml``.

    The stock plugin's keys come first (``name: optuna``; ``best_params`` and ``best_value``
    for one objective, ``solutions``, the Pareto front, for several), then sweepkit's own.
    """
    directions = [d.name.lower() for d in study.directions]
    multi = len(directions) > 1
    best = None if multi else best_trial(study)
    front = pareto_front(study) if multi else []
    result: dict[str, Any] = {"name": "optuna"}
    if multi:
        result["solutions"] = [
            {"params": _plain_params(t), "values": [_plain(v) for v in t.values], "trial": t.number} for t in front
        ]
    else:
        result["best_params"] = _plain_params(best) if best else {}
        result["best_value"] = _plain(best.value) if best else None
    result.update(
        sweeper="sweepkit",
        study_name=study.study_name,
        storage=storage,
        direction=directions if multi else directions[0],
    )
    if study.metric_names is not None:
        result["metric_names"] = list(study.metric_names)
    if not multi:
        result["best_trial"] = best.number if best else None
    counts = state_counts(study)
    result["trials"] = {k: counts[k] for k in ("complete", "pruned", "fail")}
    path = sweep_dir / OPTIMIZATION_RESULTS
    atomic_write_text(path, yaml.safe_dump(result, sort_keys=False))
    if multi:
        log.info(f"Pareto front: {len(front)} solution(s)")
        for trial in front:
            log.info(f"    trial {trial.number}: {_values(study, trial)} {applied_params(trial)}")
    elif best is not None:
        log.info(f"Best value {best.value:.6g} (trial {best.number}): {result['best_params']}")
    else:
        log.info("No trial completed: no best parameters.")
    log.info(f"Results written to {path}")
    return path


def _plain_params(trial: "optuna.trial.FrozenTrial") -> dict[str, Any]:
    return {k: _plain(v) for k, v in applied_params(trial).items()}


def _plain(value: Any) -> Any:
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value.item() if hasattr(value, "item") else value
