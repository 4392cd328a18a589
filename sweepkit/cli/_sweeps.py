"""Finding sweep directories and reading what they hold (read-only: nothing on disk changes).

A sweep directory is Hydra's ``hydra.sweep.dir``, recognised by what Hydra and sweepkit wrote
into it, whatever its name or depth: ``multirun.yaml`` (Hydra), ``sweep_results.json`` /
``runs.jsonl`` (the manifest), ``.sweepkit/`` (sweepkit's own folder), or a job directory
``<n>/.hydra/hydra.yaml`` whose ``hydra.sweep.dir`` is this directory. Runs come from the
manifest's log (every registered run) plus the job directories' ``run.json`` records of jobs
that have not registered yet (running, or killed before their hook ran). A sweep with neither
(an app without the top-k callback) is read from its Optuna study.

Where to look: the path given; else ``$SWEEPKIT_OUTPUTS``; else the working directory, down to
``SEARCH_DEPTH`` levels (``outputs/sweeps/<model>/<dataset>/<time>/`` of this repository,
``logs/<task>/multiruns/<time>/`` of lightning-hydra-template, ``multirun/<date>/<time>/`` of
Hydra), skipping hidden folders and virtual environments, never descending into a sweep.
"""

from __future__ import annotations

import logging
import os
import stat
import time
from functools import cached_property
from pathlib import Path
from typing import Any, TypedDict, cast

from sweepkit._liveness import RECENT_S
from sweepkit._settings import Settings, resolve_settings
from sweepkit.errors import CliError
from sweepkit.manifest import (
    ManifestCorruptError,
    ManifestError,
    latest_records,
    read_manifest,
    read_settings,
    read_state,
)
from sweepkit.records import (
    FINISHED_STATUSES,
    HYDRA_DIR,
    INTERNAL_DIR,
    JOURNAL_NAME,
    LOG_NAME,
    MULTIRUN_CONFIG,
    RANKED_STATUSES,
    RESULTS_NAME,
    RUN_RECORD,
    ManifestRecord,
    RunRecord,
    has_run_record,
    is_inside,
    manifest_record,
    read_run_record,
    with_ranks,
)

log = logging.getLogger("sweepkit.cli")

MARKERS = (MULTIRUN_CONFIG, RESULTS_NAME, LOG_NAME)

#: What an unregistered job's run shows of its ``run.json`` (besides its name and status).
_UNREGISTERED_FIELDS = (
    "metric_name",
    "metric_value",
    "best_epoch",
    "epochs_run",
    "max_epochs",
    "params",
    "test",
    "started_at",
    "ended_at",
    "error",
)


#: A run as the commands see it: a manifest record's fields (``docs/manifest.md``) plus the CLI's
#: ``registered``, and for a sweep read from its Optuna study ``source`` and ``history``. Plain
#: JSON-like data from three sources (the manifest, a job's ``run.json``, the study).
Run = dict[str, Any]


class Objective(TypedDict):
    """One metric a multi-metric sweep ranks (the manifest's ``objectives``)."""

    name: str
    mode: str


def is_sweep_dir(path: Path, subdirs: list[str] | None = None) -> bool:
    """Whether Hydra or sweepkit made ``path`` a sweep directory (see the module's doc).
    ``subdirs``: its sub-directory names, when the caller has listed them already."""
    if any(os.path.isfile(path / name) for name in MARKERS) or os.path.isdir(path / INTERNAL_DIR):
        return True
    if subdirs is None:
        try:
            subdirs = [e.name for e in os.scandir(path) if e.is_dir(follow_symlinks=False)]
        except OSError:
            return False
    job = next((d for d in sorted(subdirs) if d.isdigit()), None)
    return job is not None and _job_sweep_dir(path / job) == os.path.realpath(path)


def _job_sweep_dir(job: Path) -> str | None:
    """The real path of the ``hydra.sweep.dir`` a job's ``.hydra/hydra.yaml`` names, or None."""
    hydra = _read_yaml(job / HYDRA_DIR / "hydra.yaml").get("hydra")
    if not isinstance(hydra, dict):
        return None
    sweep_dir = _plain((hydra.get("sweep") or {}).get("dir"))
    if not isinstance(sweep_dir, str) or not sweep_dir:
        return None
    cwd = _plain((hydra.get("runtime") or {}).get("cwd")) or "."
    return os.path.realpath(os.path.join(str(cwd), sweep_dir))


