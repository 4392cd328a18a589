"""Multi-objective sweeps as real multiruns: the Binh and Korn app (tests/apps/stock_apps.py).

The task returns a tuple, or a dict keyed by the names in its ``objective`` list. Each sweep's
Pareto front in optimization_results.yaml is checked against a brute-force dominance
computation over every complete trial of the study.
"""

from __future__ import annotations

import math

import pytest
from optuna.trial import TrialState
from test_stock_examples import LAUNCHERS, brute_force_front, dominates, results, study_of, sweep

pytestmark = pytest.mark.integration


def check_front(sweep_dir, study_name="multi-objective"):
    study, found = study_of(sweep_dir, study_name), results(sweep_dir)
    front = {s["trial"] for s in found["solutions"]}
    assert front and front == brute_force_front(study)
    for a in found["solutions"]:
        assert all(math.isfinite(v) for v in a["values"])
        assert not any(dominates(b["values"], a["values"]) for b in found["solutions"])
        trial = study.trials[a["trial"]]
        assert a["values"] == trial.values and a["params"] == trial.params
    assert found["name"] == "optuna" and "best_value" not in found
    assert found["direction"] == ["minimize", "minimize"]
    return study, found


@pytest.mark.parametrize("launcher", LAUNCHERS)
def test_nsga2_sweep_of_the_stock_multi_objective_config(tmp_path, launcher):
    out = tmp_path / "sweep"
    proc = sweep(out, "binh_korn", "hydra.sweeper.n_trials=12", *LAUNCHERS[launcher])
    study, found = check_front(out)
    assert len(study.trials) == 12 and "sampler=NSGAIISampler" in proc.stdout
    for solution in found["solutions"]:  # range(0, 5, step=0.5): halves from 0 to 5
        assert solution["params"]["x"] % 0.5 == 0 and 0 <= solution["params"]["x"] <= 5
    log = proc.stdout
    assert "Pareto front:" in log and "direction=['minimize', 'minimize']" in log
    assert f"trial {found['solutions'][0]['trial']}: value0=" in log


@pytest.mark.parametrize("sampler", ["tpe", "nsgaii", "nsgaiii", "random", "grid"])
def test_each_multi_objective_sampler(tmp_path, sampler):
    out = tmp_path / "sweep"
    extra = ["x=range(0, 5)", "y=range(0, 3)"]  # integers: a small grid of 5 x 3 points
    if sampler in ("nsgaii", "nsgaiii"):
        extra.append("hydra.sweeper.sampler.population_size=4")
    sweep(out, "binh_korn", f"hydra/sweeper/sampler={sampler}", "hydra.sweeper.n_trials=8", *extra)
    study, found = check_front(out)
    assert len(study.trials) == 8
    for solution in found["solutions"]:
        assert solution["params"]["x"] % 1 == 0 and solution["params"]["y"] % 1 == 0


def test_a_grid_of_two_objectives_runs_every_point(tmp_path):
    out = tmp_path / "sweep"
    sweep(out, "binh_korn", "hydra/sweeper/sampler=grid", "x=range(0, 3)", "y=range(0, 2)")
    study, _ = check_front(out)
    assert sorted((t.params["x"], t.params["y"]) for t in study.trials) == [(x, y) for x in range(3) for y in range(2)]


def test_a_dict_return_names_the_objectives(tmp_path):
    out = tmp_path / "sweep"
    sweep(out, "binh_korn", "objective=[v0,v1]", "hydra.sweeper.n_trials=6", "hydra/sweeper/sampler=random")
    study, found = check_front(out)
    assert study.metric_names == ["v0", "v1"] and found["metric_names"] == ["v0", "v1"]


