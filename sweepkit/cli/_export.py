"""``export``: one row per run (params as ``params.<name>`` columns) to CSV, JSON or Parquet."""

from __future__ import annotations

import csv
import json
import os
import sys
from pathlib import Path

from sweepkit.cli._render import write_file
from sweepkit.cli._sweeps import CliError, Sweep, find_sweeps

FORMATS = (".csv", ".json", ".parquet")
BASE_COLUMNS = ["sweep", "model", "dataset", "run_id", "run_name", "job_num", "status", "rank",
                "metric_name", "metric_value", "epoch", "epochs_run", "max_epochs", "test_mse",
                "test_mae", "started_at", "ended_at", "duration_s", "checkpoint", "config",
                "run_dir", "error"]


def run(args) -> int:
    output = Path(args.output)
    suffix = output.suffix.lower()
    if suffix not in FORMATS:
        print(f"sweepkit export: error: unknown output format {output.suffix or '(none)'!r} of "
              f"{output}; use one of {', '.join(FORMATS)}", file=sys.stderr)
        return 2
    if suffix == ".parquet":
        try:
            import pyarrow  # noqa: F401
        except ImportError:
            raise CliError("writing .parquet needs pyarrow, which is not installed: "
                           "`pip install pyarrow`, or export to .csv or .json") from None
    sweeps = find_sweeps(Path(args.path))
    columns, rows = export_rows(sweeps)
    errors = [e for s in sweeps for e in dict.fromkeys(s.errors)]
    for error in errors:
        print(f"sweepkit: error: {error}", file=sys.stderr)
    if not output.parent.is_dir():
        raise CliError(f"cannot write {output}: folder {output.parent} does not exist")
    if suffix == ".csv":
        write_csv(output, columns, rows)
    elif suffix == ".json":
        lines = ",\n".join(json.dumps(row, default=str) for row in rows)  # C encoder: fast
        write_file(output, f"[\n{lines}\n]\n".encode("utf-8"))
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(rows), output)
    print(f"wrote {len(rows)} runs x {len(columns)} columns from {len(sweeps)} sweep(s) "
          f"to {output}", file=sys.stderr)
    return 1 if errors else 0


def export_rows(sweeps: list[Sweep]) -> tuple[list[str], list[dict]]:
    """The column names and one flat dict per run of every sweep."""
    rows: list[dict] = []
    param_keys: dict[str, None] = {}
    for sweep in sweeps:
        name, model, dataset = sweep.name, sweep.model, sweep.dataset
        sweep_dir = str(sweep.path.absolute())
        for run in sweep.runs:
            test = run.get("test") if isinstance(run.get("test"), dict) else {}
            source = run.get("source_checkpoint")
            run_dir = (os.path.dirname(source) if source
                       else os.path.join(sweep_dir, str(run["run_id"])))
            row = {
                "sweep": name, "model": run.get("model") or model,
                "dataset": run.get("dataset") or dataset, "run_id": run.get("run_id"),
                "run_name": run.get("run_name"), "job_num": run.get("job_num"),
                "status": run.get("status"), "rank": run.get("rank"),
                "metric_name": run.get("metric_name") or sweep.metric_name,
                "metric_value": run.get("metric_value"), "epoch": run.get("epoch"),
                "epochs_run": run.get("epochs_run"), "max_epochs": run.get("max_epochs"),
                "test_mse": test.get("mse"), "test_mae": test.get("mae"),
                "started_at": run.get("started_at"), "ended_at": run.get("ended_at"),
                "duration_s": run.get("duration_s"), "checkpoint": run.get("checkpoint"),
                "config": run.get("config") or run.get("source_config"), "run_dir": run_dir,
                "error": run.get("error"),
            }
            for key, value in (run.get("params") or {}).items():
                column = f"params.{key}"
                param_keys.setdefault(column)
                row[column] = value
            rows.append(row)
    return BASE_COLUMNS + list(param_keys), rows


def write_csv(path: Path, columns: list[str], rows: list[dict]) -> None:
    tmp = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    try:
        with open(tmp, "w", newline="", encoding="utf-8") as handle:
            writer = csv.DictWriter(handle, fieldnames=columns, restval="")
            writer.writeheader()
            writer.writerows({k: ("" if v is None else v) for k, v in row.items()} for row in rows)
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