#: How deep below the working directory sweeps are looked for when no path is given.
SEARCH_DEPTH = 6
#: Folders never searched (besides hidden ones): environments and caches, not outputs.
SKIP_DIRS = frozenset({"node_modules", "site-packages", "__pycache__", "venv", "env"})


def search_root(root: Path | str | None) -> tuple[Path, int | None]:
    """Where to look for sweeps and how deep: ``root`` itself (any depth), else
    ``$SWEEPKIT_OUTPUTS``, else the working directory down to ``SEARCH_DEPTH`` levels."""
    if root is not None and str(root) != "":
        return Path(root), None
    env = os.environ.get("SWEEPKIT_OUTPUTS")
    if env:
        log.debug("reading sweeps under $SWEEPKIT_OUTPUTS=%s", env)
        return Path(env), None
    return Path("."), SEARCH_DEPTH


def find_sweeps(root: Path | str | None) -> list["Sweep"]:
    """Every sweep at or below ``root`` (None: see :func:`search_root`), newest first; links
    are never followed. With none below, the sweep ``root`` lies in (from a job's folder)."""
    root, depth = search_root(root)
    if not os.path.lexists(root):
        raise CliError(
            f"{root}: no such file or directory (give a sweep directory or a folder "
            "above sweeps, e.g. logs/; or set SWEEPKIT_OUTPUTS)"
        )
    if not root.is_dir():
        raise CliError(f"{root} is not a directory (give a sweep directory or a folder above sweeps, e.g. logs/)")
    found: list[Sweep] = []
    for top, dirs, _files in os.walk(root, followlinks=False, onerror=_walk_error):
        if is_sweep_dir(Path(top), dirs):
            found.append(Sweep(Path(top)))
            dirs[:] = []  # job dirs live inside; never descend into a sweep
            continue
        level = len(Path(top).relative_to(root).parts)
        dirs[:] = (
            []
            if depth is not None and level >= depth
            else sorted(
                d
                for d in dirs
                if not d.startswith(".")
                and d not in SKIP_DIRS
                and not os.path.isfile(os.path.join(top, d, "pyvenv.cfg"))
            )
        )
    log.debug("found %d sweep(s) under %s", len(found), root)
    if not found:  # inside a sweep (a job's folder, say): the sweep that holds it
        holder = next((p for p in root.absolute().parents[:SEARCH_DEPTH] if is_sweep_dir(p)), None)
        if holder is not None:
            log.debug("%s lies inside the sweep %s", root, holder)
            found.append(Sweep(holder))
    if not found:
        where = (
            f"{display_path(root)} (searched {depth} levels deep; give a path or set "
            "SWEEPKIT_OUTPUTS to look elsewhere)"
            if depth
            else str(root)
        )
        raise CliError(
            f"no sweep found under {where}: a sweep directory holds Hydra's "
            f"multirun.yaml or sweepkit's {RESULTS_NAME}; start one with "
            "`python train.py -m ...`"
        )
    found.sort(key=lambda s: s.started, reverse=True)
    return found


def _walk_error(err: OSError) -> None:
    log.debug("skip unreadable %s: %s", err.filename, err)


def latest_sweep(root: Path | str | None) -> "Sweep":
    """The most recently started sweep at or below ``root``."""
    sweeps = find_sweeps(root)
    if len(sweeps) > 1:
        log.debug("%d sweeps under %s; using the newest, %s", len(sweeps), root, sweeps[0].path)
    return sweeps[0]


def display_path(path: Path) -> str:
    """``path`` relative to the working directory when below it, else absolute."""
    try:
        return str(Path(path).absolute().relative_to(Path.cwd()))
    except ValueError:
        return str(Path(path).absolute())


