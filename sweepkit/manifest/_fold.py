"""The one fold of the manifest: ``(state, record) -> (state, plan)``, pure.

Registration, reads, recovery after a kill and repair all fold log records with :func:`fold`;
they differ only in what they do with the :class:`Plan`: the executor carries it out on the
files (:mod:`sweepkit.manifest._executor`), a read only looks where the files are now.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Callable, Iterable

from sweepkit._settings import Settings
from sweepkit.manifest._document import Manifest, rule_of
from sweepkit.records import ManifestRecord


@dataclass(frozen=True)
class Plan:
    """What folding one record asks of the files."""

    record: ManifestRecord
    #: the ranking ``best_models/`` must now hold (the state's ``top``), None when unchanged
    top: list[ManifestRecord] | None
    #: the ranking before this record (its runs' files may be deleted; others are kept aside)
    old_top: list[ManifestRecord]
    #: the record ranks: its checkpoint is promoted into ``best_models/``
    promote: bool
    #: the record does not rank: its checkpoint is deleted, if it is the sweep's to delete;
    #: ``counted`` when the record carries its size and the state counted it already
    drop_source: bool
    counted: bool
    #: ``sweep_results.json`` must be rewritten (the ranking, the front or the labels changed)
    changed: bool


def count(doc: Manifest, record: ManifestRecord, previous: ManifestRecord | None) -> bool:
    """Fold a record into the counts, in place; returns whether the sweep's labels changed."""
    status, counts = record["status"] or "failed", doc["counts"]
    if previous is None:
        doc["n_runs"] += 1
    else:
        prev = previous["status"] or "failed"
        counts[prev] = counts.get(prev, 1) - 1
        if counts[prev] <= 0:
            del counts[prev]
    counts[status] = counts.get(status, 0) + 1
    doc["next_seq"] = max(doc["next_seq"], (record["seq"] or 0) + 1)
    labels = record.get("labels")
    if doc.get("labels") is None and isinstance(labels, dict) and labels:
        doc["labels"] = dict(labels)  # the first run's: what the sweep trains
        return True
    return False


def fold(
    doc: Manifest, record: ManifestRecord, previous: ManifestRecord | None, settings: Settings
) -> tuple[Manifest, Plan]:
    """``doc`` with ``record`` registered (``previous``: the run's earlier record, None for a
    new run), and the plan for the files. ``doc`` itself is left as it was."""
    state = copy.copy(doc)
    state["counts"], state["disk"] = dict(doc["counts"]), copy.copy(doc["disk"])
    changed = count(state, record, previous)
    rule = rule_of(settings)
    run_id, old_top = record["run_id"], doc["top"]
    in_top = False
    top = old_top
    if not rule.stays_out(state, record):  # the common case stays out: no ranking
        top, front = rule.rank(state, record)
        in_top = any(e["run_id"] == run_id for e in top)
        if front is not None and front != doc.get("front"):
            state["front"], changed = front, True
    reranked = in_top or [e["run_id"] for e in top] != [e["run_id"] for e in old_top]
    if reranked:
        state["top"], changed = top, True
    counted = not in_top and "reclaimed_bytes" in record  # counted once, whether or not replayed
    if counted:
        state["disk"]["reclaimed_bytes"] += record["reclaimed_bytes"]
        state["disk"]["deleted_checkpoints"] += 1
    plan = Plan(record, top if reranked else None, old_top, in_top, not in_top, counted, changed)
    return state, plan


def replay(
    doc: Manifest,
    records: Iterable[tuple[int, ManifestRecord]],
    settings: Settings,
    previous_of: Callable[[Manifest, ManifestRecord, int], ManifestRecord | None],
    carry_out: Callable[[Manifest, Plan], Manifest],
) -> tuple[Manifest, bool]:
    """Fold logged ``(offset, record)`` pairs into ``doc``; ``carry_out`` acts on each plan and
    returns the state with the files as they are then. Returns the state and whether it changed."""
    changed = False
    for offset, record in records:
        doc, plan = fold(doc, record, previous_of(doc, record, offset), settings)
        doc = carry_out(doc, plan)
        changed = changed or plan.changed
    return doc, changed
