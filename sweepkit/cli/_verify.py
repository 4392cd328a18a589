"""``verify``: check a sweep directory against its manifest (DESIGN.md invariants 1, 2 and 5);
``--repair`` mends it through :meth:`SweepManager.repair` and :meth:`SweepManager.reconcile`."""

from __future__ import annotations

import argparse
import math
import os
from pathlib import Path
from typing import cast

from sweepkit._liveness import exclusive
from sweepkit.cli._render import print_json, style
from sweepkit.cli._sweeps import Sweep, latest_sweep
from sweepkit.errors import CliError
from sweepkit.manifest import WRITE_EVERY, ManifestError, SweepRunningError, is_the_recorded_file, read_log
from sweepkit.records import (
    BEST_DIR,
    CHECKPOINT,
    JOURNAL_NAME,
    KEPT_DIR,
    LOG_NAME,
    RESULTS_NAME,
    RESUME_CHECKPOINT,
    is_inside,
)
from sweepkit.sweeper import damaged_journal_lines, mend_journal


class ByHand(str):
    """A problem that ``--repair`` cannot mend: the user decides (its text says what to do)."""


def run(args: argparse.Namespace) -> int:
    sweep = latest_sweep(args.path)
    problems = check(sweep)
    actions: list[str] = []
    if any(not isinstance(p, ByHand) for p in problems) and args.repair:
        try:
            actions = repair(sweep, problems)  # refuses a running sweep
        except SweepRunningError as exc:
            raise CliError(
                f"{sweep.name} is still running ({exc.activity}); repair it after it ends (a repair "
                "would mark its running jobs as killed)"
            ) from None
        sweep = Sweep(sweep.path)
        problems_after = check(sweep)
    else:
        problems_after = problems
    if args.json:
        print_json(
            {
                "sweep": sweep.name,
                "problems": problems,
                "by_hand": [p for p in problems_after if isinstance(p, ByHand)],
                "actions": actions,
                "remaining": problems_after,
                "ok": not problems_after,
            }
        )
        return 1 if problems_after else 0
    print(style(f"Sweep {sweep.name}", "bold"))
    if not problems:
        print("  ok: best_models/, the manifest and the job directories agree")
        return 0
    for problem in problems:
        if not isinstance(problem, ByHand):
            print(f"  {style('problem', 'red')}: {problem}")
    for action in actions:
        print(f"  {style('repair', 'green')}: {action}")
    mendable = [p for p in problems_after if not isinstance(p, ByHand)]
    if args.repair:
        for problem in mendable:
            print(f"  {style('still wrong', 'red')}: {problem}")
    for problem in problems_after:
        if isinstance(problem, ByHand):
            print(f"  {style('by hand', 'yellow')}: {problem}")
    if args.repair and not mendable:
        print("  ok after repair" if not problems_after else "  repaired; what is left is for you to decide (by hand)")
    elif mendable:
        print(f"  {len(mendable)} problem(s); run `sweepkit verify --repair {sweep.name}` to mend them")
    return 1 if problems_after else 0


def check(sweep: Sweep) -> list[str]:
    """Every disagreement between the disk and the manifest, one sentence each."""
    doc, runs = sweep.manifest, sweep.runs  # reading fills sweep.errors
    problems = list(dict.fromkeys(sweep.errors))
    log_path = sweep.path / LOG_NAME
    log_size = log_path.stat().st_size if log_path.exists() else 0
    if doc is None and not any(RESULTS_NAME in p for p in problems) and log_size:
        problems.append(f"{RESULTS_NAME} is missing but {LOG_NAME} holds runs")
    if doc is not None:
        known = (doc.get("log") or {}).get("size", 0)
        if log_size > known and not _lag_is_deferred(log_path, known, log_size):
            problems.append(
                f"{LOG_NAME} has {log_size - known} bytes that {RESULTS_NAME} does "
                "not reflect (a registration was interrupted)"
            )
        elif log_size < known:
            problems.append(f"{LOG_NAME} is shorter than {RESULTS_NAME} expects")
    top = sweep.top
    prefix = "front" if (doc or {}).get("objectives") else "rank"
    referenced: set[str] = set()
    for entry in top:
        rank = entry.get("rank")
        for field in ("checkpoint", "config"):
            rel = entry.get(field)
            if not rel:
                continue
            referenced.add(Path(rel).name)
            if not (sweep.path / rel).is_file():
                problems.append(f"rank {rank} ({entry.get('run_name')}): {field} {rel} is missing")
            elif not Path(rel).name.startswith(f"{prefix}_{rank:02d}_"):
                problems.append(f"rank {rank} ({entry.get('run_name')}): {rel} is not named for rank {rank}")
    values = [e.get("metric_value") for e in top]
    finite = all(isinstance(v, (int, float)) and math.isfinite(v) for v in values)
    if not finite:
        problems.append("a ranked run has a missing or non-finite metric")
    elif values != sorted(cast("list[float]", values), reverse=sweep.mode == "max"):  # all finite here
        problems.append(f"the ranking is not ordered by {sweep.metric_name} ({sweep.mode})")
    if len(top) > sweep.top_k:
        problems.append(f"{len(top)} runs ranked but top_k is {sweep.top_k}")
    best_dir = sweep.path / BEST_DIR
    if doc is not None and best_dir.is_dir() and not os.path.islink(best_dir):
        for name in sorted(os.listdir(best_dir)):  # only names sweepkit creates
            if name not in referenced and name.startswith(("rank_", "front_", ".tmp_", ".incoming_")):
                problems.append(f"stray file {BEST_DIR}/{name} (not in the manifest's ranking)")
    for tmp in sorted(sweep.path.glob(".sweep_*.tmp")):
        problems.append(
            f"leftover temporary file {tmp.name} (an interrupted write, e.g. a full disk); --repair deletes it"
        )
    kept = sweep.path / KEPT_DIR
    if kept.is_dir() and not kept.is_symlink() and any(kept.iterdir()):
        problems.append(
            ByHand(
                f"{KEPT_DIR}/ holds {len(list(kept.iterdir()))} file(s) that a repair "
                "could not decide on (see sweep_manager.log); check them and delete them "
                "by hand"
            )
        )
    ranked_ids = {e.get("run_id") for e in top}
    for run in runs:
        if run.get("registered", True) is False:
            if run.get("status") != "running":
                problems.append(f"job {run['run_id']} ended ({run['status']}) but never registered in the manifest")
            continue
        if run.get("run_id") in ranked_ids:
            continue
        for source in (str(sweep.path / str(run["run_id"]) / CHECKPOINT), run.get("source_checkpoint")):
            if source and os.path.lexists(source) and is_inside(source, sweep.path):
                where = os.path.relpath(source, sweep.path)
                if not is_the_recorded_file(source, run):
                    problems.append(
                        ByHand(
                            f"run {run['run_id']} is not in the top {sweep.top_k}; {where} "
                            "is a newer file than the checkpoint it registered (the job "
                            "ran again?): sweepkit leaves it; register the job again or "
                            "delete it by hand"
                        )
                    )
                    break
                problems.append(
                    f"run {run['run_id']} is not in the top {sweep.top_k} but its checkpoint {where} is still on disk"
                )
                break
    problems += unmanaged_checkpoints(sweep, problems)

    damaged = damaged_journal_lines(sweep.path / JOURNAL_NAME)
    if damaged:
        problems.append(
            f"{JOURNAL_NAME} line(s) {', '.join(map(str, damaged))} are not whole records (a write cut short): "
            "the study cannot be read or resumed; --repair mends it"
        )
    return problems


