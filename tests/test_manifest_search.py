"""Search for ways to lose a checkpoint: a Hypothesis state machine over the manifest.

Steps, in any order: register a Hydra-style job (sometimes killed with SIGKILL, or interrupted
with SIGINT as by Ctrl-C, at a fault point, in a forked process), register a bad checkpoint,
read with any top_k, repair, finish the sweep (reconcile), delete or truncate any of the sweep's
files by hand, lose the hidden folder, copy the sweep (whole, or by a glob that skips hidden
entries) and go on in the copy, repair / re-rank / delete while a driver process holds the
sweep, rewrite the sweep as manifest format 1 left it
(a sweep an older release began). After every step:
- no checkpoint of a run that ranks in the top k is gone (its bytes are somewhere in the sweep);
- the manifest counts each run once;
- a read changed nothing; after a repair every run with a surviving record is known;
- a command refused near a running sweep changed nothing;
- a copy's original is never touched again.
The model ranks like the manager and forgets a run only when the test itself deletes its file.

Budget: ``SWEEPKIT_SEARCH_EXAMPLES`` sequences (default 200) of up to
``SWEEPKIT_SEARCH_STEPS`` steps (default 30), a fixed set unless ``SWEEPKIT_SEARCH_RANDOM=1``;
``scripts/search_manifest.py`` runs a longer random search.
"""

from __future__ import annotations

import hashlib
import json
import multiprocessing as mp
import os
import shutil
import signal
import stat
import tempfile
from pathlib import Path

import pytest
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, precondition, rule

from sweepkit._liveness import exclusive, hold_driver_lock
from sweepkit.manifest import ManifestError, SweepManager, SweepRunningError, latest_records
from sweepkit.testing import FAULT_ENV, FAULT_SIGNAL_ENV

from manifest_helpers import FAULT_POINTS

pytestmark = [
    pytest.mark.integration,
    pytest.mark.filterwarnings("ignore::DeprecationWarning"),  # fork in a test process
]

EXAMPLES = int(os.environ.get("SWEEPKIT_SEARCH_EXAMPLES", "200"))
STEPS = int(os.environ.get("SWEEPKIT_SEARCH_STEPS", "30"))
FAULTS = FAULT_POINTS
RUN_IDS = [str(n) for n in range(6)]
#: Each job's checkpoint file: sweepkit's own name, or a Lightning-style one (kept with its suffix).
CKPT_NAME = {rid: "best_model.pth" if int(rid) % 2 == 0 else "epoch_003.ckpt" for rid in RUN_IDS}
FILES = [
    "runs.jsonl",
    "sweep_results.json",
    ".sweepkit/settings.json",
    ".sweepkit/registered",
    "best_models/*",
    "*/run.json",
    "*/best_model.pth",
    "*/epoch_003.ckpt",
]


def tree(root: Path) -> dict[str, tuple]:
    out = {}
    for path in sorted(root.rglob("*")):
        st_ = os.lstat(path)
        digest = hashlib.sha1(path.read_bytes()).digest() if stat.S_ISREG(st_.st_mode) else b""
        out[str(path.relative_to(root))] = (stat.S_IFMT(st_.st_mode), st_.st_mtime_ns, digest)
    return out


def _drive(sweep: str, ready, done) -> None:
    """A sweep's driver for as long as ``done`` is unset: it holds the driver lock."""
    hold_driver_lock(Path(sweep))
    ready.set()
    done.wait(60)
    os._exit(0)


def _die_registering(sweep: str, top_k: int, job: str, point: str, how: str) -> None:
    """Register ``job`` and die at ``point``: SIGKILL, or Ctrl-C (SIGINT, which unwinds)."""
    os.environ[FAULT_ENV], os.environ[FAULT_SIGNAL_ENV] = point, how
    signal.signal(signal.SIGINT, signal.default_int_handler)
    try:
        SweepManager(sweep, top_k=top_k).register_job_dir(job)
    except KeyboardInterrupt:
        os._exit(130)
    os._exit(0)  # the fault point was not on this registration's path


