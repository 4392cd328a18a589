"""Every private API of another package that sweepkit uses: what, where and why, in one list.

``tests/test_third_party.py`` checks each entry against the installed package, so a release that
renames or changes one fails there, not in a user's sweep; ``pyproject.toml`` pins each package
below the next release line (:data:`UPPER_BOUNDS`, checked by the same test). Nothing here patches
a class at import: the one replacement (submitit's SLURM watcher) happens when a SLURM sweep
starts.
"""

from __future__ import annotations

from typing import NamedTuple


class PrivateApi(NamedTuple):
    """``target``: ``module:Class.attribute`` (``module:Class().attribute`` for an attribute
    an instance sets); ``params``: the leading parameter names a callable must have."""

    package: str
    target: str
    used_in: str
    why: str
    params: tuple[str, ...] = ()


PRIVATE_APIS: tuple[PrivateApi, ...] = (
    PrivateApi(
        "optuna",
        "optuna.study:Study._get_trials",
        "sweeper/_pruned.py",
        "TPE reads the study's trials through it; the pruned-trial view stands in for it",
        ("self", "deepcopy", "states", "use_cache"),
    ),
    PrivateApi("optuna", "optuna.study:Study._is_multi_objective", "sweeper/_pruned.py", "read by TPE", ("self",)),
    PrivateApi("optuna", "optuna.study:Study()._study_id", "sweeper/_pruned.py", "read by TPE; a cache key"),
    PrivateApi("optuna", "optuna.study:Study()._storage", "pruning.py, sweeper/_pruned.py", "a trial's stored values"),
    PrivateApi("optuna", "optuna.trial:FrozenTrial()._trial_id", "sweeper/_impl.py", "re-attach a Trial to a job"),
    PrivateApi("optuna", "optuna.trial:Trial()._trial_id", "pruning.py", "read the trial's reported steps"),
    *(
        PrivateApi(
            "optuna", f"optuna.storages:RDBStorage.{name}", "sweeper/_storage.py", "retried on a lost connection"
        )
        for name in (
            "_create_new_trial",
            "_get_best_trial_id",
            "_get_stale_trial_ids",
            "_get_trials",
            "_set_trial_param",
        )
    ),
    PrivateApi("hydra-core", "hydra.core.utils:JobReturn()._return_value", "hooks.py", "a failed job's exception"),
    PrivateApi(
        "wandb", "wandb.sdk.wandb_setup:singleton", "loggers/wandb.py", "whether W&B holds credentials (no network)"
    ),
    PrivateApi("wandb", "wandb.sdk.lib.wbauth:session_credentials", "loggers/wandb.py", "the same check"),
    PrivateApi("wandb", "wandb.sdk.lib.wbauth:read_netrc_auth", "loggers/wandb.py", "the same check"),
    *(
        PrivateApi(
            "submitit",
            f"submitit.slurm.slurm:SlurmInfoWatcher{name}",
            "sweeper/_slurm.py",
            "a watcher that asks squeue when sacct (accounting) fails",
        )
        for name in (
            "._make_command",
            ".read_info",
            ".is_done",
            "()._num_calls",
            "()._output",
            "()._info_dict",
            "()._last_status_check",
            "()._registered",
            "()._finished",
            "()._delay_s",
        )
    ),
    PrivateApi("submitit", "submitit.slurm.slurm:SlurmJob.watcher", "sweeper/_slurm.py", "replaced by that watcher"),
)

#: The upper bound pyproject.toml pins for each package above.
UPPER_BOUNDS = {"optuna": "<6", "hydra-core": "<1.4", "wandb": "<1", "submitit": "<2"}
