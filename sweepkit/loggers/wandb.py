"""Weights & Biases logging (``logger=wandb``): one W&B run per job, top-k model artifacts.

This module imports ``wandb`` and is imported only when a run asks for ``logger=wandb``.

A job's W&B run lives from :meth:`WandbLogger.start` to the end of the job. When the sweep's
top-k hook (``sweepkit.hooks.TopKCallback``) is active and ``log_model`` is on, a run that ends
``complete`` or ``pruned`` stays open past the task function: the hook registers the job in the
manifest and publishes :class:`sweepkit.events.JobRegistered`, on which :func:`finish_job_run`
logs the checkpoint as a model artifact when the job is in the top k and finishes the run. A
failed run, a run without the hook, a run the hook never registered (``JobEnded``), a run the
hook never finished (the next run's start in the same process) and the interpreter's exit all
finish the run too, so jobs never merge into one W&B run.
"""

from __future__ import annotations

import atexit
import logging
import os
import re
from pathlib import Path
from typing import Any

import wandb

from sweepkit import events
from sweepkit.errors import WandbSetupError

log = logging.getLogger("sweepkit.wandb")

MODES = ("online", "offline", "disabled")
_LEGACY_MODES = {"dryrun": "offline", "run": "online"}

_open_run: "_OpenRun | None" = None  # the run kept open for the top-k hook (at most one)
_atexit_registered = False


def resolve_mode(configured: str | None) -> str:
    """The W&B mode: ``WANDB_MODE`` when set (it wins), else ``logger.mode``, else offline."""
    raw = os.environ.get("WANDB_MODE") or configured or "offline"
    mode = _LEGACY_MODES.get(str(raw), str(raw))
    if mode not in MODES:
        source = "WANDB_MODE" if os.environ.get("WANDB_MODE") else "logger.mode"
        raise WandbSetupError(f"{source}={raw!r} is not a W&B mode; use one of {', '.join(MODES)}")
    return mode


def has_credentials() -> bool:
    """Whether W&B's own login holds credentials (env, netrc, settings); no network call."""
    if os.environ.get("WANDB_API_KEY") or os.environ.get("WANDB_IDENTITY_TOKEN_FILE"):
        return True
    from wandb.sdk import wandb_setup
    from wandb.sdk.lib import wbauth

    settings = wandb_setup.singleton().settings
    return bool(
        settings.api_key
        or wbauth.session_credentials(host=settings.base_url)
        or wbauth.read_netrc_auth(host=settings.base_url)
    )


