"""The manifest document (``sweep_results.json``), typed, and the settings a sweep ranks by.

One document type serves every path: registration, reads, recovery and repair fold records into
a :class:`Manifest` (:mod:`sweepkit.manifest._fold`), and only the executor
(:mod:`sweepkit.manifest._executor`) writes it or touches the files it names.
"""

from __future__ import annotations

import functools
import time
from dataclasses import dataclass
from typing import Any, Sequence, TypedDict

from sweepkit._io import check_mode
from sweepkit._settings import DEFAULT_METRIC, Settings, resolve_settings
from sweepkit.errors import ManifestError
from sweepkit.manifest._ranking import Rule
from sweepkit.records import LOG_NAME, MANIFEST_FORMAT, ManifestRecord


class Disk(TypedDict):
    best_models_bytes: int
    reclaimed_bytes: int
    deleted_checkpoints: int


class LogPosition(TypedDict):
    path: str
    size: int  # the log bytes this document reflects


class Objective(TypedDict):
    name: str
    mode: str


class _Fields(TypedDict):
    format: int
    sweep_dir: str
    metric_name: str
    mode: str
    top_k: int
    created_at: float
    updated_at: float
    labels: dict[str, str] | None
    n_runs: int
    next_seq: int
    counts: dict[str, int]
    best: dict[str, Any] | None
    top: list[ManifestRecord]
    disk: Disk
    log: LogPosition
    runs_complete: bool


class Manifest(_Fields, total=False):
    """``sweep_results.json`` (``docs/manifest.md``): ``objectives`` and ``front`` only for a
    sweep of several metrics, ``runs`` only in the full file written at the sweep's end."""

    objectives: list[Objective]
    front: list[ManifestRecord]
    runs: list[ManifestRecord]


@functools.lru_cache(maxsize=64)
def rule_of(settings: Settings) -> Rule:
    """The ranking rule of a sweep's settings (built once per settings: every fold asks for it)."""
    return Rule(settings.names, settings.modes, settings.top_k)


@dataclass(frozen=True)
class Requested:
    """The settings a caller opened a sweep with; None where it left them to the sweep."""

    names: tuple[str, ...] | None = None
    modes: tuple[str, ...] | None = None
    top_k: int | None = None

    @classmethod
    def parse(cls, metric_name: Any, mode: Any, top_k: Any) -> "Requested":
        """Checked arguments of :class:`SweepManager`: a name or a list, a mode or a list."""
        if top_k is not None and (isinstance(top_k, bool) or not isinstance(top_k, int) or top_k < 1):
            raise ValueError(f"top_k must be an integer >= 1, got {top_k!r}")
        names = None
        if metric_name is not None:
            names = tuple(metric_name) if isinstance(metric_name, (list, tuple)) else (metric_name,)
            if not names or not all(isinstance(n, str) and n for n in names):
                raise ValueError(f"metric_name must be a non-empty string or a list of them, got {metric_name!r}")
            if len(set(names)) != len(names):
                raise ValueError(f"metric_name {list(names)!r} names a metric twice")
        modes = None
        if mode is not None:
            modes = tuple(mode) if isinstance(mode, (list, tuple)) else (mode,)
            if not modes:
                raise ValueError("mode must be 'min' or 'max', or a list of them, got []")
            for one in modes:
                check_mode(one)
            if names is not None and len(modes) not in (1, len(names)):
                Settings(names, modes)  # raises the message
        return cls(names, modes, top_k)


def stored_settings(stored: dict[str, Any]) -> Requested:
    """A sweep's stored settings (``.sweepkit/settings.json`` or its manifest) as a request."""
    if stored.get("objectives"):
        names = tuple(o["name"] for o in stored["objectives"])
        modes: tuple[str, ...] | None = tuple(o["mode"] for o in stored["objectives"])
    else:
        names = (stored["metric_name"],) if stored.get("metric_name") else None  # type: ignore[assignment]
        modes = (stored["mode"],) if stored.get("mode") else None
    return Requested(names or None, modes, stored.get("top_k"))


def resolve(requested: Requested, stored: Requested) -> Settings:
    """The settings of a sweep opened with ``requested``: each as asked, else the sweep's own
    (a metric's stored mode only with that metric), else the manifest's defaults
    (:func:`sweepkit._settings.resolve_settings`, the one resolver)."""
    return resolve_settings(explicit=_layer(requested), stored=_layer(stored), default_metric=DEFAULT_METRIC)


def _layer(settings: Requested) -> dict[str, Any]:
    return {"metric_name": settings.names, "mode": settings.modes, "top_k": settings.top_k}