class Sweep:
    """Read-only view of one sweep directory. Problems reading the manifest are collected in
    :attr:`errors` (naming the file) instead of raised, so other sweeps can still be shown."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self.errors: list[str] = []
        self._job_records: dict[tuple[Any, Any], RunRecord | None] = {}  # read once per view

    @property
    def name(self) -> str:
        return display_path(self.path)

    # ------------------------------------------------------------ files
    @cached_property
    def manifest(self) -> dict[str, Any] | None:
        """The manifest as of the whole log (:func:`sweepkit.manifest.read_state`); None when
        absent or corrupt (see :attr:`errors`). A log cut short shows the file as it is."""
        path = self.path / RESULTS_NAME
        try:
            return read_state(self.path)
        except ManifestCorruptError as exc:
            if exc.path.name != RESULTS_NAME:  # a bad line in the log: `verify` names it; show the file
                return read_manifest(path, move_corrupt=False)
            self.errors.append(
                f"{path} is corrupt ({exc.reason or exc}); run `sweepkit verify --repair "
                f"{display_path(self.path)}` to rebuild it from {LOG_NAME}"
            )
        except ManifestError:  # the log does not continue the file: `verify` names it
            return read_manifest(path, move_corrupt=False)
        except OSError as exc:
            self.errors.append(f"{path} cannot be read ({exc})")
        return None

    @cached_property
    def settings(self) -> Settings:
        """The sweep's metric(s), mode(s) and top_k (:func:`sweepkit._settings.resolve_settings`):
        its own once a job registered, else its top-k callback's and sweeper's config, else
        what its runs recorded."""
        hydra = self._resolved("hydra") or {}
        return resolve_settings(
            stored=read_settings(self.path),
            config=_topk_node(hydra),
            sweeper=hydra,
            records=[dict(read_run_record(job) or {}) for job in self.job_dirs[:5]],
            default_metric="objective" if self.storage is not None else "val_loss",  # no study opened for it
        )

    def _resolved(self, key: str) -> dict[str, Any] | None:
        """A top-level node of the composed config, its interpolations resolved where they can be."""
        from omegaconf import OmegaConf

        node = self.config.get(key)
        if not isinstance(node, dict):
            return None
        try:
            resolved = OmegaConf.to_container(OmegaConf.create(self.config)[key], resolve=True)
        except Exception:  # a resolver only Hydra's running app has: keep it as written
            return node
        return cast("dict[str, Any]", resolved) if isinstance(resolved, dict) else None

    @cached_property
    def config(self) -> dict[str, Any]:
        """Hydra's composed ``multirun.yaml`` (unresolved); {} when absent or unreadable."""
        path = self.path / MULTIRUN_CONFIG
        if not path.is_file():
            return {}
        import yaml

        loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
        try:
            doc = yaml.load(path.read_text(encoding="utf-8"), Loader=loader)
        except (OSError, yaml.YAMLError) as exc:
            self.errors.append(f"{path} does not parse ({exc.__class__.__name__})")
            return {}
        return doc if isinstance(doc, dict) else {}

    @cached_property
    def registered(self) -> list[ManifestRecord]:
        """Every registered run's latest record (the manifest's log), in registration order."""
        try:
            return cast("list[ManifestRecord]", latest_records(self.path / LOG_NAME))
        except (ManifestError, OSError, ValueError) as exc:
            self.errors.append(str(exc))
            return []

    @cached_property
    def job_dirs(self) -> list[Path]:
        """The sweep's job directories (direct sub-directories named by a job number)."""
        try:
            entries = list(os.scandir(self.path))
        except OSError:
            return []
        jobs = [Path(e.path) for e in entries if e.name.isdigit() and e.is_dir(follow_symlinks=False)]
        return sorted(jobs, key=lambda p: int(p.name))

    @cached_property
    def runs(self) -> list[Run]:
        """Registered runs, ranked ones annotated with ``rank``, plus unregistered jobs.

        Each run carries ``run_id``, ``run_name``, ``job_num``, ``status``, ``metric_value``,
        ``epoch``, ``params``, ``rank`` (or None), ``checkpoint`` (absolute or None) and more.
        An unregistered job whose record says ``running`` but has not been written for
        ``RECENT_S`` seconds is shown as ``killed``.
        """
        top = cast("list[ManifestRecord]", self.top)  # the manifest's ranked records
        runs: list[Run] = [dict(r) for r in with_ranks(self.registered, top)]
        seen = {run["run_id"] for run in runs}
        if not runs and self.manifest and self.manifest.get("runs"):
            runs = [dict(r) for r in self.manifest["runs"]]  # log missing: the manifest's copy
            seen = {r.get("run_id") for r in runs}
        if not runs and not self.manifest and not any(map(has_run_record, self.job_dirs)):
            return self.study_runs  # no manifest, no records: what the Optuna study knows
        now = time.time()
        for job in self.job_dirs:
            if job.name in seen:
                continue
            record = read_run_record(job)
            if record is None:
                continue
            run: Run = dict(manifest_record(self.path, job, record))
            status = run["status"] or "running"
            if status == "running" and now - (_mtime(job / RUN_RECORD) or 0.0) > RECENT_S:
                status = "killed"
            runs.append(
                {
                    "run_id": job.name,
                    "run_name": run["run_name"],
                    "job_num": record.get("job_num", int(job.name)),
                    "status": status,
                    **{k: run[k] for k in _UNREGISTERED_FIELDS},
                    "rank": None,
                    "checkpoint": None,
                    "registered": False,
                    "source_checkpoint": run["source_checkpoint"],
                }
            )
        base = self.path.absolute()
        for run in runs:
            for field in ("checkpoint", "config"):
                if run.get(field) and not os.path.isabs(run[field]):
                    run[field] = str(base / run[field])
        return runs

    @property
    def storage(self) -> str | None:
        """Where the sweep's Optuna study lives: ``hydra.sweeper.storage`` (a database URL), else
        the sweep's journal file; None for a sweep without one."""
        storage = _plain(self._cfg("hydra", "sweeper", "storage"))
        journal = self.path / JOURNAL_NAME
        if storage:
            return str(storage)
        return str(journal.absolute()) if journal.is_file() else None

    @cached_property
    def study(self) -> Any:
        """The sweep's Optuna study (its journal file, or ``hydra.sweeper.storage``), or None."""
        storage = self.storage
        if storage is None:
            return None
        try:
            import optuna

            from sweepkit.sweeper import open_storage

            optuna.logging.set_verbosity(optuna.logging.WARNING)
            handle = open_storage(storage)
            names = [s.study_name for s in optuna.get_all_study_summaries(handle)]
            name = _plain(self._cfg("hydra", "sweeper", "study_name"))
            name = name if name in names else (names[0] if len(names) == 1 else None)
            return optuna.load_study(study_name=name, storage=handle) if name else None
        except Exception as exc:  # a reader: name the problem, show the rest
            self.errors.append(f"cannot read the Optuna study of {self.path}: {exc}")
            return None

    @cached_property
    def study_runs(self) -> list[Run]:
        """Runs from the Optuna study (a sweep without manifest or run records)."""
        study = self.study
        if study is None:
            return []
        from optuna.trial import TrialState

        states = {
            TrialState.COMPLETE: "complete",
            TrialState.PRUNED: "pruned",
            TrialState.FAIL: "failed",
            TrialState.RUNNING: "running",
            TrialState.WAITING: "running",
        }
        pick = max if self.mode == "max" else min
        runs: list[Run] = []
        for trial in study.get_trials(deepcopy=False):
            curve = trial.intermediate_values
            value = (
                trial.value
                if trial.state == TrialState.COMPLETE
                else (pick(curve.values()) if curve and trial.state == TrialState.PRUNED else None)
            )
            runs.append(
                {
                    "run_id": str(trial.number),
                    "run_name": str(trial.number),
                    "job_num": trial.number,
                    "status": states.get(trial.state, "failed"),
                    "metric_name": self.metric_name,
                    "metric_value": value,
                    "best_epoch": trial.last_step,
                    "epochs_run": trial.last_step,
                    "params": {**trial.params, **trial.user_attrs.get("sweepkit_applied", {})},
                    "started_at": trial.datetime_start.timestamp() if trial.datetime_start else None,
                    "ended_at": (trial.datetime_complete.timestamp() if trial.datetime_complete else None),
                    "history": [{"epoch": step, self.metric_name: v} for step, v in sorted(curve.items())],
                    "rank": None,
                    "checkpoint": None,
                    "registered": None,
                    "source": "optuna",
                }
            )
        return runs

    @property
    def top(self) -> list[Run]:
        """The ranked runs from the manifest (best first); [] without a manifest."""
        doc = self.manifest
        return list(doc.get("top") or []) if doc else []

    @property
    def objectives(self) -> list[Objective] | None:
        """``[{"name", "mode"}, ...]`` of a sweep that ranks several metrics, else None."""
        doc = self.manifest
        return (doc.get("objectives") or None) if doc else None

    def front(self) -> list[Run]:
        """A multi-metric sweep's Pareto front (every non-dominated run, first metric first),
        each run with ``rank`` set when its checkpoint is kept; [] for one metric."""
        doc = self.manifest
        if not self.objectives or doc is None:  # objectives come from the manifest
            return []
        by_id = {r["run_id"]: r for r in self.runs}
        kept = {e["run_id"]: e["rank"] for e in self.top}
        return [dict(by_id.get(e["run_id"], e), rank=kept.get(e["run_id"])) for e in doc.get("front") or []]

    def ranked(self) -> list[Run]:
        """Runs in rank order: the manifest's top k, else finished runs sorted by metric."""
        if self.top:
            by_id = {r["run_id"]: r for r in self.runs}
            return [by_id.get(e["run_id"], e) for e in self.top]
        sign = -1 if self.mode == "max" else 1
        done = [
            r
            for r in self.runs
            if r.get("status") in RANKED_STATUSES and isinstance(r.get("metric_value"), (int, float))
        ]
        return sorted(done, key=lambda r: sign * r["metric_value"])[: self.top_k]

    # ------------------------------------------------------------ sweep-level facts
    def _cfg(self, *keys: str) -> Any:
        node: Any = self.config
        for key in keys:
            if not isinstance(node, dict):
                return None
            node = node.get(key)
        return node

    @property
    def model(self) -> str | None:
        """The app's ``model.name`` (the forecasting app's), else None."""
        model: str | None = _plain(self._cfg("model", "name"))
        return model

    @property
    def dataset(self) -> str | None:
        """The app's ``dataset.name``, else None."""
        dataset: str | None = _plain(self._cfg("dataset", "name"))
        return dataset

    @cached_property
    def labels(self) -> dict[str, str]:
        """What the sweep trained, from the app's config groups (``{"model": "mlp"}``): the
        manifest's, else the runs' recorded labels, else a job's ``.hydra/hydra.yaml`` choices."""
        recorded = ((self.manifest or {}).get("labels"), *(run.get("labels") for run in self.registered))
        for labels in recorded:
            if isinstance(labels, dict) and labels:
                return {str(k): str(v) for k, v in labels.items()}
        for job in self.job_dirs[:1]:
            choices = _read_yaml(job / HYDRA_DIR / "hydra.yaml").get("hydra", {})
            choices = (choices.get("runtime") or {}).get("choices") or {}
            from sweepkit.tracker import NON_LABEL_GROUPS

            return {
                str(k): str(v)
                for k, v in choices.items()
                if v is not None and "/" not in str(k) and k not in NON_LABEL_GROUPS
            }
        return {}

    @property
    def what(self) -> str:
        """A label for people: ``dmixer on Solar``, else ``model=mlp data=spirals``, else the
        Hydra job's name (the app's script)."""
        if self.model or self.dataset:
            return " on ".join(x for x in (self.model, self.dataset) if x)
        return " ".join(f"{k}={v}" for k, v in self.labels.items()) or str(
            _plain(self._cfg("hydra", "job", "name")) or ""
        )

    @property
    def metric_name(self) -> str:
        return self.settings.metric_name

    @property
    def mode(self) -> str:
        return self.settings.mode

    @property
    def top_k(self) -> int:
        return self.settings.top_k

    @property
    def n_trials(self) -> int | None:
        """Trials planned: the sweeper's ``n_trials``, or the size of a comma-list grid."""
        value = self._cfg("hydra", "sweeper", "n_trials")
        if isinstance(value, int):
            return value
        task = self._cfg("hydra", "overrides", "task")
        if not isinstance(task, list) or not task:
            return None
        from sweepkit._overrides import sweep_size

        return sweep_size(task)

    @property
    def timeout(self) -> float | None:
        """The sweeper's time limit in seconds (``hydra.sweeper.timeout``), if any."""
        value = self._cfg("hydra", "sweeper", "timeout")
        return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None

    @cached_property
    def started(self) -> float:
        """When the sweep began (epoch seconds)."""
        created = (self.manifest or {}).get("created_at")
        times = [_mtime(self.path / MULTIRUN_CONFIG)]
        if isinstance(created, (int, float)):
            times.append(created)
        known = [t for t in times if t]
        return min(known) if known else _mtime(self.path) or 0.0

    @cached_property
    def updated(self) -> float:
        """The last time anything at the sweep's top level or a job's record was written."""
        times = [_mtime(self.path)]
        try:
            times += [
                e.stat(follow_symlinks=False).st_mtime
                for e in os.scandir(self.path)
                if e.is_file(follow_symlinks=False)
            ]
        except OSError:
            pass
        times += [_mtime(job / RUN_RECORD) for job in self.job_dirs[-50:]]
        return max(t for t in times if t is not None)

    def counts(self) -> dict[str, int]:
        counts = {"complete": 0, "pruned": 0, "failed": 0, "killed": 0, "running": 0}
        for run in self.runs:
            status = run.get("status") or "failed"
            counts[status] = counts.get(status, 0) + 1
        return counts

    def progress(self) -> dict[str, Any]:
        """Trials planned and finished, seconds elapsed (to now while running, else to the last
        write) and the ETA while running (:func:`sweepkit._eta.eta_seconds`)."""
        from sweepkit._eta import eta_seconds

        counts = self.counts()
        done = sum(counts.get(s, 0) for s in FINISHED_STATUSES)
        running = self.running
        elapsed = max(0.0, (time.time() if running else self.updated) - self.started)
        eta = eta_seconds(done, self.n_trials - done, elapsed, self.timeout) if running and self.n_trials else None
        return {"n_trials": self.n_trials, "done": done, "elapsed_s": elapsed, "eta_s": eta, "timeout_s": self.timeout}

    def disk(self) -> dict[str, int]:
        disk = (self.manifest or {}).get("disk") or {}
        return {
            "best_models_bytes": int(disk.get("best_models_bytes") or 0),
            "reclaimed_bytes": int(disk.get("reclaimed_bytes") or 0),
            "deleted_checkpoints": int(disk.get("deleted_checkpoints") or 0),
        }

    # ------------------------------------------------------------ liveness
    @cached_property
    def activity(self) -> Any:
        """What keeps the sweep running (:func:`sweepkit._liveness.sweep_activity`), or None."""
        from sweepkit._liveness import sweep_activity

        activity = sweep_activity(self.path)
        if activity is not None:
            log.debug("%s is running: %s", self.path, activity)
        return activity

    @property
    def running(self) -> bool:
        """Whether the sweep is still going: the one liveness probe's answer."""
        return self.activity is not None

    def status(self) -> str:
        return "running" if self.running else "finished"

    def job_record(self, run: Run) -> RunRecord | None:
        """The ``run.json`` of a run's job directory (learning curve etc.), or None; read once
        per run for the life of this view (``report`` asks for the curve and the data source)."""
        key = (run.get("run_id"), run.get("source_checkpoint"))
        if key not in self._job_records:
            self._job_records[key] = self._read_job_record(run)
        return self._job_records[key]

    def _read_job_record(self, run: Run) -> RunRecord | None:
        candidates = []
        if run.get("run_id") is not None:
            candidates.append(self.path / str(run["run_id"]))
        if run.get("source_checkpoint"):
            candidates.append(Path(run["source_checkpoint"]).parent)
        for job in candidates:
            if is_inside(job, self.path):
                record = read_run_record(job)
                if record is not None:
                    return record
        if run.get("source") == "optuna":  # no record: the study's intermediate values
            return {"history": run.get("history") or []}
        return None


