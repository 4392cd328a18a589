"""The leaderboard: baselines, each finished sweep's best checkpoint and published anchors, on test.

For one dataset the table lists, on the same standardised scale and the same test windows:

* the reference baselines of :mod:`sweepkit.forecast.baselines` (ridge with alpha chosen on val,
  naive mean, repeat last, seasonal naive) at each of the leaderboard's lookbacks (default 96);
* for every sweep of that dataset found under a folder, its rank-1 checkpoint (chosen by the
  sweep's validation objective, never by test), re-evaluated on the val and test splits;
* the published zero-shot anchors for the dataset and horizon (:data:`ANCHORS`).

The test targets of a split do not depend on the lookback (see ``split_and_scale``), so rows with
different lookbacks are comparable; rows with another horizon, split, row limit or data file are
left out with the reason. ``seeds`` retrains the best sweep's configuration with several seeds
and reports the mean and sample standard deviation of its test scores.
"""

from __future__ import annotations

import copy
import math
import statistics
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

from omegaconf import OmegaConf

from sweepkit.forecast.baselines import Score, baseline_scores
from sweepkit.forecast.data import Series, Splits, load_series, split_and_scale

#: Published test MSE on the TFB protocol (7:1:2 split, lookback 96 for the zero-shot models):
#: {(dataset, horizon): [(label, mse, mae or None)]}.
ANCHORS: dict[tuple[str, int], list[tuple[str, float, float | None]]] = {
    ("Wind", 96): [("Aurora (zero-shot, published)", 0.951, None), ("MOIRAI (zero-shot, published)", 0.963, None)],
}


@dataclass
class Row:
    """One leaderboard entry; ``kind`` is baseline, sweep, seeds or published."""

    name: str
    kind: str
    lookback: int | None
    val: Score | None
    test: Score | None
    detail: str = ""
    extra: dict[str, Any] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        out = {"name": self.name, "kind": self.kind, "lookback": self.lookback, "detail": self.detail, **self.extra}
        for split in ("val", "test"):
            score = getattr(self, split)
            out[split] = (
                None
                if score is None
                else {
                    "mse": _num(score.mse),
                    "mae": _num(score.mae),
                    "mse_per_channel": score.mse_per_channel,
                    "mae_per_channel": score.mae_per_channel,
                }
            )
        return out


def _num(value: float) -> float | None:
    """NaN (not known, e.g. a published MAE) as None, so the JSON stays standard."""
    return None if value is None or math.isnan(value) else value


@dataclass
class Board:
    """A dataset's leaderboard: its rows (best test MSE first), the data it was scored on, and
    what was left out and why."""

    dataset: str
    horizon: int
    lookbacks: list[int]
    series: dict[str, Any]
    columns: list[str]
    test_windows: int
    rows: list[Row]
    skipped: list[str]
    generated: float = field(default_factory=time.time)

    def as_dict(self) -> dict[str, Any]:
        return {
            "dataset": self.dataset,
            "horizon": self.horizon,
            "lookbacks": self.lookbacks,
            "series": self.series,
            "columns": self.columns,
            "test_windows": self.test_windows,
            "generated": self.generated,
            "rows": [r.as_dict() for r in self.rows],
            "skipped": self.skipped,
        }


def _data_key(dcfg: Any) -> dict[str, Any]:
    """What must agree for two runs to share test windows (besides the series itself)."""
    return {
        "horizon": int(dcfg.horizon),
        "split": [float(r) for r in dcfg.split],
        "max_rows": dcfg.get("max_rows"),
        "columns": list(dcfg.get("columns") or []),
    }


class _Data:
    """Series and splits by lookback, loaded once per dataset config."""

    def __init__(self, dcfg: Any) -> None:
        self.dcfg = dcfg
        self.series: Series = load_series(dcfg)
        self._splits: dict[int, Splits] = {}

    def splits(self, lookback: int) -> Splits:
        if lookback not in self._splits:
            self._splits[lookback] = split_and_scale(
                self.series.values, lookback, int(self.dcfg.horizon), tuple(self.dcfg.split)
            )
        return self._splits[lookback]


def evaluate_checkpoint(path: str | Path, data: _Data, threads: int | None = 1) -> tuple[Score, Score, dict]:
    """Load a checkpoint written by the training loop and score it on val and test."""
    import torch

    from sweepkit.forecast.models import build_model
    from sweepkit.forecast.training import WindowSampler, evaluate

    if threads:
        torch.set_num_threads(int(threads))
    state = torch.load(path, map_location="cpu", weights_only=True)
    splits = data.splits(int(state["lookback"]))
    if int(state["horizon"]) != splits.horizon or int(state["n_features"]) != splits.data.shape[1]:
        raise ValueError(
            f"{path}: horizon {state['horizon']} / {state['n_features']} channels, the data has "
            f"{splits.horizon} / {splits.data.shape[1]}"
        )
    model = build_model(state["model"], int(state["n_features"]), splits.lookback, splits.horizon)
    model.load_state_dict(state["model_state"])
    sampler = WindowSampler(splits, torch.device("cpu"))
    scores = [evaluate(model, sampler, split, 256, per_channel=True) for split in ("val", "test")]
    return (*(Score(s["mse"], s["mae"], s["mse_per_channel"], s["mae_per_channel"]) for s in scores), state)


