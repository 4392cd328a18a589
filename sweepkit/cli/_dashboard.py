"""``dashboard``: serve the sweep's Optuna study with optuna-dashboard (the ``dashboard`` extra)
on 127.0.0.1 until Ctrl-C.

The study carries what the sweeper labels (see :mod:`sweepkit.sweeper._trial_attrs`): the app's
metric names, each trial's run name, job directory, status, rank and checkpoint, and the current
ranking as study attributes ``rank_01``, ``rank_02``, ... that stay current while the sweep runs.
"""

from __future__ import annotations

import argparse
import sys
from typing import Any

from sweepkit.cli._sweeps import latest_sweep
from sweepkit.errors import CliError

DASHBOARD_EXTRA = "sweepkit[dashboard]"


def run(args: argparse.Namespace) -> int:
    try:
        import optuna_dashboard
    except ImportError:
        raise CliError(f"`sweepkit dashboard` serves optuna-dashboard: pip install '{DASHBOARD_EXTRA}'") from None
    from wsgiref.simple_server import WSGIRequestHandler, make_server

    from sweepkit.sweeper import open_storage

    sweep = latest_sweep(args.path)
    if sweep.storage is None:
        raise CliError(
            f"{sweep.name} has no Optuna study (no optuna_journal.log, no hydra.sweeper.storage): "
            "the dashboard shows sweeps of the sweepkit sweeper; `sweepkit report` draws any sweep"
        )
    storage = open_storage(sweep.storage)
    study = sweep.study
    app = optuna_dashboard.wsgi(storage)

    class Quiet(WSGIRequestHandler):
        def log_message(self, format: str, *values: Any) -> None:  # one line per request is noise
            pass

    try:
        server = make_server(args.host, args.port, app, handler_class=Quiet)
    except OSError as exc:
        raise CliError(
            f"cannot listen on {args.host}:{args.port} ({exc.strerror or exc}); pick another --port"
        ) from None
    with server:
        url = f"http://{args.host}:{server.server_port}/dashboard"
        if study is not None:
            url += f"/studies/{storage.get_study_id_from_name(study.study_name)}"
        print(f"serving {sweep.name} at {url} (Ctrl-C stops)", file=sys.stderr, flush=True)
        try:
            server.serve_forever()
        except KeyboardInterrupt:
            pass
    return 0
