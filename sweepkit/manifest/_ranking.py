"""Which runs keep a checkpoint: one rule for one metric (the top k) and for several (a front).

Pure functions over records; nothing here touches a file.

- **One metric**: the k best values, ties by registration order (``seq``).
- **Several metrics**: the non-dominated runs (the Pareto front) of every run registered so
  far. A run dominates another when it is no worse in every metric and better in one. The
  manifest keeps the whole front's values (``front``, no files) and the checkpoints of at most
  ``top_k`` of its runs (``top``). When the front holds more, the kept run of least crowding
  distance (NSGA-II's: the normalised side lengths of the box its neighbours span, infinite at
  the ends of the front) is dropped, one at a time, recomputing after each drop; of equal
  distances the latest registered goes first. ``top`` and the file names follow a stable order:
  the first metric, then the next, then registration order.

A run that a dropped run dominates never enters (``front`` remembers dropped runs), so the kept
runs are always non-dominated among every run registered. A dropped run's checkpoint is deleted
at once, as a run outside the top k is for one metric.
"""

from __future__ import annotations

import math
from typing import Any, Callable, Iterable, Sequence

from sweepkit.records import FINISHED_STATUSES, RANKED_STATUSES

#: The prefix of the file names in ``best_models/``: ``rank_01_...`` or ``front_01_...``.
RANK_PREFIX, FRONT_PREFIX = "rank", "front"
#: Fields a front entry keeps (it names a run and its values; no files).
_FRONT_FIELDS = ("run_id", "run_name", "seq", "metric_values")


def _is_number(value: object) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and math.isfinite(value)


