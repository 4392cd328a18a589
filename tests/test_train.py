"""The task end to end through the real train.py: one run, a 2-job multirun, bad input."""

from __future__ import annotations

import json
import math
import re

import pytest
import torch
from omegaconf import OmegaConf

from sweepkit.forecast.models import build_model
from sweepkit.forecast.models.dmixer import DMixer
from sweepkit.forecast.training import lr_factor, run_fingerprint

from conftest import TINY, TINY_DATA, run_train

pytestmark = pytest.mark.integration


def test_dmixer_shapes_and_tiny_overfit():
    torch.manual_seed(0)
    model = DMixer(n_features=3, lookback=32, horizon=8, d_model=32, d_ff=16, n_blocks=2, dropout=0.0)
    x = torch.randn(8, 32, 3)
    y = torch.randn(8, 8, 3)
    assert model(x).shape == (8, 8, 3)
    opt = torch.optim.Adam(model.parameters(), lr=1e-2)
    first = None
    for _ in range(200):
        opt.zero_grad()
        loss = torch.nn.functional.mse_loss(model(x), y)
        loss.backward()
        opt.step()
        first = first if first is not None else loss.item()
    assert loss.item() < 0.1 * first


def test_unknown_model_and_bad_hyperparameter():
    with pytest.raises(ValueError, match="model.name='nope' is not a model"):
        build_model(OmegaConf.create({"name": "nope"}), 2, 8, 4)
    with pytest.raises(ValueError, match="n_blocks"):
        build_model(OmegaConf.create({"name": "dmixer", "n_blocks": 0}), 2, 8, 4)


def test_single_run_writes_record_and_checkpoint(tmp_path):
    out = run_train(["dataset=Wind", *TINY, "trainer.max_epochs=2", f"hydra.run.dir={tmp_path}/run"], tmp_path)
    assert out.returncode == 0, out.stderr
    log = out.stdout + out.stderr
    assert "epoch   1/2" in log and "epoch   2/2" in log and "best val_loss" in log
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "complete" and len(record["history"]) == 2
    assert record["data"]["source"] == "file" and record["data"]["name"] == "Wind"
    assert len(record["data"]["sha256"]) == 64
    assert math.isfinite(record["best_value"]) and set(record["test"]) == {"mse", "mae"}
    # a single run is not a sweep: its checkpoint stays in the run directory
    ckpt = torch.load(tmp_path / "run" / "best_model.pth", weights_only=True)
    assert ckpt["epoch"] == record["best_epoch"] and "model_state" in ckpt
    assert not (tmp_path / "run" / "best_models").exists()