CHECKPOINT_SUFFIXES = (".ckpt", ".pth", ".pt", ".safetensors")


def unmanaged_checkpoints(sweep: Sweep, known: list[str]) -> list[str]:
    """Checkpoint files in job directories that no run handed to the manifest (e.g. a
    ModelCheckpoint's ``last.ckpt``): the manifest neither keeps nor deletes them. Not counted:
    sweepkit's own resume files (``last.pt``) and the jobs that never registered (``--repair``
    registers them, and their checkpoints with them)."""
    handed = {os.path.realpath(r["source_checkpoint"]) for r in sweep.runs if r.get("source_checkpoint")}
    pending = {str(r["run_id"]) for r in sweep.runs if r.get("registered", True) is False}
    found = []
    for job in sweep.job_dirs:
        if job.name in pending:
            continue
        for top, dirs, files in os.walk(job, followlinks=False):
            dirs[:] = [d for d in dirs if not d.startswith(".") and len(Path(top, d).relative_to(job).parts) <= 3]
            found += [
                os.path.join(top, f)
                for f in sorted(files)
                if f.endswith(CHECKPOINT_SUFFIXES)
                and f != RESUME_CHECKPOINT
                and os.path.realpath(os.path.join(top, f)) not in handed
            ]
    found = [p for p in found if not any(os.path.relpath(p, sweep.path) in k for k in known)]
    if not found:
        return []
    shown = ", ".join(os.path.relpath(p, sweep.path) for p in found[:5])
    more = f" and {len(found) - 5} more" if len(found) > 5 else ""
    return [
        ByHand(
            f"{len(found)} checkpoint(s) in job directories that the manifest does not manage "
            f"({shown}{more}): sweepkit never deletes them; delete them by hand, stop writing "
            "them (ModelCheckpoint(save_last=False)), or name the run's checkpoint "
            "(hydra.callbacks.topk.checkpoint, or SweepkitCallback for Lightning)"
        )
    ]


def repair(sweep: Sweep, problems: list[str]) -> list[str]:
    """Mend the sweep with the manifest's own repair and reconcile; returns the actions."""
    from sweepkit.manifest import SweepManager, read_settings

    if read_settings(sweep.path):  # the sweep's own settings, else its config
        manager = SweepManager(sweep.path, lock_timeout=30)
    else:
        manager = SweepManager(
            sweep.path, top_k=sweep.top_k, metric_name=sweep.metric_name, mode=sweep.mode, lock_timeout=30
        )

    with exclusive(sweep.path, "repair it"), manager:
        actions = mend_journal(sweep.path / JOURNAL_NAME) if any(JOURNAL_NAME in p for p in problems) else []
        actions += manager.repair()
        unregistered = [p for p in problems if "never registered" in p]
        if unregistered:
            actions += manager.reconcile()
            manager.finalize(reconcile=False)
    return actions


def _lag_is_deferred(log_path: Path, known: int, log_size: int) -> bool:
    """Whether the log's unreflected tail is the manager's normal deferred write (whole records,
    fewer than ``WRITE_EVERY``) rather than an interrupted registration."""
    try:
        tail, end = read_log(log_path, known)
    except ManifestError:
        return False
    return end == log_size and len(tail) < WRITE_EVERY
