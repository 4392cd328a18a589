"""A real PostgreSQL server as the study storage: real multiruns of the toy app, real processes.

The server (tests/postgres_server.py) runs on 127.0.0.1 with password authentication; the
sweeps get the URL through ``${oc.env:SWEEPKIT_TEST_PG}``, as the docs tell users to, except
where a test writes the password into the command line on purpose.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from pathlib import Path

import optuna
import pytest
from optuna.trial import TrialState
from test_sweeper_runs import check_trials_match_jobs, jobs, toy_command, toy_env

from sweepkit.sweeper import SweepConfigError, set_trial_ranks, trial_ranks
from sweepkit.sweeper._storage import check_driver, open_storage

from postgres_server import free_port, postgres_server

pytestmark = pytest.mark.integration

FROM_ENV = "hydra.sweeper.storage=${oc.env:SWEEPKIT_TEST_PG}"
PARALLEL = [
    "hydra/launcher=joblib",
    "hydra.launcher.n_jobs=2",
    "hydra.sweeper.n_jobs=2",
    "+hydra.callbacks.topk._target_=sweepkit.hooks.TopKCallback",
    "+hydra.callbacks.topk.verbose=false",
    "+sweepkit.metric_name=val_loss",
]


@pytest.fixture(scope="module")
def pg():
    with postgres_server() as server:
        yield server


@pytest.fixture
def db(pg, request):
    """A fresh database for the test; its URL (with the password)."""
    return pg.new_database(request.node.name.lower()[:60])


def start_toy(sweep: Path, url: str, *overrides: str) -> subprocess.Popen:
    sweep.parent.mkdir(parents=True, exist_ok=True)
    return subprocess.Popen(
        toy_command(sweep, *overrides),
        cwd=sweep.parent,
        env={**toy_env(), "SWEEPKIT_TEST_PG": url},
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def run_toy(
    sweep: Path, url: str, *overrides: str, ok: bool = True, timeout: float = 120
) -> subprocess.CompletedProcess:
    child = start_toy(sweep, url, *overrides)
    stdout, stderr = child.communicate(timeout=timeout)
    if ok:
        assert child.returncode == 0, stdout[-3000:] + stderr[-3000:]
    proc = subprocess.CompletedProcess(child.args, child.returncode, stdout, stderr)
    proc.pid = child.pid
    return proc


def load(url: str, name: str) -> optuna.Study:
    return optuna.load_study(study_name=name, storage=url)


def finished(study: optuna.Study) -> list[optuna.trial.FrozenTrial]:
    return [t for t in study.trials if t.state.is_finished() and "sweepkit_retried" not in t.user_attrs]


def test_hyperband_on_postgres_prunes_across_processes_feeds_optuna_tools_and_resumes(tmp_path, db):
    sweep = tmp_path / "hb"
    args = [
        FROM_ENV,
        "hydra.sweeper.study_name=hb",
        *PARALLEL,
        "trainer.max_epochs=4",
        "hydra.sweeper.sampler.seed=1",
        "hydra.sweeper.sampler.n_startup_trials=3",
    ]
    proc = run_toy(sweep, db, *args, "hydra.sweeper.n_trials=10")
    study, records = load(db, "hb"), jobs(sweep)
    assert [t.number for t in study.trials] == list(range(10))
    check_trials_match_jobs(study, records)
    pruned = [records[t.number] for t in study.trials if t.state == TrialState.PRUNED]
    assert pruned and any(t.state == TrialState.COMPLETE for t in study.trials)
    assert len({r["pid"] for r in records.values()}) == 2 and proc.pid not in {r["pid"] for r in pruned}
    # some pruned trial was compared with reports another worker process wrote to PostgreSQL
    assert any(
        q.number < t.number
        and records[q.number]["pid"] != records[t.number]["pid"]
        and t.user_attrs["sweepkit_pruned_at"] in q.intermediate_values
        for t in study.trials
        if t.state == TrialState.PRUNED
        for q in study.trials
    )

    # Optuna's tools: metric name, per-trial attributes, the current ranking
    assert study.metric_names == ["val_loss"]
    for trial in study.trials:
        assert trial.user_attrs["run_name"] == str(trial.number)
        assert trial.user_attrs["job_dir"] == str(sweep / str(trial.number))
        assert trial.user_attrs["status"] == trial.state.name.lower()
    manifest = json.loads((sweep / "sweep_results.json").read_text())
    ranks = trial_ranks(study)
    assert ranks == {e["job_num"]: (e["rank"], e["checkpoint"]) for e in manifest["top"]}
    assert all((sweep / checkpoint).exists() for _, checkpoint in ranks.values())
    ranked_at_end = [t for t in study.trials if "rank_at_end" in t.user_attrs]
    assert ranked_at_end and all(1 <= t.user_attrs["rank_at_end"] <= 3 for t in ranked_at_end)
    # a trial that entered the top k names its checkpoint (the file of that rank when it ended)
    assert all(t.user_attrs["checkpoint"].startswith("best_models/rank_") for t in ranked_at_end)
    assert study.user_attrs["rank_01"].endswith(manifest["top"][0]["checkpoint"])  # the lines for people

    # resume: n_trials is the total, numbering continues, the ranking follows the manifest
    run_toy(sweep, db, *args, "hydra.sweeper.n_trials=13")
    study = load(db, "hb")
    assert [t.number for t in study.trials] == list(range(13))
    assert sorted(jobs(sweep)) == list(range(13))
    manifest = json.loads((sweep / "sweep_results.json").read_text())
    assert trial_ranks(study) == {e["job_num"]: (e["rank"], e["checkpoint"]) for e in manifest["top"]}
    assert db.split("@")[0].split(":")[-1] not in proc.stdout + proc.stderr


def test_two_sweeps_share_the_server_with_their_own_studies(tmp_path, db):
    common = [FROM_ENV, *PARALLEL, "sweeper=random", "trainer.max_epochs=2", "epoch_seconds=0.05"]
    children = {
        name: start_toy(
            tmp_path / name,
            db,
            *common,
            f"hydra.sweeper.study_name={name}",
            "hydra.sweeper.n_trials=5",
            f"hydra.sweeper.sampler.seed={seed}",
        )
        for seed, name in enumerate(("alpha", "beta"))
    }
    for child in children.values():
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, out[-2000:] + err[-2000:]
    for name in children:
        study = load(db, name)
        assert [t.state for t in study.trials] == [TrialState.COMPLETE] * 5
        records = jobs(tmp_path / name)
        assert sorted(records) == list(range(5))
        for trial in study.trials:  # each job reported to its own sweep's trial
            assert trial.user_attrs["job_dir"] == str(tmp_path / name / str(trial.number))
            assert trial.value == pytest.approx(records[trial.number]["run"]["best_value"])
    assert sorted(s.study_name for s in optuna.get_all_study_summaries(db)) == ["alpha", "beta"]


def test_server_restart_mid_sweep_then_resume_finishes_the_budget(tmp_path, pg, db):
    sweep = tmp_path / "restart"
    args = [
        FROM_ENV,
        "hydra.sweeper.study_name=r",
        *PARALLEL,
        "sweeper=random",
        "trainer.max_epochs=4",
        "epoch_seconds=0.25",
        "hydra.sweeper.max_failure_rate=1.0",
        "hydra.sweeper.n_trials=6",
        "hydra.sweeper.resume.retry_failed=true",
    ]
    child = start_toy(sweep, db, *args)
    deadline = time.time() + 60
    while time.time() < deadline and child.poll() is None:
        try:
            if len([t for t in load(db, "r").trials if t.state.is_finished()]) >= 2:
                break
        except Exception:  # the study is not (fully) created yet
            pass
        time.sleep(0.2)
    assert child.poll() is None, "the sweep ended before the restart"
    pg.restart(down_s=3)  # running jobs and the sweeper lose their connections for 3 s
    out, err = child.communicate(timeout=120)  # no hang: storage calls wait out the restart
    first = load(db, "r")
    assert child.returncode == 0, err[-2000:]
    logs = out + err + "".join(p.read_text() for p in sweep.glob("*/toy_app.log"))
    assert "study storage unreachable (OperationalError); retrying" in logs  # the outage was hit
    assert [t.state for t in first.trials] == [TrialState.COMPLETE] * 6  # ... and ridden out
    # a resume finds nothing left to do, nothing running, nothing lost
    run_toy(sweep, db, *args)
    study = load(db, "r")
    numbers = [t.number for t in study.trials]
    assert numbers == list(range(len(numbers))) and len(numbers) >= len(first.trials)
    assert not [t for t in study.trials if t.state == TrialState.RUNNING]
    ok = [t for t in finished(study) if t.state != TrialState.FAIL]
    assert len(finished(study)) == 6 and ok
    records = jobs(sweep)
    for trial in ok:
        assert records[trial.number]["run"]["status"] == trial.state.name.lower()


STRESS = r"""
import json, sys, optuna
from sweepkit.sweeper._storage import open_storage
optuna.logging.set_verbosity(optuna.logging.WARNING)
study = optuna.load_study(study_name="stress", storage=open_storage(sys.argv[1]),
                          sampler=optuna.samplers.RandomSampler())  # the storage is under test
