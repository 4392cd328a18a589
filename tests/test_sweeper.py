"""The sweeper's pieces in-process: grammar -> Optuna distributions, settings, storage, ordering."""

from __future__ import annotations

import json

import pytest
from omegaconf import OmegaConf
from optuna.distributions import CategoricalDistribution, FloatDistribution, IntDistribution

from sweepkit.pruning import NoTrial, current_trial
from sweepkit.sweeper import SweepConfigError, open_storage, parse_search_space
from sweepkit.sweeper._algorithms import build_pruner, build_sampler
from sweepkit.sweeper._search_space import check_keys, enqueued_params, format_value


def dist(expr: str):
    return parse_search_space({"k": expr}).distributions["k"]


def test_each_form_maps_to_the_right_distribution():
    assert dist("interval(0, 1)") == FloatDistribution(0.0, 1.0)
    assert dist("tag(log, interval(1e-4, 1e-1))") == FloatDistribution(1e-4, 0.1, log=True)
    assert dist("int(interval(2, 6))") == IntDistribution(2, 6)
    assert dist("tag(log, int(interval(8, 1024)))") == IntDistribution(8, 1024, log=True)
    # the stock mapping: range(a, b, step) -> a distribution whose high is b (1, 3, 5, 7, 9)
    assert dist("range(1, 9, 2)") == IntDistribution(1, 9, step=2)
    assert dist("range(1, 3)") == IntDistribution(1, 3)
    assert dist("range(16, 129, 16)") == IntDistribution(16, 128, step=16)  # last grid point
    assert dist("range(0.5, 5.5, step=1)") == FloatDistribution(0.5, 5.5, step=1)
    float_range = dist("range(0.1, 0.5, 0.1)")
    assert isinstance(float_range, FloatDistribution) and float_range.step == pytest.approx(0.1)
    assert (float_range.low, float_range.high) == pytest.approx((0.1, 0.5))
    assert dist("choice(parallel, chunked)") == CategoricalDistribution(["parallel", "chunked"])
    assert dist("choice(true, false)") == CategoricalDistribution([True, False])
    assert dist("shuffle(range(3))").choices.__len__() == 3


def test_command_line_lists_override_config_params():
    space = parse_search_space(
        {"model.a": "interval(0, 1)", "model.b": "choice(1, 2)", "trainer.lr": "interval(0.1, 1)"},
        ["model.a=16,32,64", "trainer.lr=0.5", "model=s5", "+extra=int(interval(1, 3))"],
    )
    assert space.distributions["model.a"] == CategoricalDistribution([16, 32, 64])
    assert space.distributions["model.b"] == CategoricalDistribution([1, 2])
    assert "trainer.lr" not in space.distributions
    assert space.fixed == {"trainer.lr": "trainer.lr=0.5", "model": "model=s5"}
    assert space.override("extra", 2) == "+extra=2"


@pytest.mark.parametrize("value", [0.001, 1e-05, 3, True, False, "parallel", "a b", "it's", "1e-3"])
def test_sampled_values_round_trip_through_the_override_parser(value):
    from hydra.core.override_parser.overrides_parser import OverridesParser

    parsed = OverridesParser.create().parse_override(f"k={format_value(value)}").value()
    assert parsed == value and type(parsed) is type(value)


@pytest.mark.parametrize(
    "expr, fragment",
    [
        ("interval(0, 1", "cannot parse"),
        ("interval(1, 0)", "invalid search-space entry"),
        ("tag(log, interval(0, 1))", "invalid search-space entry"),
        ("range(5, 1)", "range is empty"),
        ("choice([1, 2], [3])", "choices must be"),
    ],
)
def test_malformed_expressions_name_the_entry(expr, fragment):
    with pytest.raises(SweepConfigError) as err:
        parse_search_space({"model.x": expr})
    assert fragment in str(err.value) and "model.x" in str(err.value)