def test_metric_names_pick_and_order_the_objectives_of_a_dict(tmp_path):
    # the task returns v0, v1 and s = x + y; the sweep optimises s (max) and v0 (min)
    out = tmp_path / "sweep"
    sweep(
        out,
        "binh_korn",
        "objective=[v0,v1,s]",
        "hydra.sweeper.metric_names=[s,v0]",
        "hydra.sweeper.direction=[maximize,minimize]",
        "hydra.sweeper.n_trials=6",
        "hydra/sweeper/sampler=random",
    )
    study, found = study_of(out, "multi-objective"), results(out)
    assert study.metric_names == ["s", "v0"] and found["direction"] == ["maximize", "minimize"]
    for trial in study.trials:
        x, y = trial.params["x"], trial.params["y"]
        assert trial.values == pytest.approx([x + y, 4 * x**2 + 4 * y**2])


def test_three_objectives(tmp_path):
    out = tmp_path / "sweep"
    sweep(
        out,
        "binh_korn",
        "objective=[v0,v1,s]",
        "hydra.sweeper.direction=[minimize,minimize,maximize]",
        "hydra.sweeper.n_trials=6",
        "hydra/sweeper/sampler=tpe",
    )
    found = results(out)
    assert found["metric_names"] == ["v0", "v1", "s"]
    assert all(len(s["values"]) == 3 for s in found["solutions"])


def test_a_nan_objective_fails_its_trial_and_stays_off_the_front(tmp_path):
    out = tmp_path / "sweep"
    proc = sweep(
        out,
        "binh_korn",
        "nan_trials=[1,3]",
        "hydra.sweeper.max_failure_rate=0.5",
        "hydra.sweeper.n_trials=6",
        "hydra/sweeper/sampler=random",
    )
    study, found = check_front(out)
    assert [t.number for t in study.trials if t.state == TrialState.FAIL] == [1, 3]
    assert not {1, 3} & {s["trial"] for s in found["solutions"]}
    assert "trial 1 returned" in proc.stdout + proc.stderr and "nan (diverged)" in proc.stdout + proc.stderr


# ------------------------------------------------------------------------ bad input
def refused(tmp_path, *overrides, before_jobs=True):
    """Run a good sweep, then a bad one into the same directory: the bad one stops with an
    error and leaves the first sweep's study and results as they were."""
    out = tmp_path / "sweep"
    sweep(out, "binh_korn", "hydra.sweeper.n_trials=3", "hydra/sweeper/sampler=random")
    journal, kept = (out / "optuna_journal.log").read_bytes(), (out / "optimization_results.yaml").read_text()
    proc = sweep(out, "binh_korn", "hydra.sweeper.n_trials=5", "hydra/sweeper/sampler=random", *overrides, ok=False)
    assert proc.returncode != 0
    assert (out / "optimization_results.yaml").read_text() == kept
    if before_jobs:
        assert (out / "optuna_journal.log").read_bytes() == journal
        assert sorted(p.name for p in out.iterdir() if p.name.isdigit()) == ["0", "1", "2"]
    return proc.stderr, study_of(out, "multi-objective")


def test_a_pruner_with_several_objectives_is_refused_before_any_job(tmp_path):
    err, _ = refused(tmp_path, "hydra/sweeper/pruner=hyperband")
    assert "the pruner HyperbandPruner cannot judge a study with several objectives" in err
    assert "hydra/sweeper/pruner=none" in err


def test_an_unknown_direction_is_refused_before_any_job(tmp_path):
    err, _ = refused(tmp_path, "hydra.sweeper.direction=[minimize,smaller]")
    assert "hydra.sweeper.direction=['minimize', 'smaller']" in err and "one per objective" in err


def test_a_different_direction_than_the_stored_study_is_refused(tmp_path):
    err, _ = refused(tmp_path, "hydra.sweeper.direction=[minimize,maximize]")
    assert "exists with direction ['minimize', 'minimize']" in err


def test_metric_names_of_another_length_than_direction_are_refused(tmp_path):
    err, _ = refused(tmp_path, "hydra.sweeper.metric_names=[v0,v1,s]")
    assert "metric_names=['v0', 'v1', 's'] does not match" in err