mine = []
for _ in range(50):
    trial = study.ask()
    study.tell(trial, trial.suggest_float("x", 0, 1))
    mine.append(trial.number)
print(json.dumps(mine))
"""


def test_eight_processes_ask_and_tell_fifty_trials_each(db):
    optuna.create_study(study_name="stress", storage=open_storage(db))
    children = [
        subprocess.Popen(
            [sys.executable, "-c", STRESS, db], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=toy_env()
        )
        for _ in range(8)
    ]
    told = []
    for child in children:
        out, err = child.communicate(timeout=120)
        assert child.returncode == 0, err[-2000:]
        told.append(json.loads(out))
    numbers = [n for mine in told for n in mine]
    assert len(numbers) == len(set(numbers)) == 400  # no duplicate trial numbers
    study = load(db, "stress")
    assert sorted(numbers) == [t.number for t in study.trials] == list(range(400))  # nothing lost
    assert all(t.state == TrialState.COMPLETE and t.value == t.params["x"] for t in study.trials)


def test_password_on_the_command_line_warns_and_stays_out_of_sweepkits_files(tmp_path, pg, db):
    sweep = tmp_path / "secret"
    proc = run_toy(
        sweep,
        db,
        f"hydra.sweeper.storage={db}",
        "hydra.sweeper.n_trials=2",
        "trainer.max_epochs=1",
        "+hydra.callbacks.topk._target_=sweepkit.hooks.TopKCallback",
    )
    out = proc.stdout + proc.stderr
    assert "holds a password in clear" in out and "${oc.env:" in out
    assert pg.password not in out
    assert "sweepkit:***@127.0.0.1" in (sweep / "optimization_results.yaml").read_text()
    for path in sweep.rglob("*"):
        if path.is_file() and ".hydra" not in path.parts:  # Hydra's own per-job files: the warning
            assert pg.password not in path.read_text(errors="replace"), path
    assert pg.password in (sweep / "0" / ".hydra" / "hydra.yaml").read_text()

    # through ${oc.env:...} (the fix): no warning, and no file of the sweep holds the password
    sweep = tmp_path / "env"
    proc = run_toy(
        sweep, db, FROM_ENV, "hydra.sweeper.study_name=env", "hydra.sweeper.n_trials=2", "trainer.max_epochs=1"
    )
    assert "password in clear" not in proc.stdout + proc.stderr
    for path in sweep.rglob("*"):
        if path.is_file():
            assert pg.password not in path.read_text(errors="replace"), path


def test_unreachable_database_is_a_clear_error_within_seconds(tmp_path):
    url = f"postgresql://sweepkit:hunter2@127.0.0.1:{free_port()}/nothing"
    started = time.time()
    proc = run_toy(tmp_path / "down", url, FROM_ENV, "hydra.sweeper.n_trials=2", ok=False, timeout=60)
    assert proc.returncode != 0 and time.time() - started < 20
    assert "cannot open the study storage 'postgresql://sweepkit:***@127.0.0.1" in proc.stderr
    assert "hunter2" not in proc.stdout + proc.stderr
    assert not list((tmp_path / "down").glob("[0-9]*")), "no job may start"
    # a host that does not answer at all: the connect timeout ends the wait
    started = time.time()
    with pytest.raises(SweepConfigError, match="cannot open the study storage"):
        open_storage("postgresql://u:p@10.255.255.1:5432/db?connect_timeout=2")
    assert time.time() - started < 10


def test_study_with_other_direction_is_refused(tmp_path, db):
    optuna.create_study(study_name="taken", storage=open_storage(db), direction="maximize")
    proc = run_toy(
        tmp_path / "dir", db, FROM_ENV, "hydra.sweeper.study_name=taken", "hydra.sweeper.n_trials=2", ok=False
    )
    assert proc.returncode != 0
    assert "study 'taken' exists with direction maximize" in proc.stderr
    assert load(db, "taken").trials == [], "nothing may be added to the other study"


def test_missing_driver_names_the_package(monkeypatch):
    with pytest.raises(SweepConfigError, match=r"psycopg2.*pip install psycopg2-binary"):
        check_driver("postgresql+psycopg2://u:secret@host/db")  # psycopg2 is not installed
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "psycopg" else real(name, *a))
    with pytest.raises(SweepConfigError, match=r"sweepkit\[postgres\]") as err:
        check_driver("postgresql://u:secret@host/db")
    assert "secret" not in str(err.value)


def test_ranking_is_rewritten_only_when_it_changes(tmp_path, monkeypatch):
    from sweepkit.sweeper._trial_attrs import TOP_K_ATTR, TrialAttrs

    study = optuna.create_study(storage=open_storage(f"journal://{tmp_path / 'j.log'}"))
    writes = []
    real = study.set_user_attr
    monkeypatch.setattr(study, "set_user_attr", lambda k, v: (writes.append(k), real(k, v)))
    attrs = TrialAttrs(study, tmp_path)
    top = [{"rank": 1, "trial": 0, "run_name": "0", "value": 0.5, "checkpoint": "best_models/a.pth"}]
    attrs.publish(study, top)
    attrs.publish(study, [dict(e) for e in top])  # same ranking: no write
    assert writes == [TOP_K_ATTR, "rank_01"] and trial_ranks(study) == {0: (1, "best_models/a.pth")}
    assert study.user_attrs["rank_01"] == "0 (trial 0): 0.5, best_models/a.pth"  # for people
    second = {**top[0], "rank": 2, "trial": 1, "run_name": "1", "value": 0.75, "checkpoint": None}
    attrs.publish(study, top + [second])
    assert writes[2:] == [TOP_K_ATTR, "rank_01", "rank_02"] and set(trial_ranks(study)) == {0, 1}
    assert study.user_attrs["rank_02"] == "1 (trial 1): 0.75, no checkpoint"
    attrs.publish(study, [{**second, "rank": 1}])  # the ranking shrinks: the old second line is cleared
    assert study.user_attrs["rank_01"] == "1 (trial 1): 0.75, no checkpoint" and study.user_attrs["rank_02"] == "-"


@pytest.mark.parametrize("directions", [["minimize"], ["minimize", "maximize"]])
def test_a_ranking_computed_elsewhere_is_recorded_on_the_study(tmp_path, directions):
    url = f"journal://{tmp_path / 'j.log'}"
    study = optuna.create_study(study_name="s", storage=open_storage(url), directions=directions)
    for number in range(3):
        trial = study.ask()
        trial.set_user_attr("run_name", f"run_{number}")
        study.tell(trial, [0.1 * (number + 1)] * len(directions))
    ranks = {0: (2, None), 2: (1, "best_models/rank_01.pth")}
    set_trial_ranks(url, "s", ranks)
    reloaded = optuna.load_study(study_name="s", storage=open_storage(url))
    assert trial_ranks(reloaded) == ranks
    top = reloaded.user_attrs["top_k"]
    assert [e["trial"] for e in top] == [2, 0]  # rank order, whatever the mapping's order
    assert [e["run_name"] for e in top] == ["run_2", "run_0"]
    told = {2: 0.1 * 3, 0: 0.1 * 1}
    expected = [told[n] if len(directions) == 1 else [told[n]] * 2 for n in (2, 0)]
    assert [e["value"] for e in top] == expected