class ManifestMachine(RuleBasedStateMachine):
    def __init__(self) -> None:
        super().__init__()
        self.root = Path(tempfile.mkdtemp(prefix="sweepkit-search-"))
        self.sweep = self.root / "sweep"
        self.sweep.mkdir()
        self.version = 0
        self.runs: dict[str, dict] = {}  # rid -> latest registered {value, status, tag}
        self.alive: set[str] = set()  # ranked runs whose checkpoint must still exist
        self.pending: dict[str, dict] = {}  # killed before the log: only their run.json knows
        self.originals: list[tuple[Path, dict]] = []

    def teardown(self) -> None:
        shutil.rmtree(self.root, ignore_errors=True)

    @initialize(top_k=st.integers(1, 4))
    def choose_top_k(self, top_k: int) -> None:
        self.top_k = top_k

    # ------------------------------------------------------------ the model
    def _rank(self) -> None:
        """Keep the best top_k of the alive runs (the manager's rule); the rest are gone.

        A run whose checkpoint the manager kept after all (it had lost track of a better one,
        whose records the test destroyed) is alive again: it ranks among what is on disk."""
        on_disk = self._contents()
        try:  # only what the manager itself ranks now (a pending replay may still delete more)
            ranked = {e["run_id"] for e in SweepManager(self.sweep).state()["top"]}
        except Exception:  # noqa: BLE001 - a broken sweep ranks nothing until mended
            ranked = set()
        self.alive |= {
            rid
            for rid, run in self.runs.items()
            if rid in ranked and run["status"] != "failed" and run["tag"].encode() in on_disk
        }
        ranked = sorted((rid for rid in self.alive), key=lambda rid: self.runs[rid]["value"])
        self.alive = set(ranked[: self.top_k])

    def _registered(self, rid: str, entry: dict) -> None:
        self.runs[rid] = entry
        self.alive.discard(rid)
        if entry["status"] in ("complete", "pruned"):
            self.alive.add(rid)
        self._rank()

    def _job(self, rid: str, value: float, status: str) -> tuple[Path, dict]:
        self.version += 1
        job = self.sweep / rid
        job.mkdir(exist_ok=True)
        old = job / CKPT_NAME[rid]
        overwritten = old.is_file() and rid in self.alive and old.read_text() == self.runs[rid]["tag"]
        tag = f"ckpt:{rid}:{self.version}"
        old.write_text(tag)
        # Each checkpoint is written later than the one before (real jobs take seconds; the
        # file system's clock ticks in milliseconds, and a record's fingerprint is size + mtime).
        self.stamp = max(old.stat().st_mtime_ns, getattr(self, "stamp", 0) + 10_000_000)
        os.utime(old, ns=(self.stamp, self.stamp))
        if overwritten:
            self.alive.discard(rid)  # the job's rerun overwrote its own unpromoted file
            self._rank()
        (job / "run.json").write_text(
            json.dumps(
                {
                    "run_name": f"job{rid}",
                    "status": status,
                    "best_value": value,
                    "best_epoch": 1,
                    "checkpoint": str(job / CKPT_NAME[rid]),
                }
            )
        )
        return job, {"value": value, "status": status, "tag": tag}

    def _logged(self, rid: str, value: float) -> bool:
        try:
            lines = (self.sweep / "runs.jsonl").read_bytes().split(b"\n")[:-1]
        except FileNotFoundError:
            return False
        for line in lines:
            try:
                record = json.loads(line)
            except ValueError:
                continue
            if isinstance(record, dict) and record.get("run_id") == rid and record.get("metric_value") == value:
                return True
        return False

    # ------------------------------------------------------------ steps
    @rule(
        rid=st.sampled_from(RUN_IDS),
        value=st.integers(0, 999),
        status=st.sampled_from(["complete", "complete", "pruned", "failed"]),
        fault=st.one_of(st.none(), st.none(), st.sampled_from(FAULTS)),
        how=st.sampled_from(["KILL", "KILL", "INT"]),
    )
    def register(self, rid: str, value: int, status: str, fault: str | None, how: str) -> None:
        value = value / 1000 + self.version * 1e-7  # no ties: the model needs no seq
        job, entry = self._job(rid, value, status)
        self.pending.pop(rid, None)
        if fault is None:
            SweepManager(self.sweep, top_k=self.top_k).register_job_dir(job)
            self._registered(rid, entry)
            return
        proc = mp.get_context("fork").Process(
            target=_die_registering, args=(str(self.sweep), self.top_k, str(job), fault, how)
        )
        proc.start()
        proc.join(60)
        assert proc.exitcode is not None, "a registration hung"
        if self._logged(rid, entry["value"]):
            self._registered(rid, entry)  # the log line is the commit point
        else:
            self.pending[rid] = entry  # a later repair adopts it from its run.json

    @rule(kind=st.sampled_from(["directory", "empty"]))
    def register_bad_checkpoint(self, kind: str) -> None:
        bad = self.sweep / "bad"
        if bad.is_dir():
            shutil.rmtree(bad)
        elif bad.exists():
            bad.unlink()
        if kind == "directory":
            bad.mkdir()
        else:
            bad.write_bytes(b"")
        log = self.sweep / "runs.jsonl"
        size = log.stat().st_size if log.exists() else None
        with pytest.raises(ValueError):
            SweepManager(self.sweep, top_k=self.top_k).register_model("bad", "bad", 0.0, bad)
        assert (log.stat().st_size if log.exists() else None) == size

    @rule(
        top_k=st.one_of(st.none(), st.integers(1, 6)),
        k=st.one_of(st.none(), st.integers(1, 6)),
        what=st.sampled_from(["best", "state", "runs", "registered"]),
    )
    def read(self, top_k, k, what: str) -> None:
        before = tree(self.sweep)
        manager = SweepManager(self.sweep, top_k=top_k)
        try:
            if what == "best":
                manager.get_best_models(k)
            elif what == "state":
                manager.state()
            elif what == "runs":
                manager.load_runs()
            else:
                manager.is_registered("0")
        except ManifestError:
            pass  # a broken sweep is named; the next write or a repair mends it
        manager.close()
        assert tree(self.sweep) == before, "a read changed the sweep directory"

    @rule()
    def repair(self) -> None:
        SweepManager(self.sweep, top_k=self.top_k).repair()
        self._adopt_pending()
        self.pending.clear()
        known = {r["run_id"] for r in SweepManager(self.sweep).load_runs()}
        with_record = {p.parent.name for p in self.sweep.glob("*/run.json")} - {"bad"}
        assert with_record <= known, f"runs with a surviving record were forgotten: {with_record - known}"

    @rule(pattern=st.sampled_from(FILES), pick=st.integers(0, 10))
    def delete_by_hand(self, pattern: str, pick: int) -> None:
        found = sorted(self.sweep.glob(pattern))
        if not found:
            return
        path = found[pick % len(found)]
        tag = path.read_text() if path.is_file() and path.read_bytes().startswith(b"ckpt:") else None
        if path.is_dir() and not path.is_symlink():
            shutil.rmtree(path)
        else:
            path.unlink()
        if tag is not None:
            for entry in self.pending.values():
                entry["forfeited"] = entry.get("forfeited") or entry["tag"] == tag
            self.alive = {rid for rid in self.alive if self.runs[rid]["tag"] != tag}
            self._rank()  # the test forfeits that run: nobody can keep what it deleted

    @rule(name=st.sampled_from(["runs.jsonl", "sweep_results.json"]), fraction=st.floats(0, 0.99))
    def truncate_by_hand(self, name: str, fraction: float) -> None:
        path = self.sweep / name
        if path.exists():
            os.truncate(path, int(path.stat().st_size * fraction))

    @rule()
    def rewrite_as_format_1(self) -> None:
        """The sweep's files as an older release wrote them: ``epoch`` for ``best_epoch``.
        Lines and files that do not parse (truncated by hand) stay as they are."""
        log, results = self.sweep / "runs.jsonl", self.sweep / "sweep_results.json"
        shift: list[tuple[int, int]] = []  # (old end of a line, bytes it lost)
        if log.exists():
            out, pos, lost = [], 0, 0
            for line in log.read_bytes().splitlines(keepends=True):
                try:
                    record = json.loads(line)
                except ValueError:
                    record = None
                if isinstance(record, dict) and "best_epoch" in record and line.endswith(b"\n"):
                    record["epoch"] = record.pop("best_epoch")
                    new = json.dumps(record, separators=(",", ":")).encode() + b"\n"
                    lost += len(line) - len(new)
                    line = new
                pos += len(line)
                out.append(line)
                shift.append((pos + lost, lost))
            log.write_bytes(b"".join(out))
        try:
            doc = json.loads(results.read_bytes())
        except (OSError, ValueError):
            return
        if not isinstance(doc, dict):
            return
        for entry in [*(doc.get("top") or []), *(doc.get("runs") or []), doc.get("best") or {}]:
            if isinstance(entry, dict) and "best_epoch" in entry:
                entry["epoch"] = entry.pop("best_epoch")
        size = (doc.get("log") or {}).get("size")
        if isinstance(size, int):
            doc["log"]["size"] = size - max((lost for end, lost in shift if end <= size), default=0)
        doc["format"] = 1
        results.write_text(json.dumps(doc))
        settings = self.sweep / ".sweepkit" / "settings.json"
        try:
            settings.write_text(json.dumps({**json.loads(settings.read_bytes()), "format": 1}))
        except (OSError, ValueError, TypeError):
            pass

    @precondition(lambda self: len(self.originals) < 2)
    @rule()
    def copy_and_go_on_in_the_copy(self) -> None:
        copy = self.root / f"copy{len(self.originals)}"
        shutil.copytree(self.sweep, copy, symlinks=True)
        self.originals.append((self.sweep, tree(self.sweep)))
        self.sweep = copy

    @precondition(lambda self: len(self.originals) < 2)
    @rule()
    def copy_by_glob_and_go_on(self) -> None:
        """``mkdir copy; cp -a sweep/* copy/``: the glob skips the hidden folder and lock file."""
        copy = self.root / f"copy{len(self.originals)}"
        copy.mkdir()
        for entry in self.sweep.iterdir():
            if entry.name.startswith("."):
                continue
            if entry.is_dir() and not entry.is_symlink():
                shutil.copytree(entry, copy / entry.name, symlinks=True)
            else:
                shutil.copy2(entry, copy / entry.name, follow_symlinks=False)
        self.originals.append((self.sweep, tree(self.sweep)))
        self.sweep = copy

    @rule()
    def lose_the_hidden_folder(self) -> None:
        shutil.rmtree(self.sweep / ".sweepkit", ignore_errors=True)

    @rule()
    def finish_the_sweep(self) -> None:
        """What the driver does at the end: register jobs that never did, write the summary."""
        try:
            SweepManager(self.sweep, top_k=self.top_k).finalize()
        except ManifestError:
            return  # a broken sweep is named; a repair mends it
        self._adopt_pending()

    @rule(act=st.sampled_from(["repair", "set_top_k", "delete"]))
    def act_on_a_running_sweep(self, act: str) -> None:
        """A destructive command while a driver process holds the sweep: refused, nothing changes."""
        before = tree(self.sweep)
        ready, done = mp.get_context("fork").Event(), mp.get_context("fork").Event()
        proc = mp.get_context("fork").Process(target=_drive, args=(str(self.sweep), ready, done))
        proc.start()
        try:
            assert ready.wait(30), "the driver never took its lock"
            with pytest.raises(SweepRunningError, match=f"pid {proc.pid}"):
                if act == "repair":
                    SweepManager(self.sweep, top_k=self.top_k).repair()
                elif act == "set_top_k":
                    SweepManager(self.sweep).set_top_k(1, apply=True)
                else:
                    with exclusive(self.sweep, "delete it"):
                        shutil.rmtree(self.sweep)
        finally:
            done.set()
            proc.join(30)
        ours = {".sweepkit", ".sweepkit/driver.lock"}  # the driver's own lock
        assert {k: v for k, v in tree(self.sweep).items() if k not in ours} == {
            k: v for k, v in before.items() if k not in ours
        }

    def _adopt_pending(self) -> None:
        """Runs killed before their log line that a repair or the sweep's end registered."""
        records = {r["run_id"]: r for r in SweepManager(self.sweep).load_runs()}
        for rid, entry in sorted(self.pending.items()):  # a rerun's run.json that was taken
            if records.get(rid, {}).get("metric_value") == entry["value"]:  # (no other record)
                self._registered(rid, entry)
                if entry.get("forfeited"):  # the test deleted its file before
                    self.alive.discard(rid)
                    self._rank()
                del self.pending[rid]

    # ------------------------------------------------------------ what must hold
    def _contents(self) -> set[bytes]:
        return {
            p.read_bytes()
            for p in self.sweep.rglob("*")
            if p.is_file() and not p.is_symlink() and p.stat().st_size < 64
        }

    @invariant()
    def no_ranked_checkpoint_is_gone(self) -> None:
        contents = self._contents()
        for rid in self.alive:
            assert self.runs[rid]["tag"].encode() in contents, (
                f"run {rid} ranks in the top {self.top_k} but its checkpoint is gone"
            )

    @invariant()
    def each_run_counts_once(self) -> None:
        try:
            doc = SweepManager(self.sweep).state()
        except ManifestError:
            return  # a broken sweep is named; the next write or a repair mends it
        logged = {r["run_id"] for r in latest_records(self.sweep / "runs.jsonl")}
        assert doc["n_runs"] == len(logged), f"the manifest counts {doc['n_runs']} runs for {len(logged)} run ids"

    @invariant()
    def originals_are_untouched(self) -> None:
        for path, before in self.originals:
            assert tree(path) == before, f"{path} changed after it was copied"


#: CI runs a fixed set of sequences (so a run is reproducible); set SWEEPKIT_SEARCH_RANDOM=1
#: (scripts/search_manifest.py does) to explore new ones.
RANDOM = os.environ.get("SWEEPKIT_SEARCH_RANDOM", "") not in ("", "0")

#: The budget of every manifest search (this one and the Pareto front's).
SEARCH_SETTINGS = settings(
    max_examples=EXAMPLES,
    stateful_step_count=STEPS,
    deadline=None,
    derandomize=not RANDOM,
    suppress_health_check=list(HealthCheck),
    print_blob=True,
)
ManifestMachine.TestCase.settings = SEARCH_SETTINGS
test_no_sequence_of_steps_loses_a_ranked_checkpoint = ManifestMachine.TestCase
