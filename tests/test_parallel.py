"""Asynchronous trials with a parallel launcher: real joblib multiruns of the toy app."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from optuna.trial import TrialState
from test_sweeper_runs import check_trials_match_jobs, jobs, load_study, run_toy

pytestmark = pytest.mark.integration

# Trials of 0.1 s or 3 s (two epochs of 0.05 s or 1.5 s); seed 36 samples short, long, then
# four short ones.
UNEVEN = [
    "sweeper=random",
    "hydra.sweeper.sampler.seed=36",
    "trainer.max_epochs=2",
    "epoch_seconds=choice(0.05,1.5)",
    "hydra/launcher=joblib",
    "hydra.launcher.n_jobs=2",
    "hydra.sweeper.n_jobs=2",
    "+hydra.callbacks.topk._target_=sweepkit.hooks.TopKCallback",
    "+hydra.callbacks.topk.verbose=false",
]


def intervals(sweep: Path) -> dict[int, tuple[float, float]]:
    """(started_at, ended_at) of every job, from its run.json."""
    return {n: (r["run"]["started_at"], r["run"]["ended_at"]) for n, r in jobs(sweep).items()}


def partners(spans: dict[int, tuple[float, float]]) -> dict[int, set[int]]:
    """For each trial, the trials whose run overlapped it."""
    return {
        i: {j for j, (s, e) in spans.items() if j != i and s < end and start < e} for i, (start, end) in spans.items()
    }


def max_in_flight(spans: dict[int, tuple[float, float]]) -> int:
    return max(sum(s <= start < e for s, e in spans.values()) for start, _ in spans.values())


def check_manifest_matches_study(sweep: Path, n_trials: int) -> None:
    study = load_study(sweep)
    manifest = json.loads((sweep / "sweep_results.json").read_text())
    by_job = {r["job_num"]: r for r in manifest["runs"]}
    assert sorted(by_job) == [t.number for t in study.trials] == list(range(n_trials))
    for trial in study.trials:
        assert by_job[trial.number]["status"] == trial.state.name.lower()
    ranked = [r for r in manifest["runs"] if r.get("rank")]
    assert len(ranked) == min(3, n_trials) and len(list((sweep / "best_models").glob("*.pth"))) == 3


def test_async_trials_keep_two_in_flight_and_refill_at_once(tmp_path):
    sweep = tmp_path / "async"
    proc = run_toy(sweep, *UNEVEN, "hydra.sweeper.n_trials=6")
    study, spans = load_study(sweep), intervals(sweep)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 6
    assert {t.params["epoch_seconds"] for t in study.trials} == {0.05, 1.5}, "durations differ"
    check_trials_match_jobs(study, jobs(sweep))  # job number = trial number
    check_manifest_matches_study(sweep, 6)
    assert max_in_flight(spans) == 2
    # With at most two in flight, a trial that overlapped two others saw one of them start
    # after the other ended: a new trial started while the slow one still ran.
    assert len(partners(spans)[1]) >= 2, f"the slow trial 1 ran beside one trial only: {spans}"
    assert "Trials run asynchronously (JoblibLauncher, n_jobs=2)" in proc.stdout + proc.stderr


def test_batch_mode_waits_for_the_slowest_trial(tmp_path):
    sweep = tmp_path / "batch"
    proc = run_toy(sweep, *UNEVEN, "hydra.sweeper.n_trials=4", "hydra.sweeper.async_trials=false")
    spans = intervals(sweep)
    assert sorted(spans) == [0, 1, 2, 3]
    assert max(len(p) for p in partners(spans).values()) <= 1, spans  # only batch peers overlap
    assert max(spans[0][1], spans[1][1]) <= min(spans[2][0], spans[3][0])
    check_manifest_matches_study(sweep, 4)
    assert "Trials run in batches (JoblibLauncher, n_jobs=2)" in proc.stdout + proc.stderr


def test_basic_launcher_stays_sequential(tmp_path):
    sweep = tmp_path / "basic"
    proc = run_toy(
        sweep, "sweeper=random", "hydra.sweeper.n_trials=3", "hydra.sweeper.n_jobs=2", "trainer.max_epochs=1"
    )
    assert sorted(jobs(sweep)) == [0, 1, 2]
    assert "Trials run in batches (BasicLauncher, n_jobs=2)" in proc.stdout + proc.stderr
