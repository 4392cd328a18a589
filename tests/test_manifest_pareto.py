"""The Pareto-front manifest: several metrics, the non-dominated runs' checkpoints kept.

The front is checked against a brute-force dominance computation over every registered run;
the files under the same invariants as one metric (real files, forked processes, SIGKILL).
"""

from __future__ import annotations

import math
import multiprocessing as mp
import os
import random
import shutil
import signal

import pytest

from sweepkit import SweepManager
from sweepkit.manifest import ManifestError, read_manifest
from sweepkit.testing import FAULT_ENV

from manifest_helpers import FAULT_POINTS, all_checkpoints, assert_invariants, read_log_ids, register, run_in_processes

pytestmark = pytest.mark.integration

NAMES = ["loss", "size"]


def _signed(values, modes):
    return [v if m == "min" else -v for v, m in zip(values, modes)]


def brute_front(values: dict[str, list[float]], modes: list[str]) -> set[str]:
    """Run ids no other run dominates (finite values only), by comparing every pair."""
    ok = {
        rid: _signed(v, modes)
        for rid, v in values.items()
        if all(isinstance(x, (int, float)) and math.isfinite(x) for x in v)
    }

    def dominates(a, b):
        return all(x <= y for x, y in zip(a, b)) and a != b

    return {rid for rid, p in ok.items() if not any(dominates(q, p) for q in ok.values())}


def _ids(entries) -> list[str]:
    return [e["run_id"] for e in entries]


def test_the_kept_runs_are_the_front_capped_by_crowding_distance(tmp_path):
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=3, metric_name=NAMES, mode="min")
    points = {"a": [0, 10], "b": [1, 6], "c": [2, 5], "d": [5, 2], "e": [10, 0]}
    for rid, value in points.items():
        register(manager, rid, value)
    # d enters: b has the least crowding distance among a, b, c, d and goes; e enters: c and
    # d tie (1.3 each), the later registered (d) goes.
    assert _ids(manager.get_best_models()) == ["a", "c", "e"]
    assert _ids(manager.state()["front"]) == ["a", "b", "c", "d", "e"]
    assert_invariants(sweep, ["a", "c", "e"])
    assert sorted(p.name for p in (sweep / "best_models").glob("*.pth")) == [
        "front_01_runa_best_model.pth",
        "front_02_runc_best_model.pth",
        "front_03_rune_best_model.pth",
    ]
    # g is dominated only by d, whose checkpoint is gone: it still does not enter
    assert register(manager, "g", [6, 3]) is False
    assert _ids(manager.get_best_models()) == ["a", "c", "e"]
    assert not (sweep / "jobs" / "g" / "best_model.pth").exists()
    # f dominates b (off the list already) and nothing kept: it joins the front and b leaves
    # it; among a, c, e, f it is the most crowded (0.2 + 0.5 against c's 0.9 + 0.55): dropped
    assert register(manager, "f", [1, 5.5]) is False
    assert _ids(manager.state()["front"]) == ["a", "f", "c", "d", "e"]
    assert _ids(manager.get_best_models()) == ["a", "c", "e"]
    assert all_checkpoints(sweep) == sorted((sweep / "best_models").glob("*.pth"))


def test_modes_per_metric_and_a_dict_of_values(tmp_path):
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=5, metric_name=["loss", "acc"], mode=["min", "max"])
    register(manager, "a", {"loss": 0.5, "acc": 0.9})
    register(manager, "b", {"acc": 0.8, "loss": 0.4})  # keys in any order
    register(manager, "c", {"loss": 0.6, "acc": 0.85})  # dominated by a (worse in both)
    assert _ids(manager.get_best_models()) == ["b", "a"]  # stable order: the first metric
    assert manager.get_best_models()[0]["metric_values"] == [0.4, 0.8]
    assert brute_front({"a": [0.5, 0.9], "b": [0.4, 0.8], "c": [0.6, 0.85]}, ["min", "max"]) == {"a", "b"}
    doc = read_manifest(sweep / "sweep_results.json")
    assert doc["objectives"] == [{"name": "loss", "mode": "min"}, {"name": "acc", "mode": "max"}]
    assert doc["metric_name"] == "loss" and doc["mode"] == "min"  # the first, for old readers


