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
from typing import Any, Callable, Iterable, Mapping, Sequence, TypeVar, cast

from sweepkit.records import FINISHED_STATUSES, RANKED_STATUSES, ManifestRecord

Entry = TypeVar("Entry", bound=Mapping[str, Any])

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
    def rankable(self, record: Mapping[str, Any]) -> bool:
        """A ranked status, a checkpoint and a finite value for every metric."""
        if record["status"] not in RANKED_STATUSES or record.get("source_checkpoint") is None:
            return False
        if not self.pareto:
            return _is_number(record.get("metric_value"))
        values = record.get("metric_values")
        return isinstance(values, list) and len(values) == len(self.names) and all(map(_is_number, values))

    def key(self, entry: Mapping[str, Any]) -> tuple[Any, ...]:
        """Best first (the first metric, then the next), ties by registration order."""
        if not self.pareto:
            return (self.signs[0] * entry["metric_value"], entry["seq"])
        return (*self._point(entry), entry["seq"])

    def _point(self, entry: Mapping[str, Any]) -> tuple[float, ...]:
        return tuple(s * v for s, v in zip(self.signs, entry["metric_values"]))

    def dominates(self, a: Mapping[str, Any], b: Mapping[str, Any]) -> bool:
        """Whether run ``a`` is no worse than ``b`` in every metric and better in one."""
        pa, pb = self._point(a), self._point(b)
        return all(x <= y for x, y in zip(pa, pb)) and pa != pb

    # ---------------------------------------------------------------- the manifest
    def stays_out(self, doc: Mapping[str, Any], record: Mapping[str, Any]) -> bool:
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
        self, doc: Mapping[str, Any], record: ManifestRecord
    ) -> tuple[list[ManifestRecord], list[ManifestRecord] | None]:
        """``(top, front)`` once ``record`` replaces its run's earlier entry (``front`` None
        for one metric)."""
        run_id = record["run_id"]
        top: list[ManifestRecord] = [e for e in doc["top"] if e["run_id"] != run_id]
        if not self.pareto:
            if self.rankable(record):
                top.append(record.copy())
                top.sort(key=self.key)
            return top[: self.top_k], None
        front: list[ManifestRecord] = [e for e in doc.get("front", ()) if e["run_id"] != run_id]
        if self.rankable(record) and not any(self.dominates(e, record) for e in front):
            front = [e for e in front if not self.dominates(record, e)]
            front.append(front_entry(record))
            front.sort(key=self.key)
            top = [e for e in top if not self.dominates(record, e)]
            top.append(record.copy())
        return self.truncate(top, self.top_k), front

    def select(
        self, records: Iterable[Entry], has_file: Callable[[Entry], bool]
    ) -> tuple[list[Entry], list[ManifestRecord] | None]:
        """``(top, front)`` of a set of records computed afresh (repair): the ranking of the
        rankable ones whose checkpoint ``has_file``."""
        ranked = sorted((r for r in records if self.rankable(r)), key=self.key)
        if not self.pareto:
            return [r for r in ranked if has_file(r)][: self.top_k], None
        front: list[Entry] = []
        for record in ranked:  # sorted: no later record dominates an earlier one
            if not any(self.dominates(e, record) for e in front):
                front.append(record)
        top = self.truncate([r for r in front if has_file(r)], self.top_k)
        return top, [front_entry(r) for r in front]

    def truncate(self, top: Sequence[Entry], k: int) -> list[Entry]:
        """At most ``k`` entries, in the stable order: the best k for one metric, the most
        crowded dropped first for several (see the module docstring)."""
        kept = sorted(top, key=self.key)
        if not self.pareto:
            return kept[:k]
        while len(kept) > k:
            distance = self.crowding(kept)
            drop = min(range(len(kept)), key=lambda i: (distance[i], -kept[i]["seq"]))
            del kept[drop]
        return kept

    def crowding(self, entries: Sequence[Mapping[str, Any]]) -> list[float]:
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


def front_entry(record: Mapping[str, Any]) -> ManifestRecord:
    """What the manifest's ``front`` keeps of a run."""
    return cast(ManifestRecord, {k: record.get(k) for k in _FRONT_FIELDS})


def well_formed(record: Mapping[str, Any]) -> bool:
    """A record the manager can fold: a run id, a known status and an integer seq."""
    return (
        isinstance(record.get("run_id"), str)
        and record.get("status") in FINISHED_STATUSES
        and isinstance(record.get("seq"), int)
        and not isinstance(record["seq"], bool)
    )