def flatten(config: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    """``{"a": {"b": 1}}`` -> ``{"a.b": 1}`` (lists stay values)."""
    flat: dict[str, Any] = {}
    for key, value in config.items():
        name = f"{prefix}{key}"
        if isinstance(value, dict) and value:
            flat.update(flatten(value, name + "."))
        else:
            flat[name] = value
    return flat


def artifact_name(sweep_name: str) -> str:
    """The model artifact of a sweep: ``<sweep>-model``, made safe for W&B (``[A-Za-z0-9._-]``)."""
    safe = re.sub(r"[^A-Za-z0-9._-]+", "-", str(sweep_name)).strip("-.") or "sweep"
    return f"{safe[:120]}-model"


def topk_hook_active() -> bool:
    """Whether this Hydra job runs a hook that publishes job events (the top-k hook)."""
    from hydra.core.hydra_config import HydraConfig

    if not HydraConfig.initialized():
        return False
    hydra_cfg: Any = HydraConfig.get()  # a DictConfig typed as HydraConf
    callbacks = hydra_cfg.get("callbacks") or {}
    return any(
        cb.get("enabled", True) is not False and _publishes(str(cb.get("_target_", ""))) for cb in callbacks.values()
    )


def _publishes(target: str) -> bool:
    """Whether the callback class ``target`` publishes job events (the hook or a subclass)."""
    try:
        from hydra.utils import get_class

        return getattr(get_class(target), events.PUBLISHER_ATTR, False) is True
    except Exception:
        return False


class _OpenRun:
    """A run whose task function ended but whose W&B run waits for the top-k hook."""

    def __init__(self, run: Any, exit_code: int) -> None:
        self.run, self.exit_code = run, exit_code


def _finish(run: Any, exit_code: int) -> None:
    try:
        run.finish(exit_code=exit_code)
    except Exception as exc:  # a W&B problem never fails the job
        log.warning("could not finish W&B run %s: %s", getattr(run, "id", "?"), exc)


def _finish_open_run() -> None:
    """Finish a run still waiting for the hook (a new run starts, or the interpreter exits)."""
    global _open_run
    pending, _open_run = _open_run, None
    if pending is not None:
        _finish(pending.run, pending.exit_code)


def finish_job_run(
    rank: int | None, checkpoint_path: str | os.PathLike | None, sweep_name: str, metadata: dict[str, Any] | None = None
) -> str | None:
    """End the job's W&B run, first logging its checkpoint when the job is in the top k.

    Called on the hook's :class:`~sweepkit.events.JobRegistered`. ``rank`` is the job's rank in the
    sweep (1 = best) or None when it is not in the top k; ``checkpoint_path`` is its checkpoint
    (the file in ``best_models/``). The artifact is ``<sweep>-model`` of type ``model`` with
    the aliases ``rank-<n>`` (and ``best`` for rank 1). Returns the artifact's name, or None
    when nothing was logged. Does nothing when no run is waiting.
    """
    global _open_run
    pending, _open_run = _open_run, None
    if pending is None:
        return None
    name = None
    try:
        if rank is not None and checkpoint_path is not None:
            name = _log_model(pending.run, int(rank), Path(checkpoint_path), sweep_name, metadata)
    except Exception as exc:
        log.warning("could not log the model artifact to W&B: %s", exc)
    finally:
        _finish(pending.run, pending.exit_code)
    return name


def _log_model(run: Any, rank: int, checkpoint: Path, sweep_name: str, metadata: dict[str, Any] | None) -> str | None:
    if not checkpoint.is_file():  # re-ranked away by another job in the meantime
        log.warning("checkpoint %s is gone; no model artifact logged", checkpoint)
        return None
    name = artifact_name(sweep_name)
    info = {"rank": rank, "sweep": sweep_name, "run_name": run.name, **(metadata or {})}
    artifact = wandb.Artifact(name, type="model", metadata=info)
    artifact.add_file(str(checkpoint), name=f"best_model{Path(checkpoint).suffix}")  # copied: the file may move later
    aliases = [f"rank-{rank}"] + (["best"] if rank == 1 else [])
    run.log_artifact(artifact, aliases=aliases)
    run.summary["sweep_rank"] = rank
    return name


class WandbLogger:
    """The ``logger=wandb`` backend of the training loop (see ``conf/logger/wandb.yaml``).

    Settings: ``project``, ``entity``, ``mode`` (offline [default], online, disabled; the
    ``WANDB_MODE`` environment variable wins), ``job_type``, ``tags`` (added to model, dataset,
    sweeper), ``log_model`` (top-k model artifacts), ``dir`` (else ``WANDB_DIR`` or ``./wandb``).
    The API key comes only from W&B's own login (``WANDB_API_KEY`` or ``wandb login``).
    ``wait_for_hook`` keeps a finished run open for :func:`finish_job_run` (default: when
    the Hydra job runs the top-k hook).
    """

    def __init__(self, cfg: Any, wait_for_hook: bool | None = None) -> None:
        cfg = dict(cfg or {})
        self.project = cfg.get("project") or "sweepkit"
        self.entity = cfg.get("entity") or None
        self.job_type = cfg.get("job_type") or "train"
        self.extra_tags = [str(t) for t in (cfg.get("tags") or [])]
        self.log_model = bool(cfg.get("log_model", True))
        self.dir = cfg.get("dir") or None
        self.mode = resolve_mode(cfg.get("mode"))
        if self.mode == "online" and not has_credentials():
            raise WandbSetupError(
                "logger=wandb with mode online needs a W&B API key, and none was found "
                "(WANDB_API_KEY is unset and the netrc file has no entry for the W&B host). "
                "Run `wandb login` once, or export WANDB_API_KEY, or log offline "
                "(logger.mode=offline) and upload later with `wandb sync`."
            )
        self.wait_for_hook = wait_for_hook
        self.run: Any = None

    def start(
        self, config: dict, run_name: str, group: str | None = None, tags: list[str] | None = None
    ) -> dict | None:
        _finish_open_run()  # a previous job's run the hook never finished
        if self.dir:
            Path(self.dir).mkdir(parents=True, exist_ok=True)
        self.run = wandb.init(
            project=self.project,
            entity=self.entity,
            group=group,
            job_type=self.job_type,
            name=run_name,
            config=flatten(config or {}),
            mode=self.mode,  # type: ignore[arg-type]  # resolve_mode
            dir=self.dir,
            tags=list(dict.fromkeys([*(tags or []), *self.extra_tags])),
            reinit="create_new",
        )
        if self.mode == "disabled":
            return None
        self.run.define_metric("epoch")
        self.run.define_metric("*", step_metric="epoch")
        return {
            "id": self.run.id,
            "url": self.run.url if self.mode == "online" else None,
            "project": self.project,
            "mode": self.mode,
        }

    def log(self, metrics: dict[str, float], step: int) -> None:
        if self.run is not None:
            self.run.log({**metrics, "epoch": step}, step=step)

    def finish(self, status: str, summary: dict[str, Any]) -> None:
        """Write the summary; finish the run now, or leave it to the top-k hook."""
        global _open_run, _atexit_registered
        run, self.run = self.run, None
        if run is None:
            return
        run.summary.update({**summary, "status": status})
        exit_code = 1 if status == "failed" else 0
        wait = self.wait_for_hook if self.wait_for_hook is not None else topk_hook_active()
        if status == "failed" or not self.log_model or self.mode == "disabled" or not wait:
            _finish(run, exit_code)
            return
        _finish_open_run()
        _open_run = _OpenRun(run, exit_code)
        if not _atexit_registered:
            atexit.register(_finish_open_run)
            _atexit_registered = True


def _on_registered(event: events.JobRegistered) -> None:
    finish_job_run(event.rank, event.checkpoint, event.sweep_name, event.metadata)


def _on_ended(event: events.JobEnded) -> None:
    finish_job_run(None, None, "")  # no-op once the run ended


events.subscribe(events.JobRegistered, _on_registered)
events.subscribe(events.JobEnded, _on_ended)