def test_keys_are_checked_against_the_composed_config():
    config = OmegaConf.create(
        {"model": {"d_model": 8, "dropout": 0.1}, "hydra": {"runtime": {"choices": {"model": "dmixer"}}}}
    )
    check_keys(parse_search_space({"model.d_model": "choice(8, 16)"}, ["model=s5", "+new=1,2"]), config)
    with pytest.raises(SweepConfigError) as err:
        check_keys(parse_search_space({"model.d_modle": "choice(8, 16)"}), config)
    assert "model.d_modle" in str(err.value) and "d_model, dropout" in str(err.value)


def test_unknown_sampler_and_pruner_are_named():
    space = parse_search_space({"x": "interval(0, 1)"})
    with pytest.raises(SweepConfigError, match="optuna.samplers.NoSuchSampler"):
        build_sampler({"_target_": "optuna.samplers.NoSuchSampler"}, space)
    with pytest.raises(SweepConfigError, match="optuna.pruners.Nope"):
        build_pruner({"_target_": "optuna.pruners.Nope"})
    with pytest.raises(SweepConfigError, match="reduction_factr"):
        build_pruner({"_target_": "optuna.pruners.HyperbandPruner", "reduction_factr": 2})


def test_enqueued_defaults_take_the_config_values_each_distribution_can_sample():
    config = OmegaConf.create(
        {
            "model": {"d_model": 64, "dropout": 0, "revin": "level", "flag": 1, "width": 5, "lr": 0.5},
            "hydra": {"runtime": {"choices": {"model": "s5"}}},
        }
    )
    space = parse_search_space(
        {
            "model": "choice(s5, dmixer)",  # a group: its chosen option
            "model.d_model": "choice(32, 64)",
            "model.dropout": "interval(0.0, 0.3)",  # the int 0 is taken as 0.0
            "model.revin": "choice(level, true, false)",
            "model.flag": "choice(true, false)",  # 1 is no bool: sampled
            "model.width": "range(2, 8, 2)",  # 5 is off the step grid: sampled
            "model.lr": "tag(log, interval(1e-4, 1e-2))",  # out of range: sampled
        }
    )
    [defaults, explicit] = enqueued_params(["defaults", {"model.d_model": 32, "model.width": 4}], space, config)
    assert defaults == {"model": "s5", "model.d_model": 64, "model.dropout": 0.0, "model.revin": "level"}
    assert type(defaults["model.dropout"]) is float
    assert explicit == {"model.d_model": 32, "model.width": 4}


@pytest.mark.parametrize(
    "entry, fragment",
    [
        ({"model.nope": 1}, "'model.nope' is not a searched key (searched: model.d_model)"),
        ({"model.d_model": 48}, "model.d_model=48 is outside its search space"),
        ("best", "enqueue_trials[0]='best': use a mapping of searched keys"),
        ({}, "enqueue_trials[0]={}"),
    ],
)
def test_bad_enqueued_trials_name_the_entry(entry, fragment):
    space = parse_search_space({"model.d_model": "choice(32, 64)"})
    with pytest.raises(SweepConfigError) as err:
        enqueued_params([entry], space, OmegaConf.create({"model": {"d_model": 64}}))
    assert fragment in str(err.value)


def test_grid_sampler_needs_a_discrete_space():
    grid = build_sampler(
        {"_target_": "optuna.samplers.GridSampler"}, parse_search_space({"a": "choice(1, 2)", "b": "range(0, 3)"})
    )
    assert type(grid).__name__ == "GridSampler"
    with pytest.raises(SweepConfigError, match="'x' is FloatDistribution"):
        build_sampler({"_target_": "optuna.samplers.GridSampler"}, parse_search_space({"x": "interval(0, 1)"}))