def test_test_scoring_can_be_skipped_and_a_bad_value_is_named(tmp_path):
    """trainer.test=false ends a run without scoring the test split; the checkpoint is kept as usual,
    and the setting does not stop a killed run from resuming."""
    out = run_train(["dataset=Wind", *TINY, "trainer.test=false", f"hydra.run.dir={tmp_path}/run"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "complete" and record.get("test") is None
    assert math.isfinite(record["best_value"])
    assert "test not scored (trainer.test=false)" in out.stdout + out.stderr
    assert (tmp_path / "run" / "best_model.pth").is_file()
    cfg = OmegaConf.create(record["config"])
    other = OmegaConf.merge(cfg, {"trainer": {"test": True}})
    assert run_fingerprint(cfg) == run_fingerprint(other)
    out = run_train(["dataset=Wind", *TINY, "trainer.test=maybe", f"hydra.run.dir={tmp_path}/bad"], tmp_path)
    assert out.returncode != 0 and "trainer.test='maybe'" in out.stderr


def test_multirun_two_jobs(tmp_path):
    """Two jobs at once (joblib): each epoch line names its job, sweepkit's reports carry the time."""
    sweep = tmp_path / "sweep"
    parallel = ["hydra/launcher=joblib", "hydra.launcher.n_jobs=2"]
    out = run_train(
        ["-m", "sweeper=grid", "dataset=Solar", *TINY, "model.d_model=8,16", *parallel, f"hydra.sweep.dir={sweep}"],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    text = out.stdout + out.stderr
    epochs = re.findall(r"\[sweepkit.train\]\[INFO\] - (.*?)epoch +\d+/\d+ ", text)
    assert set(epochs) == {"job 0: ", "job 1: "}  # every epoch line names its job
    assert re.search(r"^\[\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3}\]\[sweepkit\] Sweep finished: 2 runs", text, re.M)
    for job in ("0", "1"):
        record = json.loads((sweep / job / "run.json").read_text())
        assert record["status"] == "complete" and record["job_num"] == int(job)
        assert (sweep / job / ".hydra" / "overrides.yaml").is_file()
    assert json.loads((sweep / "1" / "run.json").read_text())["params"]["model.d_model"] == 16


def test_a_trial_is_never_pruned_at_its_last_epoch(tmp_path):
    """With one epoch, the median pruner would stop every trial worse than the first; the
    training loop does not ask it at the last epoch, so each trial counts as complete."""
    sweep = tmp_path / "sweep"
    out = run_train(
        [
            "-m",
            "sweeper=random",
            "hydra/sweeper/pruner=median",
            "dataset=Solar",
            *TINY,
            "hydra.sweeper.pruner.n_startup_trials=1",
            "hydra.sweeper.n_trials=4",
            "hydra.sweeper.sampler.seed=0",
            f"hydra.sweep.dir={sweep}",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    records = [json.loads(p.read_text()) for p in sweep.glob("*/run.json")]
    assert len(records) == 4
    assert all(r["status"] == "complete" and r["epoch"] == 1 for r in records), records


def test_diverging_run_ends_cleanly_with_failed_status(tmp_path):
    out = run_train(
        [
            "dataset=Wind",
            *TINY,
            "trainer.max_epochs=3",
            "trainer.lr=1e12",
            "trainer.grad_clip=null",
            "model.revin=false",
            f"hydra.run.dir={tmp_path}/run",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "failed" and "diverged" in record["error"]


def test_bad_input_is_named(tmp_path):
    out = run_train(["dataset=Nope"], tmp_path)
    assert out.returncode != 0 and "Nope" in out.stderr
    out = run_train(
        ["dataset=Wind", *TINY, f"dataset.path={tmp_path}/missing.csv", f"hydra.run.dir={tmp_path}/r"], tmp_path
    )
    assert out.returncode != 0 and "data file not found" in out.stderr
    out = run_train(["dataset=Wind", *TINY, "dataset.horizon=100000", f"hydra.run.dir={tmp_path}/r2"], tmp_path)
    assert out.returncode != 0 and "horizon" in out.stderr


@pytest.mark.parametrize(
    "override, line",
    [
        ("model.d_model=abc", "model.d_model='abc' is not a whole number: give one, e.g. model.d_model=64"),
        ("+model.widht=3", "model.widht is not a setting of model dmixer: use one of d_model, d_ff, n_blocks"),
        ("trainer.progress=fancy", "trainer.progress must be one of"),
        ("trainer.device=cuda:7", "trainer.device=cuda:7"),
        ("dataset.path=/nonexistent/wind.csv", "data file not found"),
    ],
)
def test_a_setting_that_cannot_work_ends_a_single_run_in_one_line(tmp_path, override, line):
    """Sweepkit's own setting and data errors: one stderr line naming the key, the value and the
    fix, exit status 1, no traceback, found before the data loads where they can be."""
    env = {"HYDRA_FULL_ERROR": "0"}
    out = run_train(["dataset=Wind", *TINY, override, f"hydra.run.dir={tmp_path}/r"], tmp_path, env=env)
    assert out.returncode == 1
    errors = [x for x in out.stderr.splitlines() if x.strip()]
    assert len(errors) == 1 and errors[0].startswith("[sweepkit] ERROR: ") and line in errors[0], out.stderr
    if not override.startswith("dataset."):
        assert "windows" not in out.stdout + out.stderr  # refused before the data was loaded
    full = run_train(["dataset=Wind", *TINY, override, f"hydra.run.dir={tmp_path}/f"], tmp_path)  # HYDRA_FULL_ERROR=1
    assert full.returncode == 1 and "Traceback" in full.stderr


def test_a_sweep_whose_trials_fail_on_a_setting_stops_in_one_line(tmp_path):
    sweep = tmp_path / "sweep"
    args = ["-m", "dataset=Wind", *TINY, "model.d_model=abc", "hydra.sweeper.n_trials=2", f"hydra.sweep.dir={sweep}"]
    out = run_train(args, tmp_path, env={"HYDRA_FULL_ERROR": "0"})
    assert out.returncode == 1 and "Traceback" not in out.stderr
    assert "[sweepkit] ERROR: 1 of 1 trials failed" in out.stderr
    assert "model.d_model='abc' is not a whole number" in out.stderr
    assert "Sweep finished" not in out.stdout + out.stderr


def test_cfg_job_and_help_list_groups(tmp_path):
    out = run_train(["--cfg", "job", "model.d_model=128"], tmp_path)
    assert out.returncode == 0 and "d_model: 128" in out.stdout
    out = run_train(["--help"], tmp_path)
    assert out.returncode == 0
    for group in ("model:", "dataset:", "trainer:", "logger:"):
        assert group in out.stdout


def test_linear_model_trains_through_train_py_with_warmup(tmp_path):
    out = run_train(
        [
            "dataset=Wind",
            *TINY_DATA,
            "model=linear",
            "model.norm=level",
            "trainer.max_epochs=2",
            "trainer.warmup_epochs=1",
            "trainer.schedule_epochs=4",
            f"hydra.run.dir={tmp_path}/run",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "complete" and record["model"] == "linear"
    first, second = (h["lr"] for h in record["history"])
    assert first < 0.01 * second  # warming up from near zero, then about the full lr
    assert second == pytest.approx(1e-3 * lr_factor(1, 1, 4))
    assert math.isfinite(record["test"]["mse"])


def test_s5_linear_skip_ridge_keeps_the_ridge_map_through_training(tmp_path):
    """model.linear_skip=ridge fits ridge on the run's own train split, and training moves the S5
    stack, never the ridge map."""
    from sweepkit.forecast.baselines import fit_ridge
    from sweepkit.forecast.data import load_series, split_and_scale

    tiny_s5 = ["model=s5", "model.d_model=8", "model.state_size=8", "model.num_blocks=2", "model.n_layers=1"]
    overrides = ["dataset=Wind", *TINY_DATA, *tiny_s5, "model.linear_skip=ridge", "trainer.max_epochs=2"]
    out = run_train([*overrides, f"hydra.run.dir={tmp_path}/run"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert "linear skip starts from ridge (alpha" in out.stdout + out.stderr
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    dcfg = OmegaConf.create(record["config"]["dataset"])
    splits = split_and_scale(load_series(dcfg).values, dcfg.lookback, dcfg.horizon, tuple(dcfg.split))
    ridge = torch.as_tensor(fit_ridge(splits).weights, dtype=torch.float32)
    state = torch.load(tmp_path / "run" / "best_model.pth", weights_only=True)["model_state"]
    torch.testing.assert_close(state["linear_skip.weight"][0], ridge[:-1].T)
    torch.testing.assert_close(state["linear_skip.bias"][0], ridge[-1])
    assert state["decoder.weight"].abs().max() > 0  # the stack trained from its zero start


def test_progress_lines_when_piped_and_a_bar_on_a_terminal(caplog):
    from sweepkit.forecast.progress import EpochProgress, resolve_mode

    class Tty:
        def isatty(self):
            return True

    assert resolve_mode("auto", Tty()) == "bar" and resolve_mode("auto", object()) == "log"
    with pytest.raises(ValueError, match="trainer.progress"):
        resolve_mode("loud")
    now = [0.0]
    progress = EpochProgress("log", 2, 5, total_batches=10, every_s=30, clock=lambda: now[0])
    with caplog.at_level("INFO", logger="sweepkit.train"):
        for _ in range(9):
            now[0] += 10.0  # 10 s per batch of 64 windows: a line every third batch
            progress.update(64)
    lines = [r.getMessage() for r in caplog.records]
    assert len(lines) == 3 and lines[0].startswith("epoch 2/5: 3/10 batches (30%), 6 windows/s, ~70 s left")
    assert progress.rate() == pytest.approx(6.4)
    bar = EpochProgress("bar", 1, 1, total_batches=3)
    for _ in range(3):
        bar.update(8)
    bar.close()
    assert bar.bar.n == 3


def test_max_time_ends_training_after_the_epoch_it_passes_in(tmp_path):
    """trainer.max_time cuts a run short: the epoch running then is validated, kept and the last."""
    out = run_train(
        [
            "dataset=Wind",
            *TINY,
            "dataset.max_rows=6000",
            "trainer.batch_size=16",
            "trainer.max_epochs=50",
            "trainer.patience=null",
            "trainer.max_time=0.5",
            f"hydra.run.dir={tmp_path}/run",
        ],
        tmp_path,
    )
    assert out.returncode == 0, out.stderr[-3000:]
    record = json.loads((tmp_path / "run" / "run.json").read_text())
    assert record["status"] == "complete" and 1 <= len(record["history"]) < 50
    assert record["time_limit"] == {"max_time": 0.5, "epoch": len(record["history"])}
    assert "trainer.max_time=0.5s reached" in out.stdout + out.stderr
    assert math.isfinite(record["test"]["mse"])  # the best epoch so far is evaluated as usual
    out = run_train(["dataset=Wind", *TINY, "trainer.max_time=-1", f"hydra.run.dir={tmp_path}/bad"], tmp_path)
    assert out.returncode != 0 and "trainer.max_time=-1" in out.stderr


def test_a_sweep_limits_its_trials_time_and_a_single_run_does_not(tmp_path):
    """The default Hyperband preset gives each trial of a sweep 300 s (an override); a run, none."""
    sweep = tmp_path / "sweep"
    out = run_train(["-m", "dataset=Wind", *TINY, "hydra.sweeper.n_trials=1", f"hydra.sweep.dir={sweep}"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    assert json.loads((sweep / "0" / "run.json").read_text())["config"]["trainer"]["max_time"] == 300
    assert json.loads((sweep / "0" / "run.json").read_text())["config"]["trainer"]["epoch_windows"] == 8192
    assert "trainer.max_time=300" in (sweep / "0" / ".hydra" / "overrides.yaml").read_text()
    out = run_train(["dataset=Wind", *TINY, f"hydra.run.dir={tmp_path}/run"], tmp_path)
    assert out.returncode == 0, out.stderr[-3000:]
    trainer = json.loads((tmp_path / "run" / "run.json").read_text())["config"]["trainer"]
    assert trainer["max_time"] is None and trainer["epoch_windows"] is None


def test_epoch_windows_draws_a_fresh_subset_each_epoch_and_bad_values_are_named(tmp_path):
    """trainer.epoch_windows: each shuffled pass yields that many distinct windows, not the same ones."""
    from types import SimpleNamespace

    import numpy as np

    from sweepkit.forecast.training import WindowSampler

    starts = {"train": np.arange(100), "val": np.arange(10), "test": np.arange(10)}
    splits = SimpleNamespace(data=np.arange(200, dtype=np.float32)[:, None], lookback=4, horizon=2, starts=starts)
    sampler = WindowSampler(splits, torch.device("cpu"))
    generator = torch.Generator().manual_seed(0)

    def epoch(limit):
        return torch.cat([x[:, 0, 0] for x, _ in sampler.batches("train", 16, True, generator, limit)])

    first, second = epoch(30), epoch(30)
    assert len(first) == len(set(first.tolist())) == 30 and len(second) == 30
    assert set(first.tolist()) != set(second.tolist())
    assert sorted(epoch(None).tolist()) == list(range(100)) == sorted(epoch(1000).tolist())
    out = run_train(["dataset=Wind", *TINY, "trainer.epoch_windows=0", f"hydra.run.dir={tmp_path}/bad"], tmp_path)
    assert out.returncode != 0 and "trainer.epoch_windows=0" in out.stderr
