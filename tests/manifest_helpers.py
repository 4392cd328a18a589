"""Helpers shared by the manifest tests: fake jobs with tiny, identifiable checkpoints."""

from __future__ import annotations

from pathlib import Path

from sweepkit.manifest import SweepManager, latest_records, read_manifest

#: The steps of a registration, in order, where ``$SWEEPKIT_FAULT_POINT`` kills the process
#: (``sweepkit.testing.fault_point``).
FAULT_POINTS = [
    "before_log_append",
    "mid_log_append",
    "after_log_append",
    "after_stage",
    "after_delete_stray",
    "between_rename_phases",
    "after_apply",
    "before_manifest_write",
]


def make_job(sweep: Path, run_id: str) -> tuple[Path, Path]:
    """A job directory with a checkpoint whose bytes name the run, and a config."""
    job = sweep / "jobs" / run_id
    job.mkdir(parents=True, exist_ok=True)
    ckpt, cfg = job / "best_model.pth", job / "config.yaml"
    ckpt.write_bytes(f"ckpt:{run_id}".encode())
    cfg.write_text(f"run: {run_id}\n")
    return ckpt, cfg


def register(manager, run_id: str, value, **extra) -> bool:
    ckpt, cfg = make_job(manager.sweep_dir, run_id)
    return manager.register_model(
        run_id=run_id,
        run_name=f"run{run_id}",
        metric_value=value,
        model_path=ckpt,
        config_path=cfg,
        **{"best_epoch": 1, **extra},
    )


def all_checkpoints(sweep: Path) -> list[Path]:
    return sorted(p for p in sweep.rglob("*.pth") if p.is_file())


def assert_invariants(sweep: Path, expected_ids: list[str] | None = None) -> dict:
    """Invariants 1 and 2: best_models holds exactly the ranked runs, by rank; no other .pth.

    The ranking is read from ``sweep_results.json`` itself (always current); the returned
    manifest is caught up with the log (counts of registrations the file does not reflect yet).
    """
    doc = read_manifest(sweep / "sweep_results.json")
    top = doc["top"]
    best = sweep / "best_models"
    ckpts = sorted(best.glob("*.pth"))
    assert [p.name for p in ckpts] == [Path(e["checkpoint"]).name for e in top]
    prefix = "front" if doc.get("objectives") else "rank"
    for rank, entry in enumerate(top, 1):
        assert entry["rank"] == rank
        assert Path(entry["checkpoint"]).name.startswith(f"{prefix}_{rank:02d}_")
        assert (sweep / entry["checkpoint"]).read_bytes() == f"ckpt:{entry['run_id']}".encode()
        assert (sweep / entry["config"]).read_text() == f"run: {entry['run_id']}\n"
    assert all_checkpoints(sweep) == ckpts, "a checkpoint outside the top k remained"
    assert sorted(p.name for p in best.iterdir()) == sorted(
        [Path(e["checkpoint"]).name for e in top] + [Path(e["config"]).name for e in top]
    )
    if expected_ids is not None:
        assert [e["run_id"] for e in top] == expected_ids
    state = SweepManager(sweep, top_k=doc["top_k"]).state()
    assert state["top"] == top, "sweep_results.json lags the log in its top k"
    return state


def read_log_ids(sweep: Path) -> list[str]:
    """Run ids in the log, skipping a torn last line as every reader does."""
    return [r["run_id"] for r in latest_records(sweep / "runs.jsonl")]


def run_in_processes(target, sweep: Path, n_procs: int, timeout: float = 120) -> None:
    """Run ``target(str(sweep), proc)`` in ``n_procs`` forked processes; each must exit 0."""
    import multiprocessing as mp

    procs = [mp.get_context("fork").Process(target=target, args=(str(sweep), p)) for p in range(n_procs)]
    for proc in procs:
        proc.start()
    for proc in procs:
        proc.join(timeout)
        assert proc.exitcode == 0