def test_unopenable_storage_is_named(tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("")
    for url in (f"sqlite:///{blocker}/sub/x.db", "nosuchdb://user:secret@host/db"):
        with pytest.raises(SweepConfigError) as err:
            open_storage(url)
        assert "cannot open the study storage" in str(err.value)
        assert "secret" not in str(err.value)


def test_reporter_outside_a_sweep_is_a_no_op():
    reporter = current_trial()
    assert isinstance(reporter, NoTrial)
    reporter.report(1.0, 1)
    assert reporter.should_prune() is False


def test_out_of_order_pairs_are_swapped_or_rejected():
    from sweepkit.sweeper._impl import SweepkitSweeperImpl

    sweeper = SweepkitSweeperImpl(
        sampler=None,
        pruner=None,
        direction="minimize",
        storage=None,
        study_name=None,
        n_trials=1,
        n_jobs=1,
        max_failure_rate=0.0,
        params=None,
        custom_search_space=None,
        ordered_params=[["model.dt_min", "model.dt_max"]],
        resume=None,
    )
    sweeper.config = OmegaConf.create({"model": {"dt_min": 0.001, "dt_max": 0.01}})
    both = {"model.dt_min": 0.05, "model.dt_max": 0.002}
    applied, reason = sweeper._order_pairs(both)
    assert reason is None and applied == {"model.dt_min": 0.002, "model.dt_max": 0.05}
    applied, reason = sweeper._order_pairs({"model.dt_min": 0.05})  # dt_max fixed at 0.01
    assert reason == "model.dt_min=0.05 must be below model.dt_max=0.01"
    assert sweeper._order_pairs({"model.dt_min": 0.005}) == ({"model.dt_min": 0.005}, None)


def test_top_k_is_read_defensively_from_the_manifest(tmp_path):
    from sweepkit.records import MANIFEST_FORMAT
    from sweepkit.sweeper._report import _describe_entry, read_top_k

    assert read_top_k(tmp_path) == []  # no manifest yet
    (tmp_path / "sweep_results.json").write_text('{"top": [{"rank": 1, "run_na')  # mid-write
    assert read_top_k(tmp_path) == []
    doc = {
        "format": MANIFEST_FORMAT,
        "log": {"path": "runs.jsonl", "size": 0},
        "top": [{"rank": 1, "run_name": "3", "metric_value": 0.25}, {"rank": 2, "run_name": "0", "metric_value": 0.5}],
    }
    (tmp_path / "sweep_results.json").write_text(json.dumps(doc))
    assert [_describe_entry(e) for e in read_top_k(tmp_path)] == ["#1 3 0.25", "#2 0 0.5"]


@pytest.mark.parametrize("shared", [True, False])
def test_hyperband_sampler_history_spans_brackets_only_when_shared(shared):
    import optuna

    class SpySampler(optuna.samplers.RandomSampler):
        seen: list[tuple[int, int]] = []

        def sample_independent(self, study, trial, name, distribution):
            self.seen.append((trial.number, len(study.get_trials(deepcopy=False))))
            return super().sample_independent(study, trial, name, distribution)

    def objective(trial):
        x = trial.suggest_float("x", 0.0, 1.0)
        for step in range(1, 10):
            trial.report(x + 1.0 / step, step)
            if trial.should_prune():
                raise optuna.TrialPruned()
        return x

    pruner = build_pruner(
        {
            "_target_": "optuna.pruners.HyperbandPruner",
            "min_resource": 1,
            "max_resource": 9,
            "reduction_factor": 3,
            "shared_history": shared,
        }
    )
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=SpySampler(seed=0), pruner=pruner)
    study.optimize(objective, n_trials=30)

    assert any(t.state == optuna.trial.TrialState.PRUNED for t in study.trials)
    # the study's own history when each trial was sampled: every earlier trial plus itself
    whole = [visible == number + 1 for number, visible in SpySampler.seen]
    assert all(whole) if shared else not all(whole)


def test_hyperband_min_resource_auto_is_a_ninth_of_a_full_trial_and_not_the_first_epoch_of_a_long_one():
    def first_rung(max_resource):
        pruner = build_pruner(
            {
                "_target_": "optuna.pruners.HyperbandPruner",
                "min_resource": "auto",
                "max_resource": max_resource,
                "reduction_factor": 4,
            }
        )
        return pruner.hyperband._min_resource

    assert [first_rung(r) for r in (1, 9, 10, 13, 27, 100)] == [1, 1, 2, 2, 3, 11]
    with pytest.raises(SweepConfigError, match="min_resource=auto needs an integer max_resource"):
        build_pruner(
            {
                "_target_": "optuna.pruners.HyperbandPruner",
                "min_resource": "auto",
                "max_resource": "auto",
                "shared_history": False,
            }
        )