def _sweeps_of(root: Path, dataset: str):
    from sweepkit.cli import CliError, find_sweeps

    try:
        sweeps = find_sweeps(root)
    except CliError:
        return []
    return [s for s in sweeps if s.dataset == dataset]


def build_board(
    root: str | Path,
    dataset: str,
    lookbacks: Sequence[int] = (96,),
    dataset_cfg: Any = None,
    threads: int | None = 1,
    data_path: str | None = None,
) -> Board:
    """The leaderboard of ``dataset`` from the sweeps under ``root`` (see the module docstring).

    The data settings come from ``dataset_cfg`` if given, else from the newest matching sweep's
    best run (LookupError when there is none); ``data_path`` replaces their file (``path``);
    the baselines are computed at each of ``lookbacks``.
    """
    candidates = []  # (sweep, best run, its config)
    skipped: list[str] = []
    sweeps = _sweeps_of(Path(root), dataset)
    if not sweeps:
        skipped.append(f"no sweep of {dataset} found under {root}")
    for sweep in sweeps:
        if sweep.running:
            skipped.append(f"{sweep.name}: still running")
            continue
        ranked = [r for r in sweep.ranked() if r.get("checkpoint") and r.get("config")]
        if not ranked:
            skipped.append(f"{sweep.name}: no ranked checkpoint yet")
            continue
        best = ranked[0]
        if not Path(best["checkpoint"]).is_file() or not Path(best["config"]).is_file():
            skipped.append(f"{sweep.name}: rank-1 checkpoint or config missing (try `sweepkit verify --repair`)")
            continue
        cfg = OmegaConf.create(OmegaConf.to_container(OmegaConf.load(best["config"]), resolve=True))
        candidates.append((sweep, best, cfg))
    if dataset_cfg is None:
        if not candidates:
            raise LookupError(f"no finished sweep of {dataset} found under {root}, and no dataset config given")
        dataset_cfg = candidates[0][2].dataset
    dcfg = copy.deepcopy(dataset_cfg)
    if data_path:
        dcfg.path = str(data_path)
    data = _Data(dcfg)
    sha = data.series.sha256
    rows: list[Row] = []
    period = dcfg.get("steps_per_day")
    for lookback in dict.fromkeys(int(n) for n in lookbacks):
        splits = data.splits(lookback)
        if period and int(period) > lookback:
            skipped.append(f"seasonal_naive at lookback {lookback}: its period ({period} steps, one day) is longer")
        base = baseline_scores(splits, period=period)
        for name, scores in base.items():
            if name in ("repeat_last", "seasonal_naive") and any(r.name == name for r in rows):
                continue  # the same forecast at every lookback
            detail = f"alpha {scores['alpha']:g} (chosen on val)" if name == "ridge" else ""
            rows.append(Row(name, "baseline", lookback, scores["val"], scores["test"], detail))
    for sweep, best, cfg in candidates:
        theirs, ours = _data_key(cfg.dataset), _data_key(dcfg)
        if theirs != ours:
            differ = ", ".join(f"{k} {theirs[k]} (not {ours[k]})" for k in ours if theirs[k] != ours[k])
            skipped.append(f"{sweep.name}: other test windows: {differ}")
            continue
        record = sweep.job_record(best) or {}
        run_sha = (record.get("data") or {}).get("sha256")
        if run_sha != sha:
            skipped.append(
                f"{sweep.name}: trained on other data ({(record.get('data') or {}).get('source')}, "
                f"sha256 {str(run_sha)[:8]}) than the leaderboard's"
            )
            continue
        val, test, state = evaluate_checkpoint(best["checkpoint"], data, threads)
        counts = sweep.counts()
        rows.append(
            Row(
                str(cfg.model.name),
                "sweep",
                int(state["lookback"]),
                val,
                test,
                f"{sweep.name} #1 {best.get('run_name')} best epoch {best.get('best_epoch')}"
                f" ({sum(counts.values())} trials)",
                {
                    "sweep": str(sweep.path.absolute()),
                    "run_name": best.get("run_name"),
                    "config": best["config"],
                    "checkpoint": best["checkpoint"],
                },
            )
        )
    for label, mse, mae in ANCHORS.get((dataset, int(dcfg.horizon)), []):
        rows.append(Row(label, "published", None, None, Score(mse, mae if mae is not None else math.nan)))
    rows.sort(key=lambda r: r.test.mse if r.test else math.inf)
    return Board(
        dataset,
        int(dcfg.horizon),
        list(dict.fromkeys(int(n) for n in lookbacks)),
        data.series.provenance(),
        data.series.columns,
        len(splits.starts["test"]),
        rows,
        skipped,
    )


