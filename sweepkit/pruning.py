"""Per-epoch reporting from a training job to its sweep trial (pruning across processes).

In a job launched by the sweepkit sweeper, :func:`current_trial` returns a reporter bound to
the job's Optuna trial (job number = trial number; storage and study name come from the
job's Hydra config), so it works in any launcher's worker process or on another host that
reaches the storage. Anywhere else it returns a reporter that does nothing::

    reporter = current_trial()
    for epoch in range(1, max_epochs + 1):
        ...
        reporter.report(val_loss, epoch)
        if reporter.should_prune():
            break  # keep the best-so-far checkpoint, record status "pruned"

For a custom loop the same pair is ``sweepkit.report(value, step)`` and
``sweepkit.should_prune()`` (module functions below, bound to the current trial).
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import optuna

__all__ = ["NoTrial", "SweepTrial", "TrialReporter", "current_trial", "report", "should_prune"]


class NoTrial:
    """The reporter outside a sweepkit sweep: reports are dropped, nothing is pruned."""

    number: int | None = None
    active = False

    def report(self, value: float, step: int) -> None:
        pass

    def should_prune(self, mark: bool = True) -> bool:
        return False

    def mark_pruned(self) -> None:
        pass


class SweepTrial:
    """Reports to one Optuna trial through the study's storage."""

    active = True

    def __init__(self, trial: "optuna.trial.Trial") -> None:
        self.trial = trial
        self.number = trial.number
        self.pruned = False  # set by mark_pruned: the job stopped early
        self._last_step: int | None = None
        # Optuna cannot prune a study with several objectives (the sweeper refuses a pruner)
        self._prunable = len(trial.study.directions) == 1
        # steps the trial holds already (read once): a requeued job reports each step once
        self.reported_steps: set[int] = set(trial.study._storage.get_trial(trial._trial_id).intermediate_values)

    def report(self, value: float, step: int) -> None:
        """Report ``value`` at ``step``, once: a step the trial already holds (a requeued job
        that resumed replays its earlier epochs) is not sent again."""
        if self._prunable and int(step) not in self.reported_steps:
            self.trial.report(float(value), int(step))
            self.reported_steps.add(int(step))
        self._last_step = int(step)

    def should_prune(self, mark: bool = True) -> bool:
        """Ask the study's pruner; a positive answer is recorded on the trial for the sweeper.

        ``mark=False`` only asks: a caller that cannot stop yet (Lightning's ``min_epochs``)
        calls :meth:`mark_pruned` once it really stopped early, so a trial that trained to the
        end is told to the sampler as complete.
        """
        if not self._prunable or not self.trial.should_prune():
            return False
        if mark:
            self.mark_pruned()
        return True

    def mark_pruned(self) -> None:
        """Record on the trial that its job stopped early (the sweeper tells it ``PRUNED``)."""
        from sweepkit.sweeper import PRUNED_ATTR

        self.trial.set_user_attr(PRUNED_ATTR, self._last_step)
        self.pruned = True


TrialReporter = NoTrial | SweepTrial

_cache: dict[tuple[str, str, int], SweepTrial] = {}


def current_trial(hydra_cfg: Any = None) -> TrialReporter:
    """The reporter for the running Hydra job's trial, or a :class:`NoTrial` outside a sweep.

    ``hydra_cfg``: the job's ``hydra`` config, for a process Hydra did not start (a DDP rank
    spawned by the job); by default the running job's own."""
    settings = _sweep_settings(hydra_cfg)
    if settings is None:
        return NoTrial()
    storage_url, study_name, number, pruner_config = settings
    key = (storage_url, study_name, number)
    if key not in _cache:
        _cache[key] = SweepTrial(_load_trial(storage_url, study_name, number, pruner_config))
    return _cache[key]


def job_was_pruned() -> bool:
    """Whether the running job's trial was pruned (``should_prune()`` said so) in this process."""
    settings = _sweep_settings()
    if settings is None:
        return False
    trial = _cache.get(settings[:3])
    return bool(trial is not None and trial.pruned)


def _sweep_settings(hydra_cfg: Any = None) -> tuple[str, str, int, Any] | None:
    from hydra.core.hydra_config import HydraConfig
    from hydra.types import RunMode

    from sweepkit.sweeper.config import SWEEPER_TARGET

    if hydra_cfg is None:
        if not HydraConfig.initialized():
            return None
        hydra_cfg = HydraConfig.get()  # a DictConfig typed as HydraConf
    sweeper = hydra_cfg.get("sweeper")
    if hydra_cfg.get("mode") != RunMode.MULTIRUN or sweeper is None:
        return None
    if sweeper.get("_target_") != SWEEPER_TARGET or not sweeper.get("storage"):
        return None
    return sweeper.storage, sweeper.study_name, int(hydra_cfg.job.num), sweeper.get("pruner")


def _load_trial(storage_url: str, study_name: str, number: int, pruner_config: Any) -> Any:
    import optuna

    from sweepkit.sweeper import build_pruner, open_storage

    storage = open_storage(storage_url)
    study = optuna.load_study(study_name=study_name, storage=storage, pruner=build_pruner(pruner_config))
    study_id = storage.get_study_id_from_name(study_name)
    trial_id = storage.get_trial_id_from_study_id_trial_number(study_id, number)
    return optuna.trial.Trial(study, trial_id)


def report(value: float, step: int) -> None:
    """Report an intermediate ``value`` (e.g. a validation loss) at ``step`` (e.g. the epoch)
    to the running sweep's trial; does nothing outside a sweepkit sweep."""
    current_trial().report(value, step)


def should_prune() -> bool:
    """Whether the sweep's pruner stops the running trial now (always False outside a sweep).

    Stop training when it says so and record the run as ``pruned``."""
    return current_trial().should_prune()