def refuse_conflict(requested: Requested, stored: Requested, sweep: str, results: str) -> None:
    """Raise :class:`ManifestError` when a writer asks for other metrics, modes or top_k than
    the sweep's own (opening a sweep never changes them)."""
    for field in ("names", "modes", "top_k"):
        mine, theirs = getattr(requested, field), getattr(stored, field)
        if field == "modes" and mine is not None and theirs is not None and len(mine) == 1:
            mine = mine * len(theirs)  # one mode for every metric
        if mine is None or theirs is None or mine == theirs:
            continue
        if field == "top_k":
            raise ManifestError(
                f"{sweep} keeps its top {theirs}, but this manager was opened with "
                f"top_k={mine}. Opening a sweep never changes that: to keep the top {mine} "
                f"from now on, preview it with `sweepkit prune --top-k {mine} "
                f"{sweep}` and apply it with `--live` (SweepManager.set_top_k), or "
                f"open the sweep with top_k={theirs} (or None)"
            )
        label = {"names": "metric_name", "modes": "mode"}[field]
        raise ManifestError(
            f"{results} ranks by {label}={_one_or_list(theirs)!r} but this manager "
            f"uses {_one_or_list(mine)!r}; open the sweep with the same {label} (or None)"
        )


def settings_of(doc: Manifest) -> Settings:
    """The settings a manifest records."""
    objectives = doc.get("objectives")
    if objectives:
        return Settings(tuple(o["name"] for o in objectives), tuple(o["mode"] for o in objectives), doc["top_k"])
    return Settings((doc["metric_name"],), (doc["mode"],), doc["top_k"])


def new_manifest(sweep_dir: str, settings: Settings) -> Manifest:
    """The document of a sweep with no run yet."""
    now = time.time()
    doc: Manifest = {
        "format": MANIFEST_FORMAT,
        "sweep_dir": sweep_dir,
        "metric_name": settings.metric_name,
        "mode": settings.mode,
        "top_k": settings.top_k,
        "created_at": now,
        "updated_at": now,
        "labels": None,
        "n_runs": 0,
        "next_seq": 0,
        "counts": {},
        "best": None,
        "top": [],
        "disk": {"best_models_bytes": 0, "reclaimed_bytes": 0, "deleted_checkpoints": 0},
        "log": {"path": LOG_NAME, "size": 0},
        "runs_complete": False,
    }
    if settings.pareto:  # a Pareto front: every non-dominated run's values
        doc["objectives"] = [{"name": n, "mode": m} for n, m in zip(settings.names, settings.modes)]
        doc["front"] = []
    return doc


def top_k_plan(doc: Manifest, top_k: int) -> list[str]:
    """What changing ``top_k`` to ``top_k`` deletes, one line each (the first names the change)."""
    old = doc["top_k"]
    if top_k >= old:
        return [f"top_k {old} -> {top_k}: nothing is deleted (checkpoints deleted earlier cannot come back)"]
    plan = [f"top_k {old} -> {top_k}"]
    kept = {e["run_id"] for e in rule_of(settings_of(doc)).truncate(doc["top"], top_k)}
    names = ",".join(settings_of(doc).names)
    for entry in doc["top"]:
        if entry["run_id"] not in kept:
            value = entry.get("metric_values", entry.get("metric_value"))
            plan.append(f"delete {entry['checkpoint']} (rank {entry['rank']}, {entry['run_name']}, {names} {value})")
    return plan


def brief(entry: ManifestRecord) -> dict[str, Any]:
    """What the manifest's ``best`` and the summary's ``top`` show of a ranked run."""
    fields = ("rank", "run_id", "run_name", "metric_value", "best_epoch", "checkpoint", "config")
    out = {k: entry.get(k) for k in fields}
    if "metric_values" in entry:
        out["metric_values"] = entry["metric_values"]
    return out


def summary_dict(doc: Manifest) -> dict[str, Any]:
    """The content of ``sweep_summary.yaml``."""
    disk = doc["disk"]
    objectives: dict[str, Any] = {}
    if doc.get("objectives"):
        front = [{"run_name": e.get("run_name"), "metric_values": e.get("metric_values")} for e in doc.get("front", [])]
        objectives = {"objectives": doc["objectives"], "front": front}
    return {
        "sweep_dir": doc["sweep_dir"],
        "labels": doc.get("labels"),
        "metric": doc["metric_name"],
        "mode": doc["mode"],
        "top_k": doc["top_k"],
        **objectives,
        "runs": doc["n_runs"],
        "counts": dict(sorted(doc["counts"].items())),
        "best": brief(doc["top"][0]) if doc["top"] else None,
        "top": [brief(e) for e in doc["top"]],
        "disk": {
            "best_models_mb": round(disk["best_models_bytes"] / 2**20, 3),
            "reclaimed_mb": round(disk["reclaimed_bytes"] / 2**20, 3),
            "deleted_checkpoints": disk["deleted_checkpoints"],
        },
        "updated_at": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(doc["updated_at"])),
    }


def _one_or_list(items: Sequence[Any] | None) -> Any:
    return items[0] if items and len(items) == 1 else list(items or ())
