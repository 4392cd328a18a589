"""``export``: one row per run to CSV, JSON or Parquet, for any app.

Columns: the run's identity, status, metric and rank; one column per config group the sweep
chose (``model``, ``data``, ... from the runs' labels or the jobs' ``.hydra/hydra.yaml``); one
``params.<name>`` column per parameter whose value differs between the exported runs; one column
per test metric any run recorded (``test/acc`` as is, a bare ``mse`` as ``test_mse``). A sweep
that ranks several metrics adds ``metric.<name>`` per metric and ``on_front`` (whether the run is
on its Pareto front; ``rank`` is then its place among the kept runs).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import sys
from pathlib import Path
from typing import Any

from sweepkit.cli._render import print_json, write_file
from sweepkit.cli._summary import test_metrics, varying_params
from sweepkit.cli._sweeps import Sweep, find_sweeps
from sweepkit.errors import CliError

FORMATS = (".csv", ".json", ".parquet")
BASE_COLUMNS = [
    "sweep",
    "run_id",
    "run_name",
    "job_num",
    "status",
    "rank",
    "metric_name",
    "metric_value",
    "best_epoch",
    "epochs_run",
    "max_epochs",
    "started_at",
    "ended_at",
    "duration_s",
    "checkpoint",
    "config",
    "run_dir",
    "error",
]


def run(args: argparse.Namespace) -> int:
    """Write the rows to ``--output`` (``-`` for stdout: CSV, or JSON with ``--json``); with
    ``--json`` and a file, also print what was written as JSON."""
    to_stdout = args.output == "-"
    output = Path(args.output)
    suffix = (".json" if getattr(args, "json", False) else ".csv") if to_stdout else output.suffix.lower()
    if suffix not in FORMATS:
        print(
            f"sweepkit export: error: unknown output format {output.suffix or '(none)'!r} of "
            f"{output}; use one of {', '.join(FORMATS)}",
            file=sys.stderr,
        )
        return 2
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise CliError(
                "writing .parquet needs pyarrow, which is not installed: "
                "`pip install pyarrow`, or export to .csv or .json"
            ) from None
    sweeps = find_sweeps(args.path)
    columns, rows = export_rows(sweeps)
    errors = [e for s in sweeps for e in dict.fromkeys(s.errors)]
    for error in errors:
        print(f"sweepkit: error: {error}", file=sys.stderr)
    if to_stdout:
        if suffix == ".csv":
            write_csv_to(sys.stdout, columns, rows)
        else:
            print_json([{c: row.get(c) for c in columns} for row in rows])
        return 1 if errors else 0
    if not output.parent.is_dir():
        raise CliError(f"cannot write {output}: folder {output.parent} does not exist")
    if suffix == ".csv":
        write_csv(output, columns, rows)
    elif suffix == ".json":
        rows = [{c: row.get(c) for c in columns} for row in rows]  # every row, every column
        lines = ",\n".join(json.dumps(row, default=str) for row in rows)  # C encoder: fast
        write_file(output, f"[\n{lines}\n]\n".encode("utf-8"))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), output)
    print(f"wrote {len(rows)} runs x {len(columns)} columns from {len(sweeps)} sweep(s) to {output}", file=sys.stderr)
    if getattr(args, "json", False):
        print_json({"output": str(output), "runs": len(rows), "columns": columns, "sweeps": len(sweeps)})
    return 1 if errors else 0


def export_rows(sweeps: list[Sweep]) -> tuple[list[str], list[dict[str, Any]]]:
    """The column names and one flat dict per run of every sweep."""
    rows: list[dict[str, Any]] = []
    label_keys: dict[str, None] = {}
    all_runs = [run for sweep in sweeps for run in sweep.runs]
    varying = set(varying_params(all_runs))
    param_keys: dict[str, None] = {}
    metric_keys: dict[str, None] = {}
    test_keys = {name: test_column(name) for name in test_metrics(all_runs)}
    for sweep in sweeps:
        name, labels = sweep.name, sweep.labels
        sweep_dir = str(sweep.path.absolute())
        objectives = sweep.objectives
        on_front = {r["run_id"] for r in sweep.front()} if objectives else set()
        for run in sweep.runs:
            test = run["test"] if isinstance(run.get("test"), dict) else {}
            source = run.get("source_checkpoint")
            run_dir = os.path.dirname(source) if source else os.path.join(sweep_dir, str(run["run_id"]))
            row: dict[str, Any] = {"sweep": name}
            run_labels = run["labels"] if isinstance(run.get("labels"), dict) else labels
            for group, choice in run_labels.items():
                column = label_column(str(group))
                label_keys.setdefault(column)
                row[column] = choice
            row.update(
                {
                    "run_id": run.get("run_id"),
                    "run_name": run.get("run_name"),
                    "job_num": run.get("job_num"),
                    "status": run.get("status"),
                    "rank": run.get("rank"),
                    "metric_name": run.get("metric_name") or sweep.metric_name,
                    "metric_value": run.get("metric_value"),
                    "best_epoch": run.get("best_epoch"),
                    "epochs_run": run.get("epochs_run"),
                    "max_epochs": run.get("max_epochs"),
                    "started_at": run.get("started_at"),
                    "ended_at": run.get("ended_at"),
                    "duration_s": run.get("duration_s"),
                    "checkpoint": run.get("checkpoint"),
                    "config": run.get("config") or run.get("source_config"),
                    "run_dir": run_dir,
                    "error": run.get("error"),
                }
            )
            if objectives:
                values = run.get("metric_values") or [None] * len(objectives)
                for objective, value in zip(objectives, values):
                    column = f"metric.{objective['name']}"
                    metric_keys.setdefault(column)
                    row[column] = value
                metric_keys.setdefault("on_front")
                row["on_front"] = run.get("run_id") in on_front
            for key, column in test_keys.items():
                row[column] = test.get(key)
            for key, value in (run.get("params") or {}).items():
                if key in varying:
                    column = f"params.{key}"
                    param_keys.setdefault(column)
                    row[column] = value
            rows.append(row)
    base = BASE_COLUMNS[1:]
    at = base.index("metric_value") + 1
    columns = (
        ["sweep"]
        + list(label_keys)
        + base[:at]
        + list(metric_keys)
        + base[at:]
        + list(test_keys.values())
        + list(param_keys)
    )
    return columns, rows


def label_column(group: str) -> str:
    """A config group's column (``model``); ``group.<name>`` where that would shadow another."""
    return f"group.{group}" if group in BASE_COLUMNS or group.startswith(("test", "params.")) else group


def test_column(name: str) -> str:
    """A test metric's column: ``test/acc`` as recorded, a bare ``mse`` as ``test_mse``."""
    return name if name.startswith("test") else f"test_{name}"


def write_csv_to(handle: Any, columns: list[str], rows: list[dict[str, Any]]) -> None:
    writer = csv.DictWriter(handle, fieldnames=columns, restval="")
    writer.writeheader()
    writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)


def write_csv(path: Path, columns: list[str], rows: list[dict[str, Any]]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            write_csv_to(handle, columns, rows)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