def _curve_trial(x: float, curve: list[float], state, value=None):
    from optuna.distributions import FloatDistribution
    from optuna.trial import create_trial

    return create_trial(
        state=state,
        value=value,
        params={"x": x},
        distributions={"x": FloatDistribution(0.0, 1.0)},
        intermediate_values=dict(enumerate(curve, 1)),
    )


@pytest.mark.parametrize("direction", ["minimize", "maximize"])
def test_pruned_trials_are_estimated_from_the_gains_of_complete_ones(direction):
    import optuna
    from optuna.trial import TrialState

    from sweepkit.sweeper._pruned import EstimatingSampler

    s = 1.0 if direction == "minimize" else -1.0  # the same curves, mirrored for maximize
    study = optuna.create_study(direction=direction)
    # complete trials gain 0.2, 0.3 and 0.4 after step 2: median gain 0.3
    for x, curve in [(0.1, [1.0, 0.9, 0.8, 0.7]), (0.2, [1.2, 1.0, 0.9, 0.7]), (0.3, [1.0, 0.8, 0.5, 0.4])]:
        study.add_trial(_curve_trial(x, [s * v for v in curve], TrialState.COMPLETE, s * curve[-1]))
    study.add_trial(_curve_trial(0.4, [s * 0.9, s * 0.95], TrialState.PRUNED))  # best so far 0.9
    study.add_trial(_curve_trial(0.5, [], TrialState.PRUNED))  # never reported
    shown = EstimatingSampler(optuna.samplers.TPESampler()).estimated(study, study.trials)

    assert [t.state for t in shown][:3] == [TrialState.COMPLETE] * 3
    assert shown[3].state == TrialState.COMPLETE and shown[3].value == pytest.approx(s * 0.6)
    assert shown[4].state == TrialState.PRUNED  # nothing to estimate from
    assert study.trials[3].state == TrialState.PRUNED  # the study itself is untouched


def test_a_pruned_trial_without_complete_ones_keeps_optunas_ranking():
    import optuna
    from optuna.trial import TrialState

    from sweepkit.sweeper._pruned import EstimatingSampler, estimate_pruned

    study = optuna.create_study()
    study.add_trial(_curve_trial(0.4, [0.9, 0.8], TrialState.PRUNED))
    shown = EstimatingSampler(optuna.samplers.TPESampler()).estimated(study, study.trials)
    assert shown[0].state == TrialState.PRUNED
    random_sampler = optuna.samplers.RandomSampler()
    assert estimate_pruned(random_sampler) is random_sampler  # only TPE reads ranked history


@pytest.mark.parametrize("pruned_trials", ["estimate", "below_complete"])
def test_tpe_follows_a_pruned_trial_whose_estimate_is_best(pruned_trials):
    """Complete trials near x=0.9 end at 0.5; one trial near x=0.1 was pruned at step 1 at 0.2.

    Every complete trial gained 0.3 after step 1, so the pruned one is estimated at -0.1, the
    best of all: with the estimate TPE samples near x=0.1, with Optuna's rule near x=0.9.
    """
    import optuna
    from optuna.trial import TrialState

    from sweepkit.sweeper._pruned import estimate_pruned

    sampler = optuna.samplers.TPESampler(seed=0, n_startup_trials=1)
    if pruned_trials == "estimate":
        sampler = estimate_pruned(sampler)
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    study = optuna.create_study(sampler=sampler)
    study.add_trial(_curve_trial(0.1, [0.2], TrialState.PRUNED))
    for i in range(9):
        x = 0.85 + 0.01 * i
        study.add_trial(_curve_trial(x, [0.8 + 0.01 * i, 0.5 + 0.01 * i], TrialState.COMPLETE, 0.5 + 0.01 * i))
    sampled = []
    for _ in range(10):
        trial = study.ask()
        sampled.append(trial.suggest_float("x", 0.0, 1.0))
        study.tell(trial, state=TrialState.FAIL)  # not evidence: the history stays the same
    near_pruned = sum(x < 0.5 for x in sampled)
    assert near_pruned >= 7 if pruned_trials == "estimate" else near_pruned <= 4