def test_nan_in_one_metric_is_recorded_and_never_on_the_front(tmp_path):
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=3, metric_name=NAMES)
    register(manager, "a", [0.5, 3.0])
    assert register(manager, "nan", [0.1, float("nan")]) is False
    run = next(r for r in manager.load_runs() if r["run_id"] == "nan")
    assert run["status"] == "complete" and run["metric_values"] == [0.1, None]
    assert "not finite" in run["metric_note"] and run["on_front"] is False
    assert _ids(manager.state()["front"]) == ["a"]
    assert_invariants(sweep, ["a"])


@pytest.mark.parametrize(
    "value, match",
    [
        ([0.1], "2 metrics"),
        ([0.1, 0.2, 0.3], "2 metrics"),
        ({"loss": 0.1}, "no size"),
        (0.1, "2 metrics"),
    ],
)
def test_values_that_do_not_fit_the_metrics_are_refused_before_the_log(tmp_path, value, match):
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=3, metric_name=NAMES)
    register(manager, "a", [0.5, 3.0])
    before = (sweep / "runs.jsonl").read_bytes()
    with pytest.raises(ValueError, match=match):
        register(manager, "bad", value)
    assert (sweep / "runs.jsonl").read_bytes() == before
    assert (sweep / "jobs" / "bad" / "best_model.pth").is_file()  # refused: nothing deleted
    shutil.rmtree(sweep / "jobs" / "bad")
    assert_invariants(sweep, ["a"])


def test_a_list_for_one_metric_and_bad_settings_are_clear_errors(tmp_path):
    single = SweepManager(tmp_path / "one", top_k=3)
    with pytest.raises(ValueError, match="ranks one metric"):
        register(single, "a", [0.1, 0.2])
    with pytest.raises(ValueError, match="2 entries for 3 metrics"):
        SweepManager(tmp_path / "x", metric_name=["a", "b", "c"], mode=["min", "max"])
    with pytest.raises(ValueError, match="twice"):
        SweepManager(tmp_path / "x", metric_name=["a", "a"])
    with pytest.raises(ValueError, match="min.*max"):
        SweepManager(tmp_path / "x", metric_name=["a", "b"], mode=["min", "up"])
    sweep = tmp_path / "pareto"
    register(SweepManager(sweep, top_k=3, metric_name=NAMES), "a", [0.5, 3.0])
    for metric_name, value in (("loss", 0.1), (["size", "loss"], [3.0, 0.1])):
        with pytest.raises(ManifestError, match="metric_name"):  # another setting cannot write
            register(SweepManager(sweep, metric_name=metric_name), "b", value)
    reader = SweepManager(sweep)  # None: the sweep's own metrics
    assert reader.metric_names == NAMES and register(reader, "c", [0.4, 4.0]) is True


def test_repair_rebuilds_the_same_front_and_kept_runs(tmp_path):
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=3, metric_name=NAMES)
    rng = random.Random(3)
    values = {f"r{i:02d}": [rng.randint(0, 9), rng.randint(0, 9)] for i in range(25)}
    for rid, value in values.items():
        register(manager, rid, value)
    kept, front = _ids(manager.get_best_models()), _ids(manager.state()["front"])
    os.unlink(sweep / "sweep_results.json")
    actions = SweepManager(sweep).repair()
    assert any("rebuilt" in a for a in actions)
    assert _ids(manager.get_best_models()) == kept
    assert set(_ids(manager.state()["front"])) == set(front) == brute_front(values, ["min"] * 2)
    assert_invariants(sweep, kept)


