"""The manifest's fold, alone: pure, and the same ranking as the rule computed afresh.

Every path (registration, reads, recovery, repair) folds records with
``sweepkit.manifest._fold.fold``; the state machines of ``test_manifest_search.py`` test it with
files, processes and kills. These properties pin the fold itself, with no file at all.
"""

from __future__ import annotations

import copy
from collections import Counter

from hypothesis import given, settings
from hypothesis import strategies as st

from sweepkit._settings import Settings
from sweepkit.manifest._document import new_manifest, rule_of
from sweepkit.manifest._fold import fold
from sweepkit.records import FINISHED_STATUSES

VALUES = st.one_of(st.none(), st.floats(-5, 5, allow_nan=False), st.just(float("nan")))


def _runs(draw_values: list[tuple[object, str, bool]], pareto: bool) -> list[dict]:
    runs = []
    for seq, (value, status, has_file) in enumerate(draw_values):
        run = {
            "run_id": f"r{seq}",
            "run_name": f"run{seq}",
            "status": status,
            "seq": seq,
            "metric_value": value[0] if pareto else value,
            "source_checkpoint": f"/sweep/{seq}/best_model.pth" if has_file else None,
            "labels": {"model": "m"} if seq == 2 else None,
        }
        if pareto:
            run["metric_names"], run["metric_values"] = ["loss", "size"], list(value)
        runs.append(run)
    return runs


def _fold_all(runs: list[dict], settings_: Settings) -> dict:
    state = new_manifest("/sweep", settings_)
    for run in runs:
        before = copy.deepcopy(state)
        after, plan = fold(state, run, None, settings_)
        assert state == before, "fold changed its input"
        moved = after["top"] != state["top"] or after.get("front") != state.get("front")
        assert plan.changed == (moved or after["labels"] != state["labels"])
        assert plan.promote == any(e["run_id"] == run["run_id"] for e in after["top"])
        state = after
    return state


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(VALUES, st.sampled_from(FINISHED_STATUSES), st.booleans()), max_size=25),
    st.integers(1, 4),
    st.sampled_from(["min", "max"]),
)
def test_folding_one_metric_keeps_the_best_k_and_counts_every_run(draws, top_k, mode):
    settings_ = Settings(("val_loss",), (mode,), top_k)
    runs = _runs(draws, pareto=False)
    state = _fold_all(runs, settings_)
    rule = rule_of(settings_)
    expected = [r["run_id"] for r in sorted(filter(rule.rankable, runs), key=rule.key)][:top_k]
    assert [e["run_id"] for e in state["top"]] == expected
    assert state["counts"] == dict(Counter(r["status"] for r in runs))
    assert state["n_runs"] == len(runs) and state["next_seq"] == len(runs)
    assert state["labels"] == ({"model": "m"} if len(runs) > 2 else None)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.tuples(st.floats(0, 3, allow_nan=False), st.integers(1, 4).map(float)),
            st.sampled_from(["complete", "pruned", "failed"]),
            st.booleans(),
        ),
        max_size=20,
    ),
    st.integers(1, 4),
)
def test_folding_two_metrics_keeps_part_of_the_non_dominated_front(draws, top_k):
    settings_ = Settings(("loss", "size"), ("min", "max"), top_k)
    runs = _runs(draws, pareto=True)
    state = _fold_all(runs, settings_)
    rule = rule_of(settings_)
    rankable = [r for r in runs if rule.rankable(r)]
    front = {r["run_id"] for r in rankable if not any(rule.dominates(o, r) for o in rankable)}
    kept = {e["run_id"] for e in state["top"]}
    assert {e["run_id"] for e in state["front"]} == front
    assert kept <= front and len(kept) == min(top_k, len(front))
