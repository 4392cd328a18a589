"""Search for ways to break the Pareto-front manifest: a Hypothesis state machine.

Steps, in any order: register a job with two metrics (sometimes SIGKILLed at a fault point, in
a forked process), read, repair, delete ``sweep_results.json`` by hand. Every job has a new run
id, so the model is the rule itself replayed over the log in order (``Rule.rank``); the search
is for file handling that departs from it. After every step:
- the front is the brute-force non-dominated set of every registered run;
- every run the ranking keeps has its checkpoint's bytes somewhere in the sweep, and once no
  registration is half done, ``best_models/`` holds exactly the kept runs' ``front_NN_`` files;
- a read changed nothing.
Budget: ``SWEEPKIT_SEARCH_EXAMPLES`` (default 60 here) sequences of ``SWEEPKIT_SEARCH_STEPS``.
"""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import tempfile
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule
from test_manifest_pareto import brute_front
from test_manifest_search import FAULTS, SEARCH_SETTINGS, tree

from sweepkit.manifest import SweepManager, latest_records
from sweepkit.manifest._ranking import Rule
from sweepkit.records import INTERNAL_DIR, SETTINGS_NAME
from sweepkit.testing import FAULT_ENV

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # fork in a test process
]

EXAMPLES = int(os.environ.get("SWEEPKIT_SEARCH_EXAMPLES", "60"))
NAMES, MODES = ["loss", "size"], ["min", "max"]


def _die_registering(sweep: str, job: str, point: str) -> None:
    os.environ[FAULT_ENV] = point
    SweepManager(sweep).register_job_dir(job)
    os._exit(0)  # the fault point was not on this registration's path


class ParetoMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="sweepkit-pareto-search-"))
        self.sweep = self.root / "sweep"
        self.n = 0
        self.tags: dict[str, str] = {}

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @initialize(top_k=st.integers(1, 4))
    def create(self, top_k: int) -> None:
        self.top_k = top_k
        stored = self.sweep / INTERNAL_DIR / SETTINGS_NAME  # the sweep's own, before its first run
        stored.parent.mkdir(parents=True)
        stored.write_text(
            json.dumps(
                {
                    "format": 1,
                    "metric_name": NAMES[0],
                    "mode": MODES[0],
                    "top_k": top_k,
                    "objectives": [{"name": n, "mode": m} for n, m in zip(NAMES, MODES)],
                }
            )
        )

    def _records(self) -> list[dict]:
        path = self.sweep / "runs.jsonl"
        return latest_records(path) if path.exists() else []

    def _model(self) -> tuple[list[str], set[str]]:
        """(kept run ids, front run ids) of the rule replayed over the log in order."""
        rule = Rule(NAMES, MODES, self.top_k)
        doc = {"top": [], "front": []}
        for record in sorted(self._records(), key=lambda r: r["seq"]):
            doc["top"], doc["front"] = rule.rank(doc, record)
        return [e["run_id"] for e in doc["top"]], {e["run_id"] for e in doc["front"]}

    # ------------------------------------------------------------ steps
    @rule(
        loss=st.integers(0, 5),
        size=st.integers(0, 5),
        status=st.sampled_from(["complete", "complete", "pruned", "failed"]),
        fault=st.one_of(st.none(), st.none(), st.sampled_from(FAULTS)),
    )
    def register(self, loss: int, size: int, status: str, fault: str | None) -> None:
        self.n += 1
        rid = f"{self.n:03d}"
        job = self.sweep / rid
        job.mkdir(parents=True)
        self.tags[rid] = f"ckpt:{rid}"
        (job / "best_model.pth").write_text(self.tags[rid])
        (job / "run.json").write_text(
            json.dumps(
                {
                    "run_name": f"job{rid}",
                    "status": status,
                    "best_value": loss,
                    "best_epoch": 1,
                    "best_values": {"loss": loss, "size": size},
                    "checkpoint": str(job / "best_model.pth"),
                }
            )
        )
        if fault is None:
            SweepManager(self.sweep).register_job_dir(job)
            self.check_files()
            return
        proc = mp.get_context("fork").Process(target=_die_registering, args=(str(self.sweep), str(job), fault))
        proc.start()
        proc.join(60)
        assert proc.exitcode is not None, "a registration hung"
        if rid not in {r["run_id"] for r in self._records()}:
            shutil.rmtree(job)  # never logged: its job would run again under a new number

    @rule()
    def read(self) -> None:
        before = tree(self.sweep)
        manager = SweepManager(self.sweep)
        try:
            manager.state(), manager.get_best_models(), manager.load_runs()
        except Exception:  # noqa: BLE001 - a read may refuse a sweep that needs repair
            pass
        assert tree(self.sweep) == before, "a read changed the sweep"

    @rule()
    def repair(self) -> None:
        SweepManager(self.sweep).repair()
        self.check_files()

    @rule()
    def delete_manifest_by_hand(self) -> None:
        path = self.sweep / "sweep_results.json"
        if path.exists():
            path.unlink()

    # ------------------------------------------------------------ checks
    def check_files(self) -> None:
        kept, _ = self._model()
        names = (
            sorted(p.name for p in (self.sweep / "best_models").glob("*_best_model.pth"))
            if (self.sweep / "best_models").is_dir()
            else []
        )
        assert [n[:9] for n in names] == [f"front_{i:02d}_" for i in range(1, len(kept) + 1)]
        doc = SweepManager(self.sweep).state()
        assert [e["run_id"] for e in doc["top"]] == kept
        for rank, rid in enumerate(kept, 1):
            assert (self.sweep / doc["top"][rank - 1]["checkpoint"]).read_text() == self.tags[rid]

    @invariant()
    def front_is_the_non_dominated_set(self) -> None:
        records = self._records()
        values = {
            r["run_id"]: (r.get("metric_values") if r["status"] != "failed" else None) or [float("nan")] * 2
            for r in records
        }
        values = {rid: [float("nan") if v is None else v for v in vs] for rid, vs in values.items()}
        kept, front = self._model()
        assert front == brute_front(values, MODES)
        try:
            state = SweepManager(self.sweep).state()
        except Exception:  # noqa: BLE001 - a lost manifest: the next registration rebuilds it
            state = None
        if state is not None:
            assert {e["run_id"] for e in state.get("front", [])} == front
        contents = {p.read_bytes() for p in self.sweep.rglob("*.pth") if p.is_file()}
        for rid in kept:
            assert self.tags[rid].encode() in contents, f"kept run {rid}'s checkpoint is gone"


ParetoMachine.TestCase.settings = settings(SEARCH_SETTINGS, max_examples=EXAMPLES)  # its own budget
test_no_sequence_of_steps_breaks_the_front = ParetoMachine.TestCase
