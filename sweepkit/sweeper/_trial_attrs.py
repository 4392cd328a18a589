"""What Optuna's own tools (optuna-dashboard, the ``optuna`` CLI) show about a sweep.

- The study's metric names (``study.set_metric_names``): the top-k manifest's metric
  (``sweepkit.metric_name``), so plots are labelled ``val_loss``, not "Objective 0".
- Every trial's user attributes, set when its job ends (before the trial is told; Optuna
  refuses changes to a finished trial): ``run_name``, ``job_dir``, ``status`` (the job's own
  record: complete, pruned, failed, ...) and, when the job entered the top k, ``rank_at_end``.
- The current ranking, kept on the study as user attribute ``top_k`` (a list of
  ``{rank, trial, run_name, value, checkpoint}``, the checkpoint relative to the sweep directory):
  rewritten only when the manifest's top list changes, so a sweep of any size pays one small
  write per change of rank. A trial's ``rank_at_end`` is not updated later (Optuna refuses
  changes to finished trials); ``top_k`` and :func:`trial_ranks` hold the current ranks.
- The same ranking as one line per kept checkpoint, for people: study attributes ``rank_01``,
  ``rank_02``, ... (``dmixer_Wind_005 (trial 5): 0.6554, best_models/rank_01_....pth``); a rank
  that no longer exists reads ``-``.
"""

from __future__ import annotations

import logging
import warnings
from pathlib import Path
from typing import TYPE_CHECKING, Any, Mapping, Optional

from omegaconf import DictConfig, OmegaConf

from sweepkit.records import read_run_record

if TYPE_CHECKING:
    import optuna
    from hydra.core.utils import JobReturn

log = logging.getLogger("sweepkit.sweeper")

TOP_K_ATTR = "top_k"


def metric_names(config: DictConfig) -> list[str]:
    """The objective's name: ``sweepkit.metric_name``, the top-k callback's, or ``objective``."""
    for key in ("sweepkit.metric_name", "hydra.callbacks.topk.metric_name", "objective"):
        try:
            value = OmegaConf.select(config, key, default=None, throw_on_missing=False)
        except Exception:  # an interpolation that does not resolve in the launching process
            value = None
        if isinstance(value, str) and value:
            return [value]
    return ["objective"]


def set_metric_names(study: "optuna.Study", names: list[str]) -> None:
    if len(names) != len(study.directions):
        names = [f"objective_{i}" for i in range(len(study.directions))] if len(study.directions) > 1 else names[:1]
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")  # ExperimentalWarning: the API is stable since 3.2
            study.set_metric_names(names)
    except Exception as err:  # never stop a sweep for a label
        log.debug(f"set_metric_names({names}) failed: {err}")


def job_dir_of(sweep_dir: Path, number: int, job_return: "Optional[JobReturn]") -> Path:
    """The job's output directory (Hydra's ``runtime.output_dir``, else ``<sweep dir>/<number>``)."""
    try:
        return Path(str(job_return.hydra_cfg.hydra.runtime.output_dir))  # type: ignore[union-attr]
    except Exception:
        return sweep_dir / str(number)