def test_hyperband_max_resource_auto_is_learned_from_the_first_complete_trial():
    import optuna

    pruner = build_pruner(
        {
            "_target_": "optuna.pruners.HyperbandPruner",
            "min_resource": "auto",
            "max_resource": "auto",
            "reduction_factor": 3,
        }
    )
    study = optuna.create_study(pruner=pruner, sampler=optuna.samplers.RandomSampler(seed=0))
    first = study.ask()
    for step in range(1, 28):
        first.report(1.0 / step, step)
        assert not first.should_prune()  # nothing is pruned before a trial completes
    study.tell(first, 1.0 / 27)
    assert pruner.hyperband is None
    bad = study.ask()
    bad.report(5.0, 1)
    bad.should_prune()
    assert pruner.hyperband._max_resource == 28 and pruner.hyperband._min_resource == 3


def test_optunas_private_api_that_the_pruned_view_relies_on():
    """``_pruned._EstimatedStudy`` stands in for an optuna Study inside TPE: an Optuna release
    that renames or changes what it offers (``Study._get_trials`` above all) fails here."""
    import inspect

    import optuna
    from optuna.trial import TrialState

    from sweepkit.sweeper._pruned import EstimatingSampler, _EstimatedStudy

    params = inspect.signature(optuna.Study._get_trials).parameters
    assert list(params) == ["self", "deepcopy", "states", "use_cache"]
    assert (params["deepcopy"].default, params["states"].default, params["use_cache"].default) == (True, None, False)
    assert list(inspect.signature(optuna.Study._is_multi_objective).parameters) == ["self"]
    study = optuna.create_study()
    offered = [n for n in vars(_EstimatedStudy) if not n.startswith("__")]
    assert {"_get_trials", "_study_id", "_storage", "directions"} <= set(offered)
    for name in offered:
        assert hasattr(study, name), f"optuna.Study has no {name!r} any more"
    # TPE in every mode that reads the study (multivariate, group, constant liar) sees only the view
    optuna.logging.set_verbosity(optuna.logging.WARNING)
    sampler = EstimatingSampler(
        optuna.samplers.TPESampler(seed=0, n_startup_trials=2, multivariate=True, group=True, constant_liar=True)
    )
    study = optuna.create_study(sampler=sampler)
    for i in range(8):
        trial = study.ask()
        x = trial.suggest_float("x", 0, 1)
        trial.report(x, 1)
        study.tell(trial, state=TrialState.PRUNED) if i % 2 else study.tell(trial, x)
    assert len(study.trials) == 8


def test_sweep_clock_eta_counts_this_runs_trials_and_respects_the_time_limit(monkeypatch):
    from sweepkit.sweeper import _report

    now = [1000.0]
    monkeypatch.setattr(_report.time, "monotonic", lambda: now[0])
    clock = _report.SweepClock(used_at_start=2)  # a resumed study: 2 trials ran before this run
    assert clock.eta(used_now=2, remaining=8) is None  # no trial of this run finished yet
    now[0] += 100.0
    assert clock.eta(used_now=6, remaining=8) == pytest.approx(200.0)  # 4 trials in 100 s, 8 left
    assert clock.eta(used_now=6, remaining=0) == 0.0
    limited = _report.SweepClock(used_at_start=0, timeout=150.0)
    now[0] += 100.0
    assert limited.eta(used_now=1, remaining=10) == pytest.approx(50.0)  # the limit comes first
    assert not limited.out_of_time()
    now[0] += 50.0
    assert limited.out_of_time()
    from sweepkit._eta import format_duration

    assert [format_duration(s) for s in (42, 425, 3720)] == ["42s", "7m05s", "1h02m"]