def dir_size(path: Path) -> int:
    """Bytes of the regular files below ``path`` (links counted as links, never followed)."""
    total = 0
    for top, dirs, files in os.walk(path, followlinks=False):
        for name in files + dirs:
            try:
                st = os.lstat(os.path.join(top, name))
            except OSError:
                continue
            if stat.S_ISREG(st.st_mode):
                total += st.st_size
    return total


def _mtime(path: Path) -> float | None:
    try:
        return os.stat(path, follow_symlinks=False).st_mtime
    except OSError:
        return None


def _read_yaml(path: Path) -> dict[str, Any]:
    import yaml

    try:
        doc = yaml.safe_load(path.read_text(encoding="utf-8"))
    except (OSError, yaml.YAMLError):
        return {}
    return doc if isinstance(doc, dict) else {}


def _topk_node(hydra: dict[str, Any]) -> dict[str, Any] | None:
    """The top-k callback's settings in a ``hydra`` node: the ``hydra.callbacks`` entry whose
    target is sweepkit's callback, else the sweeper's ``topk``."""
    for node in (hydra.get("callbacks") or {}).values():
        if isinstance(node, dict) and str(node.get("_target_", "")).endswith("TopKCallback"):
            return node
    topk = (hydra.get("sweeper") or {}).get("topk")
    return topk if isinstance(topk, dict) else None


def _plain(value: Any) -> Any:
    """A config value, or None for an unresolved interpolation like ``${...}``."""
    if isinstance(value, str) and "${" in value:
        return None
    return value