class TrialAttrs:
    """Sets the trial attributes and keeps the study's ``top_k`` attribute in step with the manifest."""

    def __init__(self, study: "optuna.Study", sweep_dir: Path) -> None:
        self.sweep_dir = sweep_dir
        self.published = study.user_attrs.get(TOP_K_ATTR)

    def top(self) -> list[dict[str, Any]]:
        """The manifest's current top list, reduced to what the study shows ([] if unreadable)."""
        from sweepkit.manifest import read_state

        try:
            doc = read_state(self.sweep_dir)
        except Exception:
            return []
        entries = doc.get("top") if isinstance(doc, dict) else None
        return [
            {
                "rank": e.get("rank"),
                "trial": e.get("job_num"),
                "run_name": e.get("run_name"),
                "value": e.get("metric_value"),
                "checkpoint": e.get("checkpoint"),
            }
            for e in entries or []
            if isinstance(e, dict)
        ]

    def job_ended(
        self, study: "optuna.Study", trial: "optuna.trial.Trial", job_return: "Optional[JobReturn]", failed: bool
    ) -> None:
        """Before the trial is told: its run name, job directory, status, and rank if it has one."""
        job_dir = job_dir_of(self.sweep_dir, trial.number, job_return)
        record = read_run_record(job_dir) or {}
        status = record.get("status")
        if status in (None, "running"):
            status = "failed" if failed else "complete"
        attrs: dict[str, Any] = {
            "run_name": record.get("run_name") or str(trial.number),
            "job_dir": str(job_dir),
            "status": status,
        }
        top = self.top()
        mine = next((e for e in top if e["trial"] == trial.number), None)
        if mine is not None:
            attrs["rank_at_end"] = mine["rank"]
            attrs["checkpoint"] = mine["checkpoint"]
        try:
            for key, value in attrs.items():
                trial.set_user_attr(key, value)
        except Exception as err:  # the trial was finished elsewhere: labels only, never fatal
            log.debug(f"trial {trial.number}: user attributes not set: {err}")
        self.publish(study, top)

    def publish(self, study: "optuna.Study", top: list[dict[str, Any]]) -> None:
        """Write the ranking to the study's ``top_k`` attribute if it changed."""
        if top == self.published:
            return
        try:
            write_ranking(study, top, len(self.published or []))
            self.published = top
        except Exception as err:
            log.debug(f"study attribute {TOP_K_ATTR} not updated: {err}")


def rank_line(entry: Mapping[str, Any]) -> str:
    """One kept checkpoint for people: ``run (trial N): value, checkpoint``."""
    value = entry.get("value")
    shown = (
        ", ".join(f"{v:.6g}" for v in value)
        if isinstance(value, list)
        else (f"{value:.6g}" if isinstance(value, (int, float)) else str(value))
    )
    return (
        f"{entry.get('run_name')} (trial {entry.get('trial')}): {shown}, {entry.get('checkpoint') or 'no checkpoint'}"
    )


def write_ranking(study: "optuna.Study", top: list[dict[str, Any]], shown_before: int = 0) -> None:
    """Put ``top`` on the study: ``top_k`` for programs, ``rank_01``... lines for people
    (ranks past the new list's end, up to ``shown_before``, read ``-``)."""
    study.set_user_attr(TOP_K_ATTR, top)
    for rank in range(1, max(len(top), shown_before) + 1):
        study.set_user_attr(f"rank_{rank:02d}", rank_line(top[rank - 1]) if rank <= len(top) else "-")


def trial_ranks(study: "optuna.Study") -> dict[int, tuple[int, Optional[str]]]:
    """The current ranking of a sweep's study: {trial number: (rank, checkpoint)}."""
    return {
        e["trial"]: (e["rank"], e.get("checkpoint"))
        for e in study.user_attrs.get(TOP_K_ATTR) or []
        if isinstance(e, dict)
    }


def set_trial_ranks(storage_url: str, study_name: str, ranks: Mapping[int, tuple[int, Optional[str]]]) -> None:
    """Record a ranking computed elsewhere ({trial number: (rank, checkpoint)}) on the study.

    Finished trials cannot be changed in Optuna, so the ranking goes to the study's ``top_k``
    user attribute (rank order), which optuna-dashboard shows with the study.
    """
    import optuna

    from sweepkit.sweeper._storage import open_storage

    study = optuna.load_study(study_name=study_name, storage=open_storage(storage_url))
    names = {t.number: t.user_attrs.get("run_name") for t in study.get_trials(deepcopy=False)}
    values = {t.number: t.value if len(study.directions) == 1 else t.values for t in study.get_trials(deepcopy=False)}
    top = [
        {
            "rank": rank,
            "trial": number,
            "run_name": names.get(number),
            "value": values.get(number),
            "checkpoint": checkpoint,
        }
        for number, (rank, checkpoint) in sorted(ranks.items(), key=lambda item: item[1][0])
    ]
    write_ranking(study, top, len(study.user_attrs.get(TOP_K_ATTR) or []))