@pytest.mark.parametrize("seed", range(6))
def test_front_matches_brute_force_dominance_after_every_registration(tmp_path, seed):
    rng = random.Random(seed)
    n = rng.choice([2, 3])
    modes = [rng.choice(["min", "max"]) for _ in range(n)]
    top_k = rng.randint(1, 5)
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=top_k, metric_name=[f"m{i}" for i in range(n)], mode=modes)
    values: dict[str, list[float]] = {}
    ever_dropped = False
    for i in range(40):
        rid = f"r{i:02d}"
        value = [float(rng.randint(0, 6)) for _ in range(n)]  # small grid: ties and repeats
        if rng.random() < 0.1:
            value[rng.randrange(n)] = float("nan")
        status = "failed" if rng.random() < 0.05 else "complete"
        in_top = register(manager, rid, value, status=status)
        values[rid] = value if status == "complete" else [float("nan")] * n
        front = brute_front(values, modes)
        state = manager.state()
        kept = _ids(state["top"])
        assert set(_ids(state["front"])) == front
        assert set(kept) <= front and len(kept) <= top_k
        assert in_top == (rid in kept)
        ever_dropped = ever_dropped or len(front) > top_k
        if not ever_dropped:  # nothing was ever capped: every front run keeps its file
            assert set(kept) == front
        assert kept == sorted(kept, key=lambda r: (_signed(values[r], modes), r))
        if kept:
            assert_invariants(sweep, kept)
        else:  # nothing ranks yet: no checkpoint stays
            assert all_checkpoints(sweep) == []


def _register_and_die(sweep_dir: str, point: str) -> None:
    os.environ[FAULT_ENV] = point
    register(SweepManager(sweep_dir, top_k=3, metric_name=NAMES), "new", [0.15, 3.5])


@pytest.mark.parametrize(
    "point",
    FAULT_POINTS,
)
def test_kill_at_every_step_loses_no_front_checkpoint(tmp_path, point):
    sweep = tmp_path / "sweep"
    manager = SweepManager(sweep, top_k=3, metric_name=NAMES)
    for rid, value in [("a", [0.1, 5.0]), ("b", [0.2, 4.0]), ("c", [0.3, 3.0])]:
        register(manager, rid, value)
    proc = mp.get_context("fork").Process(target=_register_and_die, args=(str(sweep), point))
    proc.start()
    proc.join(30)
    assert proc.exitcode == -signal.SIGKILL
    assert read_manifest(sweep / "sweep_results.json") is not None
    logged = "new" in read_log_ids(sweep)
    expected = ["a", "new", "c"] if logged else ["a", "b", "c"]  # new dominates b
    if not logged:
        shutil.rmtree(sweep / "jobs" / "new")  # never registered: its job retries
    assert register(manager, "later", [0.9, 9.0]) is False
    assert_invariants(sweep, expected)
    assert set(_ids(manager.state()["front"])) == set(expected)


N_PROCS, PER_PROC = 16, 20


def _value(proc: int, i: int) -> list[float]:
    rng = random.Random(proc * 1000 + i)
    return [rng.random(), rng.random()]


def _worker(sweep_dir: str, proc: int) -> None:
    manager = SweepManager(sweep_dir, top_k=3, metric_name=NAMES)
    for i in range(PER_PROC):
        register(manager, f"p{proc:02d}-{i:02d}", _value(proc, i))


def test_16_processes_register_into_one_front(tmp_path):
    sweep = tmp_path / "sweep"
    run_in_processes(_worker, sweep, N_PROCS)
    manager = SweepManager(sweep)
    values = {f"p{p:02d}-{i:02d}": _value(p, i) for p in range(N_PROCS) for i in range(PER_PROC)}
    assert {r["run_id"] for r in manager.load_runs()} == set(values)
    state = manager.state()
    front = brute_front(values, ["min", "min"])
    assert set(_ids(state["front"])) == front
    kept = _ids(state["top"])
    assert set(kept) <= front and 1 <= len(kept) <= 3
    assert_invariants(sweep, kept)
    assert state["disk"]["deleted_checkpoints"] == len(values) - len(kept)