def retrain_seeds(
    config_path: str | Path, seeds: Sequence[int], out_dir: str | Path, threads: int | None = 1, log=print
) -> Row:
    """Train the configuration in ``config_path`` once per seed (run dirs under ``out_dir``) and
    return a row with the mean val MSE (at each run's best epoch) and mean test scores; ``extra``
    holds every seed's val and test MSE and the sample standard deviations (0 for one seed)."""
    from sweepkit.forecast.training import run_training

    cfg = OmegaConf.load(config_path)
    results = []
    for seed in seeds:
        run_cfg = copy.deepcopy(cfg)
        run_cfg.trainer.seed = int(seed)
        run_cfg.trainer.test = True  # a sweep may have skipped it; these runs are scored on test
        if threads:
            run_cfg.trainer.num_threads = int(threads)
        run_dir = Path(out_dir) / f"seed_{seed}"
        run_dir.mkdir(parents=True, exist_ok=True)
        started = time.perf_counter()
        result = run_training(run_cfg, run_dir, {"run_name": f"{cfg.model.name}_{cfg.dataset.name}_seed{seed}"})
        if result.test is None:
            raise RuntimeError(f"seed {seed}: the run ended {result.status} without a checkpoint")
        log(
            f"seed {seed}: best {result.record.get('metric_name', 'val')} {result.objective:.4f}  "
            f"test_mse {result.test['mse']:.4f}  test_mae {result.test['mae']:.4f}  "
            f"({time.perf_counter() - started:.0f} s)"
        )
        results.append(result)

    def spread(values: list[float]) -> float:
        return statistics.stdev(values) if len(values) > 1 else 0.0

    test_mse = [r.test["mse"] for r in results]
    test_mae = [r.test["mae"] for r in results]
    val_mse = [next(h["val_loss"] for h in r.record["history"] if h["epoch"] == r.best_epoch) for r in results]
    return Row(
        f"{cfg.model.name} x{len(seeds)} seeds",
        "seeds",
        int(cfg.dataset.lookback),
        Score(statistics.fmean(val_mse), math.nan),
        Score(statistics.fmean(test_mse), statistics.fmean(test_mae)),
        f"mean of seeds {', '.join(map(str, seeds))}; test_mse sd {spread(test_mse):.4f}, "
        f"test_mae sd {spread(test_mae):.4f}",
        {
            "seeds": list(seeds),
            "val_mse": val_mse,
            "test_mse": test_mse,
            "test_mae": test_mae,
            "test_mse_sd": spread(test_mse),
            "test_mae_sd": spread(test_mae),
            "config": str(config_path),
        },
    )


def _fmt(value: float | None) -> str:
    return "-" if value is None or (isinstance(value, float) and math.isnan(value)) else f"{value:.4f}"


def format_board(board: Board, per_channel: bool = False) -> str:
    """The board as a plain-text table (test split), best test MSE first."""
    series = board.series
    source = series["source"] if series["source"] != "file" else f"file {Path(series['path']).name}"
    lines = [
        f"Leaderboard {board.dataset}: {source}, {series['rows']} x {series['channels']}, horizon "
        f"{board.horizon}, {board.test_windows} test windows; baselines at lookback "
        f"{', '.join(map(str, board.lookbacks))}",
        "  scores on the standardised scale; sweeps' best runs were chosen on val, never on test",
    ]
    if series["source"] == "synthetic":
        lines.append("  WARNING: a SYNTHETIC series, not real data (point dataset.path at the file)")
    head = f"  {'model':<32} {'kind':<9} {'lookback':>8} {'val_mse':>8} {'test_mse':>8} {'test_mae':>8}  detail"
    lines.append(head)
    for row in board.rows:
        lines.append(
            f"  {row.name:<32} {row.kind:<9} {('-' if row.lookback is None else row.lookback):>8} "
            f"{_fmt(row.val.mse if row.val else None):>8} {_fmt(row.test.mse if row.test else None):>8} "
            f"{_fmt(row.test.mae if row.test else None):>8}  {row.detail}".rstrip()
        )
    if per_channel:
        lines.append("")
        lines.append("  test MSE per channel")
        names = [c[:12] for c in board.columns]
        lines.append(f"  {'model':<32} " + " ".join(f"{n:>12}" for n in names))
        for row in board.rows:
            if row.test and row.test.mse_per_channel:
                lines.append(f"  {row.name:<32} " + " ".join(f"{v:>12.4f}" for v in row.test.mse_per_channel))
    for reason in board.skipped:
        lines.append(f"  left out: {reason}")
    return "\n".join(lines)
