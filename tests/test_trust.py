"""A sweep's identity and liveness (DESIGN.md invariants 11-13), on the paths users took:
destructive commands near a running resumed sweep, copies that drop the hidden folder, the
hidden folder lost after a kill, a refused launch. Real Hydra multiruns of the toy app, real
processes and locks."""

from __future__ import annotations

import json
import multiprocessing as mp
import os
import shutil
import signal
import subprocess
import time
from pathlib import Path

import pytest
from test_manifest_safety import TOPK, assert_ranked_files, hydra_like_sweep, snapshot
from test_sweeper_runs import load_study, run_toy, toy_command, toy_env

from sweepkit.cli import main as cli_main
from sweepkit.manifest import SweepManager, SweepRunningError, latest_records, read_manifest
from sweepkit.testing import FAULT_ENV

pytestmark = pytest.mark.integration

ARGS = ["sweeper=bayes", "trainer.max_epochs=2", *TOPK]


def contents(folder: Path) -> dict[str, str]:
    """Each file's name and content hash (what a user would miss if it changed)."""
    return {name: entry[3] for name, entry in snapshot(folder).items()}


def cli(capsys, *args) -> tuple[int, str, str]:
    code = cli_main([str(a) for a in args])
    out, err = capsys.readouterr()
    return code, out, err


def job_values(sweep: Path) -> dict[str, float]:
    """Each finished job's best value, from its own run.json."""
    out = {}
    for path in sweep.glob("*/run.json"):
        record = json.loads(path.read_text())
        if record.get("status") in ("complete", "pruned"):
            out[path.parent.name] = record["best_value"]
    return out


def assert_counts_match_jobs(sweep: Path) -> dict:
    """The manifest counts each job once and ranks the best of them (from the jobs' records)."""
    doc = SweepManager(sweep).state()
    logged = {r["run_id"] for r in latest_records(sweep / "runs.jsonl")}
    job_dirs = {p.name for p in sweep.iterdir() if p.name.isdigit()}
    assert doc["n_runs"] == len(logged) == len(job_dirs), (doc["n_runs"], logged, job_dirs)
    values = job_values(sweep)
    best = sorted(values, key=values.get)[: doc["top_k"]]
    assert [e["run_id"] for e in doc["top"]] == best
    return doc


