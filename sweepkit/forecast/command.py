"""``sweepkit leaderboard``: baselines, each finished sweep's best checkpoint and published anchors.

A command of the forecasting workload, offered to the ``sweepkit`` CLI through the
``sweepkit.commands`` entry-point group (see ``docs/cli.md``): this module has ``HELP``,
``add_arguments(parser)`` and ``run(args)``, and raises ImportError at import where the workload's
extra (``sweepkit[forecast]``: torch) is not installed, so the CLI leaves the command out.
The work is in :mod:`sweepkit.forecast.leaderboard`; it (and torch) is imported only when the
command runs, so ``sweepkit --help`` stays fast. The result, as JSON, is left in every sweep that
has a row (:func:`sweepkit.cli.leaderboard_path`), where ``sweepkit report`` shows it.
"""

from __future__ import annotations

import argparse
import importlib.util
import json
import os
import sys
import time
from pathlib import Path
from typing import Any

from sweepkit.cli import CliError, display_path

if importlib.util.find_spec("torch") is None:  # cheap: nothing is imported
    raise ImportError("the forecasting workload needs torch: pip install 'sweepkit[forecast]'")

HELP = "baselines and each sweep's best checkpoint on the test split"


def add_arguments(p: argparse.ArgumentParser) -> None:
    p.add_argument(
        "path",
        nargs="?",
        metavar="PATH",
        help="a folder above sweeps (default: $SWEEPKIT_OUTPUTS, else the sweeps found below the working directory)",
    )
    p.add_argument("--dataset", required=True, help="the dataset's name (Wind, Solar)")
    p.add_argument(
        "--lookback",
        type=int,
        nargs="+",
        default=[96],
        metavar="N",
        help="the baselines' lookback(s) (default 96; e.g. --lookback 96 336)",
    )
    p.add_argument(
        "--dataset-config",
        metavar="FILE",
        help="data settings (a conf/dataset/*.yaml); default: the newest matching sweep's, "
        "else conf/dataset/<DATASET>.yaml in the working directory",
    )
    p.add_argument("--data-path", metavar="FILE", help="read the series from this file (dataset.path)")
    p.add_argument("--per-channel", action="store_true", help="also the test MSE of every channel")
    p.add_argument(
        "--seeds",
        type=int,
        default=0,
        metavar="N",
        help="retrain the configuration best on val with seeds 0..N-1; report mean and spread",
    )
    p.add_argument(
        "--seeds-dir", metavar="DIR", help="where the seed runs go (default outputs/leaderboard/<dataset>_<time>)"
    )
    p.add_argument("--threads", type=int, default=1, metavar="N", help="torch CPU threads (default 1)")
    p.add_argument("--html", metavar="FILE", help="also write the table as a self-contained HTML page")


def _load_dataset_cfg(path: str) -> Any:
    """A conf/dataset/*.yaml with ``${paths.data_dir}`` resolved as train.py would."""
    from omegaconf import OmegaConf

    doc = {"paths": {"data_dir": os.environ.get("SWEEPKIT_DATA_DIR", "data")}, "dataset": OmegaConf.load(path)}
    return OmegaConf.create(OmegaConf.to_container(OmegaConf.create(doc), resolve=True)).dataset


def run(args: argparse.Namespace) -> int:
    from sweepkit.forecast.leaderboard import build_board, format_board, retrain_seeds

    if args.html and not Path(args.html).absolute().parent.is_dir():
        raise CliError(f"cannot write {args.html}: folder {Path(args.html).absolute().parent} does not exist")
    dcfg = None
    if args.dataset_config:
        if not Path(args.dataset_config).is_file():
            raise CliError(f"--dataset-config {args.dataset_config}: no such file")
        dcfg = _load_dataset_cfg(args.dataset_config)
    default = Path("conf") / "dataset" / f"{args.dataset}.yaml"
    try:
        try:
            board = build_board(args.path, args.dataset, args.lookback, dcfg, args.threads, args.data_path)
        except LookupError:  # no sweep to take the data settings from
            if not default.is_file():
                raise CliError(
                    f"no finished sweep of {args.dataset} under {args.path} and no {default} here; "
                    "give --dataset-config FILE"
                ) from None
            board = build_board(
                args.path, args.dataset, args.lookback, _load_dataset_cfg(str(default)), args.threads, args.data_path
            )
    except ValueError as exc:  # e.g. a bad data file (DataError)
        raise CliError(str(exc)) from None
    if args.seeds:
        sweeps = [r for r in board.rows if r.kind == "sweep"]
        if not sweeps:
            raise CliError(f"--seeds: no sweep of {args.dataset} to take a configuration from")
        top = min(sweeps, key=lambda r: r.val.mse if r.val else float("inf"))  # chosen on val, never on test
        out = Path(
            args.seeds_dir or Path("outputs") / "leaderboard" / f"{args.dataset}_{time.strftime('%Y-%m-%d_%H-%M-%S')}"
        )
        log = (lambda *a: None) if args.json else print
        log(
            f"retraining {top.name} from {display_path(Path(top.extra['config']))} with {args.seeds} seed(s) "
            f"into {display_path(out)}"
        )
        row = retrain_seeds(top.extra["config"], list(range(args.seeds)), out, args.threads, log=log)
        row.extra["sweep"] = top.extra["sweep"]
        board.rows.append(row)
        board.rows.sort(key=lambda r: r.test.mse if r.test else float("inf"))
    result = board.as_dict()
    if args.json:
        print(json.dumps(result, indent=2))
    else:
        print(format_board(board, args.per_channel))
    save(result, args.html)
    return 0


def save(board: dict[str, Any], html: str | None) -> None:
    """Leave ``board`` in each sweep it has a row of (for ``sweepkit report``; a sweep that cannot
    take it, read-only say, gets a warning) and, with ``html``, write it as a page."""
    from sweepkit._io import atomic_write_json
    from sweepkit.cli import leaderboard_page, leaderboard_path, write_file

    for sweep in dict.fromkeys(r["sweep"] for r in board["rows"] if r["kind"] == "sweep"):
        path = leaderboard_path(Path(sweep))
        try:
            path.parent.mkdir(exist_ok=True)
            atomic_write_json(path, board)
        except OSError as exc:
            print(
                f"sweepkit leaderboard: warning: cannot save it in {display_path(Path(sweep))}: {exc}", file=sys.stderr
            )
        else:
            print(f"saved in {display_path(path)} (`sweepkit report` shows it)", file=sys.stderr)
    if html:
        write_file(html, leaderboard_page(board).encode("utf-8"))
        print(f"wrote {html}", file=sys.stderr)