class Rule:
    """How one sweep ranks: its objectives (names and modes) and ``top_k``."""

    def __init__(self, names: Sequence[str], modes: Sequence[str], top_k: int) -> None:
        self.names, self.modes, self.top_k = list(names), list(modes), top_k
        self.signs = [1 if mode == "min" else -1 for mode in self.modes]
        self.pareto = len(self.names) > 1
        self.prefix = FRONT_PREFIX if self.pareto else RANK_PREFIX

    # ---------------------------------------------------------------- one record
    def rankable(self, record: dict[str, Any]) -> bool:
        """A ranked status, a checkpoint and a finite value for every metric."""
        if record["status"] not in RANKED_STATUSES or record.get("source_checkpoint") is None:
            return False
        if not self.pareto:
            return _is_number(record.get("metric_value"))
        values = record.get("metric_values")
        return isinstance(values, list) and len(values) == len(self.names) and all(map(_is_number, values))

    def key(self, entry: dict[str, Any]) -> tuple[Any, ...]:
        """Best first (the first metric, then the next), ties by registration order."""
        if not self.pareto:
            return (self.signs[0] * entry["metric_value"], entry["seq"])
        return (*self._point(entry), entry["seq"])

    def _point(self, entry: dict[str, Any]) -> tuple[float, ...]:
        return tuple(s * v for s, v in zip(self.signs, entry["metric_values"]))

    def dominates(self, a: dict[str, Any], b: dict[str, Any]) -> bool:
        """Whether run ``a`` is no worse than ``b`` in every metric and better in one."""
        pa, pb = self._point(a), self._point(b)
        return all(x <= y for x, y in zip(pa, pb)) and pa != pb

    # ---------------------------------------------------------------- the manifest
    def stays_out(self, doc: dict[str, Any], record: dict[str, Any]) -> bool:
        """Whether ``record`` leaves ``doc``'s ranking as it is (the common, cheap case)."""
        run_id, top = record["run_id"], doc["top"]
        if any(e["run_id"] == run_id for e in top):
            return False
        if not self.rankable(record):
            return not (self.pareto and any(e["run_id"] == run_id for e in doc.get("front", ())))
        if not self.pareto:
            return len(top) >= self.top_k and self.key(record) > self.key(top[-1])
        front = doc.get("front", ())
        if any(e["run_id"] == run_id for e in front):
            return False
        return any(self.dominates(e, record) for e in front)

    def rank(
        self, doc: dict[str, Any], record: dict[str, Any]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
        """``(top, front)`` once ``record`` replaces its run's earlier entry (``front`` None
        for one metric)."""
        run_id = record["run_id"]
        top = [e for e in doc["top"] if e["run_id"] != run_id]
        if not self.pareto:
            if self.rankable(record):
                top.append(dict(record))
                top.sort(key=self.key)
            return top[: self.top_k], None
        front = [e for e in doc.get("front", ()) if e["run_id"] != run_id]
        if self.rankable(record) and not any(self.dominates(e, record) for e in front):
            front = [e for e in front if not self.dominates(record, e)]
            front.append(front_entry(record))
            front.sort(key=self.key)
            top = [e for e in top if not self.dominates(record, e)]
            top.append(dict(record))
        return self.truncate(top, self.top_k), front

    def select(
        self, records: Iterable[dict[str, Any]], has_file: Callable[[dict[str, Any]], bool]
    ) -> tuple[list[dict[str, Any]], list[dict[str, Any]] | None]:
        """``(top, front)`` of a set of records computed afresh (repair): the ranking of the
        rankable ones whose checkpoint ``has_file``."""
        ranked = sorted((r for r in records if self.rankable(r)), key=self.key)
        if not self.pareto:
            return [r for r in ranked if has_file(r)][: self.top_k], None
        front: list[dict[str, Any]] = []
        for record in ranked:  # sorted: no later record dominates an earlier one
            if not any(self.dominates(e, record) for e in front):
                front.append(record)
        top = self.truncate([r for r in front if has_file(r)], self.top_k)
        return top, [front_entry(r) for r in front]

    def truncate(self, top: list[dict[str, Any]], k: int) -> list[dict[str, Any]]:
        """At most ``k`` entries, in the stable order: the best k for one metric, the most
        crowded dropped first for several (see the module docstring)."""
        top = sorted(top, key=self.key)
        if not self.pareto:
            return top[:k]
        while len(top) > k:
            distance = self.crowding(top)
            drop = min(range(len(top)), key=lambda i: (distance[i], -top[i]["seq"]))
            del top[drop]
        return top

    def crowding(self, entries: list[dict[str, Any]]) -> list[float]:
        """NSGA-II crowding distance of each entry within ``entries``."""
        n = len(entries)
        distance = [0.0] * n
        points = [self._point(e) for e in entries]
        for m in range(len(self.names)):
            order = sorted(range(n), key=lambda i: (points[i][m], entries[i]["seq"]))
            low, high = points[order[0]][m], points[order[-1]][m]
            distance[order[0]] = distance[order[-1]] = math.inf
            if high == low:
                continue
            for before, i, after in zip(order, order[1:], order[2:]):
                distance[i] += (points[after][m] - points[before][m]) / (high - low)
        return distance


def front_entry(record: dict[str, Any]) -> dict[str, Any]:
    """What the manifest's ``front`` keeps of a run."""
    return {k: record.get(k) for k in _FRONT_FIELDS}


def rule_of(doc: dict[str, Any]) -> Rule:
    """The ranking rule of a manifest (or of a manager's settings)."""
    objectives = doc.get("objectives")
    if objectives:
        return Rule([o["name"] for o in objectives], [o["mode"] for o in objectives], doc["top_k"])
    return Rule([doc["metric_name"]], [doc["mode"]], doc["top_k"])


def well_formed(record: dict[str, Any]) -> bool:
    """A record the manager can fold: a run id, a known status and an integer seq."""
    return (
        isinstance(record.get("run_id"), str)
        and record.get("status") in FINISHED_STATUSES
        and isinstance(record.get("seq"), int)
        and not isinstance(record["seq"], bool)
    )


def count(doc: dict[str, Any], record: dict[str, Any], previous: dict[str, Any] | None) -> bool:
    """Fold a record into the counts; returns whether the sweep's labels changed."""
    status, counts = record["status"], doc["counts"]
    if previous is None:
        doc["n_runs"] += 1
    else:
        prev = previous["status"]
        counts[prev] = counts.get(prev, 1) - 1
        if counts[prev] <= 0:
            del counts[prev]
    counts[status] = counts.get(status, 0) + 1
    doc["next_seq"] = max(doc["next_seq"], record["seq"] + 1)
    if doc.get("labels") is None and isinstance(record.get("labels"), dict) and record["labels"]:
        doc["labels"] = dict(record["labels"])  # the first run's: what the sweep trains
        return True
    return False