def start_hanging_resume(sweep: Path, n_trials: int, hang: int) -> subprocess.Popen:
    """Resume ``sweep`` with trial ``hang`` hanging before it writes anything; return once the
    job has started (its driver is alive, no job says ``running``)."""
    proc = subprocess.Popen(
        toy_command(sweep, *ARGS, f"hydra.sweeper.n_trials={n_trials}", f"hang_trials=[{hang}]"),
        cwd=sweep.parent,
        env=toy_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    deadline = time.time() + 90
    while not (sweep / str(hang) / ".hydra").exists():
        assert time.time() < deadline and proc.poll() is None, "the resumed sweep never started its job"
        time.sleep(0.1)
    return proc


def kill(proc: subprocess.Popen) -> None:
    os.killpg(proc.pid, signal.SIGKILL)
    proc.wait()


# ------------------------------------------------------------------ one liveness probe
def test_destructive_commands_refuse_a_running_resumed_sweep_and_name_its_driver(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    run_toy(sweep, *ARGS, "hydra.sweeper.n_trials=3")
    assert (sweep / "sweep_summary.yaml").exists()  # a resumed sweep looks finished between jobs
    kept = snapshot(sweep / "best_models")
    proc = start_hanging_resume(sweep, 4, hang=3)
    try:
        driver = f"pid {proc.pid}"
        code, _, err = cli(capsys, "cleanup", tmp_path, "--days", "0", "--live")
        assert code == 1 and "still running" in err and driver in err
        code, _, err = cli(capsys, "prune", "--top-k", "1", "--live", sweep)
        assert code == 1 and "still running" in err and driver in err
        (sweep / "best_models" / next(iter(kept))).unlink()  # a problem for verify to find
        code, out, err = cli(capsys, "verify", "--repair", sweep)
        assert code == 1 and "still running" in err and driver in err
        for act in (lambda m: m.repair(), lambda m: m.set_top_k(1, apply=True)):
            with pytest.raises(SweepRunningError, match=driver):
                act(SweepManager(sweep))
        code, out, _ = cli(capsys, "--json", "list", sweep)
        assert json.loads(out)[0]["running"] is True
        assert sweep.is_dir() and len(snapshot(sweep / "best_models")) == len(kept) - 1
        assert SweepManager(sweep).top_k == 3
    finally:
        kill(proc)
    # the lock went with the driver: the same commands act now
    assert cli(capsys, "verify", "--repair", sweep)[0] == 0
    code, out, _ = cli(capsys, "cleanup", tmp_path, "--days", "0", "--live")
    assert code == 0 and not sweep.exists()


def test_a_driver_waiting_on_a_job_on_another_sweeper_counts_as_running(tmp_path, capsys):
    """Hydra's own sweeper (sweeper=grid) has no sweepkit driver: the callback holds the lock."""
    sweep = tmp_path / "grid"
    proc = subprocess.Popen(
        toy_command(sweep, "sweeper=grid", "trainer.max_epochs=1", "model.x=0.1,0.2", "hang_trials=[1]", *TOPK),
        cwd=tmp_path,
        env=toy_env(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    try:
        deadline = time.time() + 90
        while not (sweep / "1" / ".hydra").exists():
            assert time.time() < deadline and proc.poll() is None, "the grid sweep never reached job 1"
            time.sleep(0.1)
        code, _, err = cli(capsys, "cleanup", tmp_path, "--days", "0", "--live")
        assert code == 1 and f"pid {proc.pid}" in err and sweep.is_dir()
    finally:
        kill(proc)


# ------------------------------------------------------------------ identity in visible files
def test_a_sweep_copied_without_its_hidden_folder_resumes_its_own_study(tmp_path):
    original = tmp_path / "old"
    run_toy(original, *ARGS, "hydra.sweeper.n_trials=4")
    best = sorted(job_values(original).values())[:3]
    copy = tmp_path / "new"
    copy.mkdir()
    subprocess.run(f"cp -a {original}/* {copy}/", shell=True, check=True)  # the glob skips .sweepkit
    assert not (copy / ".sweepkit").exists()
    run_toy(copy, *ARGS, "hydra.sweeper.n_trials=6")
    study = load_study(copy)  # one study in the journal: the original's, continued
    assert [t.number for t in study.trials] == list(range(6))
    doc = assert_counts_match_jobs(copy)
    assert doc["n_runs"] == 6 and sorted(job_values(copy).values())[:3] <= best
    assert_ranked_files(copy, 3)
    assert read_manifest(copy / "sweep_results.json")["sweep_dir"] == str(copy)


def test_the_hidden_folder_lost_after_a_kill_costs_no_run_and_no_checkpoint(tmp_path):
    sweep = tmp_path / "sweep"
    run_toy(sweep, *ARGS, "hydra.sweeper.n_trials=3")
    proc = start_hanging_resume(sweep, 4, hang=3)
    kill(proc)
    shutil.rmtree(sweep / ".sweepkit")
    run_toy(sweep, *ARGS, "hydra.sweeper.n_trials=6")
    assert len(load_study(sweep).trials) == 6
    doc = assert_counts_match_jobs(sweep)
    assert doc["n_runs"] == 6
    assert_ranked_files(sweep, 3)


@pytest.mark.parametrize("loss", ["folder", "one marker"])
def test_end_of_sweep_reconcile_without_the_markers_keeps_every_ranked_file(tmp_path, loss):
    sweep = tmp_path / "sweep"
    hydra_like_sweep(sweep, [0.5, 0.3, 0.9, 0.1], top_k=2)
    kept = contents(sweep / "best_models")
    if loss == "folder":
        shutil.rmtree(sweep / ".sweepkit")
    else:
        os.unlink(next(p for p in (sweep / ".sweepkit" / "registered").iterdir() if not p.name.startswith(".")))
    manager = SweepManager(sweep)
    assert manager.reconcile() == [] and all(manager.is_registered(str(n)) for n in range(4))
    doc = manager.finalize()
    assert doc["n_runs"] == 4 and doc["counts"] == {"complete": 4}
    assert contents(sweep / "best_models") == kept
    # a job registered again (its checkpoint was promoted) keeps the promoted file
    manager.register_job_dir(sweep / "3")
    assert contents(sweep / "best_models") == kept and manager.state()["n_runs"] == 4


def test_a_refused_launch_leaves_nothing_behind(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    # refused after the driver lock and the study's name: its storage cannot be opened
    proc = run_toy(sweep, *ARGS, f"hydra.sweeper.storage=sqlite:///{tmp_path}/no/such/dir/x.db", ok=False)
    assert proc.returncode == 1 and "cannot open the study storage" in proc.stderr
    assert "Traceback" not in proc.stderr  # one line (the sweeper's configuration error)
    assert not (sweep / ".sweepkit").exists()
    code, _, err = cli(capsys, "list", tmp_path)
    assert code == 1 and "no sweep found" in err


# ------------------------------------------------------------------ Ctrl-C
def test_ctrl_c_leaves_an_honest_sweep_that_verify_accepts_and_a_resume_continues(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    proc = subprocess.Popen(
        toy_command(
            sweep, "sweeper=bayes", "trainer.max_epochs=2", "epoch_seconds=2", "hydra.sweeper.n_trials=4", *TOPK
        ),
        cwd=tmp_path,
        env=toy_env(),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,
        # a shell runs background jobs (CI's, nohup's) with SIGINT ignored, and children inherit
        # that: give the sweep a terminal's default, as a user's sweep has
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    deadline = time.time() + 90
    while True:
        try:
            if json.loads((sweep / "1" / "run.json").read_text())["status"] == "running":
                break
        except (OSError, ValueError, KeyError):
            pass
        assert time.time() < deadline and proc.poll() is None, "the sweep never reached its second job"
        time.sleep(0.1)
    time.sleep(0.5)
    os.killpg(proc.pid, signal.SIGINT)  # what a terminal sends on Ctrl-C
    out, err = proc.communicate(timeout=60)
    assert proc.returncode == 130 and "Traceback" not in err, out[-3000:] + err[-3000:]
    assert "[sweepkit] interrupted (Ctrl-C): the sweep stopped; run the same command to resume it" in err
    assert "Sweep finished" not in out and "stopped before its end" in out
    code, out, _ = cli(capsys, "--json", "list", sweep)
    assert json.loads(out)[0]["running"] is False  # the interrupted job is registered: it ended
    runs = {r["run_id"]: r for r in SweepManager(sweep).load_runs()}
    assert runs["1"]["status"] == "killed" and runs["0"]["status"] == "complete"
    assert_counts_match_jobs(sweep)
    code, out, _ = cli(capsys, "verify", sweep)
    assert code == 0 and "ok" in out
    run_toy(sweep, "sweeper=bayes", "trainer.max_epochs=1", "hydra.sweeper.n_trials=4", *TOPK)
    assert_counts_match_jobs(sweep)
    assert cli(capsys, "verify", sweep)[0] == 0


# ------------------------------------------------------------------ the smaller findings
def test_a_metric_too_large_for_a_float_is_recorded_unranked(tmp_path):
    sweep = tmp_path / "sweep"
    manager = hydra_like_sweep(sweep, [0.5], top_k=2)
    job = sweep / "huge"
    job.mkdir()
    (job / "best_model.pth").write_bytes(b"ckpt:huge")
    assert manager.register_model("huge", "huge", 10**400, job / "best_model.pth") is False
    record = next(r for r in manager.load_runs() if r["run_id"] == "huge")
    assert record["metric_value"] is None and record["metric_note"].startswith("not finite: 1000")
    assert len(record["metric_note"]) < 100 and not (job / "best_model.pth").exists()


def test_a_metric_name_the_jobs_do_not_record_is_said_and_ranks_nothing(tmp_path):
    sweep = tmp_path / "sweep"
    proc = run_toy(sweep, *ARGS, "hydra.sweeper.n_trials=2", "++hydra.callbacks.topk.metric_name=foo")
    said = proc.stdout + proc.stderr
    assert "job 0 records 'val_loss' but the sweep ranks 'foo'" in said and "sweepkit.metric_name=val_loss" in said
    runs = SweepManager(sweep).load_runs()
    assert [r["metric_value"] for r in runs] == [None, None]
    assert all("records 'val_loss'" in r["metric_note"] for r in runs)
    assert SweepManager(sweep).state()["top"] == []


def test_verify_advises_repair_only_for_what_repair_mends(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    hydra_like_sweep(sweep, [0.5, 0.3, 0.9, 0.1], top_k=2)
    (sweep / "2" / "last.pt").write_bytes(b"resume")  # sweepkit's own resume file
    assert cli(capsys, "verify", sweep)[0] == 0
    (sweep / "2" / "checkpoints").mkdir()
    (sweep / "2" / "checkpoints" / "last.ckpt").write_bytes(b"lightning")
    (sweep / "best_models" / "rank_02_job1_best_model.pth").unlink()
    code, out, _ = cli(capsys, "verify", sweep)
    assert code == 1 and "problem: rank 2" in out and "by hand: 1 checkpoint(s)" in out
    assert "1 problem(s); run `sweepkit verify --repair" in out
    code, out, _ = cli(capsys, "verify", "--repair", sweep)
    assert code == 1 and "repaired; what is left is for you to decide (by hand)" in out
    code, out, _ = cli(capsys, "verify", sweep)
    assert code == 1 and "by hand: 1 checkpoint(s)" in out and "--repair" not in out


def test_a_damaged_study_journal_is_named_and_verify_repair_mends_it(tmp_path, capsys):
    sweep = tmp_path / "sweep"
    run_toy(sweep, *ARGS, "hydra.sweeper.n_trials=3")
    journal = sweep / "optuna_journal.log"
    lines = journal.read_bytes().splitlines(keepends=True)
    torn = len(lines) - 2  # a writer killed mid-line; the next append starts right after it
    lines[torn] = lines[torn][: len(lines[torn]) // 2] + lines.pop(torn + 1)
    journal.write_bytes(b"".join(lines))
    proc = run_toy(sweep, *ARGS, "hydra.sweeper.n_trials=4", ok=False)
    assert proc.returncode != 0
    assert f"the study journal {journal} is damaged: line {torn + 1}" in proc.stderr
    assert f"sweepkit verify --repair {sweep}" in proc.stderr
    code, out, _ = cli(capsys, "verify", sweep)
    assert code == 1 and f"optuna_journal.log line(s) {torn + 1} are not whole records" in out
    code, out, _ = cli(capsys, "verify", "--repair", sweep)
    assert code == 0 and "kept the operation after it" in out, out
    assert [p.name for p in sweep.glob("optuna_journal.log.corrupt-*")]
    run_toy(sweep, *ARGS, "hydra.sweeper.n_trials=4")
    assert len(load_study(sweep).trials) == 4
    assert_counts_match_jobs(sweep)


def _die_after_stage(sweep: str, job: str) -> None:
    os.environ[FAULT_ENV] = "after_stage"
    SweepManager(sweep, top_k=1).register_job_dir(job)
    os._exit(0)


@pytest.mark.filterwarnings("ignore::DeprecationWarning")  # fork in a test process
def test_reconcile_keeps_a_checkpoint_a_killed_registration_had_staged(tmp_path):
    """Found by the state machine: a registration killed after staging its file, the log lost,
    then the sweep's end registered the job again from run.json (whose path is gone)."""
    sweep = tmp_path / "sweep"
    SweepManager(sweep, top_k=1).finalize()
    job = sweep / "0"
    job.mkdir()
    (job / "best_model.pth").write_bytes(b"ckpt:0")
    (job / "run.json").write_text(
        json.dumps(
            {"run_name": "job0", "status": "complete", "best_value": 0.0, "checkpoint": str(job / "best_model.pth")}
        )
    )
    proc = mp.get_context("fork").Process(target=_die_after_stage, args=(str(sweep), str(job)))
    proc.start()
    proc.join(60)
    assert [p.name for p in (sweep / "best_models").iterdir()][0].startswith(".incoming_")
    (sweep / "runs.jsonl").unlink()
    SweepManager(sweep, top_k=1).finalize()
    SweepManager(sweep, top_k=1).repair()
    assert (sweep / "best_models" / "rank_01_job0_best_model.pth").read_bytes() == b"ckpt:0"
    assert [e["run_id"] for e in SweepManager(sweep).get_best_models()] == ["0"]


def test_a_run_registered_again_keeps_the_fingerprint_of_its_ranked_file(tmp_path):
    """Found by the state machine: the sweep's end registered a promoted job again (its log was
    lost); the job then ran again without registering; a repair must not take the rerun's file
    for the old record (it would rank it with the old value)."""
    sweep = tmp_path / "sweep"
    hydra_like_sweep(sweep, [0.1], top_k=1)
    (sweep / "runs.jsonl").unlink()
    SweepManager(sweep, top_k=1).finalize()  # recovers the log; registers job 0 again from run.json
    (sweep / "0" / "best_model.pth").write_bytes(b"ckpt:rerun")  # a rerun that never registered
    record = json.loads((sweep / "0" / "run.json").read_text())
    (sweep / "0" / "run.json").write_text(json.dumps({**record, "best_value": 0.5}))
    (sweep / "best_models" / "rank_01_job0_best_model.pth").unlink()  # the ranked file, deleted by hand
    SweepManager(sweep, top_k=1).repair()
    assert SweepManager(sweep).state()["top"] == []  # its record's file is gone; the rerun's is not it
    assert (sweep / "0" / "best_model.pth").read_bytes() == b"ckpt:rerun"  # left alone