def test_more_directions_than_returned_values_stop_at_the_first_trial(tmp_path):
    err, study = refused(
        tmp_path,
        "hydra.sweeper.direction=[minimize,minimize,minimize]",
        "hydra.sweeper.study_name=three",
        before_jobs=False,
    )
    assert "returned 2 value(s)" in err and "hydra.sweeper.direction has 3" in err
    assert [t.state for t in study_of(tmp_path / "sweep", "three").trials] == [TrialState.FAIL]


def test_a_metric_the_task_does_not_return_stops_at_the_first_trial(tmp_path):
    err, _ = refused(
        tmp_path,
        "objective=[v0,v1]",
        "hydra.sweeper.metric_names=[v0,latency]",
        "hydra.sweeper.study_name=named",
        before_jobs=False,
    )
    assert "returned no 'latency' (it returned v0, v1)" in err


def test_a_single_number_for_two_objectives_stops_with_the_fix(tmp_path):
    out = tmp_path / "sweep"
    proc = sweep(out, "sphere", "hydra.sweeper.direction=[minimize,minimize]", "hydra.sweeper.n_trials=3", ok=False)
    assert proc.returncode != 0
    assert "with 2 objectives the task must return a tuple or list" in proc.stderr


# ------------------------------------------------------------------------ with the top-k callback
def test_a_two_objective_sweep_of_a_reporting_app_with_the_top_k_callback(tmp_path):
    """The toy app reports every epoch (Optuna cannot take reports for several objectives:
    the job's reporter drops them) and the top-k callback ranks the runs on val_loss."""
    from test_sweeper_runs import jobs, load_study, run_toy

    out = tmp_path / "sweep"
    proc = run_toy(
        out,
        "sweeper=bayes",
        "return_width=true",
        "model.width=2,4,8",
        "hydra.sweeper.direction=[minimize,minimize]",
        "hydra.sweeper.n_trials=5",
        "trainer.max_epochs=2",
        "hydra/launcher=joblib",
        "hydra.launcher.n_jobs=2",
        "+hydra.callbacks.topk._target_=sweepkit.hooks.TopKCallback",
        "+hydra.callbacks.topk.top_k=2",
        "+hydra.callbacks.topk.metric_name=val_loss",
    )
    study = load_study(out)
    assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
    assert study.metric_names == ["val_loss", "width"]
    assert {t.number for t in study.best_trials} == brute_force_front(study)
    assert all(r["epochs"] == 2 for r in jobs(out).values())
    assert len(list((out / "best_models").glob("rank_*_best_model*"))) == 2
    assert "ERROR" not in proc.stderr and "Pareto front:" in proc.stdout


def test_a_single_objective_sampler_with_several_objectives_is_refused_before_any_job(tmp_path):
    err, _ = refused(tmp_path, "hydra/sweeper/sampler=cmaes")
    assert "the sampler CmaEsSampler optimises one objective" in err


@pytest.mark.parametrize("counted", [True, False])
def test_a_nan_counts_against_the_failure_rate_unless_switched_off(tmp_path, counted):
    # the stock config's max_failure_rate is 0.0: one counted failure stops the sweep
    out = tmp_path / "sweep"
    proc = sweep(
        out,
        "binh_korn",
        "nan_trials=[1]",
        "hydra.sweeper.n_trials=4",
        f"hydra.sweeper.nan_counts_as_failure={str(counted).lower()}",
        "hydra/sweeper/sampler=random",
        ok=False,
    )
    study = study_of(out, "multi-objective")
    assert study.trials[1].state == TrialState.FAIL
    if counted:
        assert proc.returncode != 0 and "1 of 2 trials failed" in proc.stderr
    else:
        assert proc.returncode == 0, proc.stderr[-2000:]
        assert len(study.trials) == 4 and 1 not in {s["trial"] for s in results(out)["solutions"]}
