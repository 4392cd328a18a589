"""The ``sweepkit`` command line: argument parsing and dispatch (subcommands load lazily)."""

from __future__ import annotations

import argparse
import logging
import os
import sys
import time
from functools import cache
from importlib import import_module
from types import ModuleType
from typing import Callable, TypeVar

from sweepkit._version import __version__

EXAMPLES = """\
examples:
  sweepkit summarize                          every sweep found here, newest first
  sweepkit summarize outputs/sweeps/s5/Solar  only the sweeps below that folder
  sweepkit analyze                            the newest sweep: metric spread, importance, curves
  sweepkit compare --label model=s5           one row per sweep whose model group chose s5
  sweepkit list --json                        sweep folders, size, runs, running (as JSON)
  sweepkit export SWEEP --output runs.csv     one row per run (.csv, .json, .parquet)
  sweepkit cleanup --days 30                  what would be deleted (a dry run)
  sweepkit cleanup --days 30 --live           delete finished sweeps older than 30 days
  sweepkit monitor                            live view of the running sweep (Ctrl-C to quit)
  sweepkit verify SWEEP --repair              check a sweep against its manifest and mend it
  sweepkit prune --top-k 2 SWEEP              what keeping only the best 2 would delete
  sweepkit report SWEEP --output report.html  a self-contained HTML page with plots
  sweepkit dashboard SWEEP --port 8080        optuna-dashboard on the sweep's study

exit codes: 0 success, 1 no sweep found or a failure, 2 bad usage.
With no PATH, sweeps are found by what Hydra and sweepkit wrote (multirun.yaml, the manifest,
.sweepkit/, a job's .hydra/hydra.yaml naming its hydra.sweep.dir) anywhere up to 6 folders below
the working directory (outputs/, logs/<task>/multiruns/, multirun/, an app's own hydra.sweep.dir);
SWEEPKIT_OUTPUTS=DIR searches DIR instead.
SWEEP_DEBUG=1 logs what the command does to stderr.
"""

#: subcommand -> (module, one-line help)
COMMANDS = {
    "summarize": ("_summary", "status, best run, top k and disk use of each sweep"),
    "analyze": ("_analyze", "metric distribution, best params, param importance, curves"),
    "compare": ("_summary", "all sweeps side by side, one row each"),
    "list": ("_summary", "sweep directories with date, size, run count, running or not"),
    "export": ("_export", "one row per run to .csv, .json or .parquet"),
    "cleanup": ("_cleanup", "delete finished sweeps older than N days (dry run unless --live)"),
    "monitor": ("_monitor", "live view of a running sweep"),
    "verify": ("_verify", "check a sweep against its manifest; --repair mends it"),
    "prune": ("_prune", "change how many checkpoints a sweep keeps (dry run unless --live)"),
    "report": ("_report", "self-contained HTML report with interactive plots"),
    "dashboard": ("_dashboard", "serve the sweep's Optuna study with optuna-dashboard"),
}

#: The entry-point group through which other packages add commands (docs/cli.md).
COMMAND_GROUP = "sweepkit.commands"


class _Formatter(argparse.RawDescriptionHelpFormatter):
    pass


@cache
def added_commands(only: str | None = None) -> tuple[dict[str, ModuleType], dict[str, str]]:
    """The commands other packages add (the ``sweepkit.commands`` entry-point group: a module
    with ``HELP``, ``add_arguments(parser)`` and ``run(args) -> int``), and, for each one that
    cannot load (its extra is not installed, say), why. ``only``: load just that command (the
    others' modules, and the packages they import, stay unloaded)."""
    from importlib.metadata import entry_points

    found: dict[str, ModuleType] = {}
    missing: dict[str, str] = {}
    for point in entry_points(group=COMMAND_GROUP):
        if point.name in COMMANDS or point.name in found or (only is not None and point.name != only):
            continue  # a built-in command, or a second package's claim to a name, is not replaced
        try:
            module = point.load()
        except ImportError as exc:
            missing[point.name] = str(exc)
            continue
        if not all(hasattr(module, attr) for attr in ("HELP", "add_arguments", "run")):
            missing[point.name] = f"{point.value} lacks HELP, add_arguments or run"
            continue
        found[point.name] = module
    return found, missing


_N = TypeVar("_N", int, float)


def _number(
    parse: Callable[[str], _N], minimum: float, inclusive: bool, not_a_number: str, too_small: str
) -> Callable[[str], _N]:
    """An argparse type: ``parse(text)``, finite and above (or, if inclusive, at) ``minimum``."""

    def convert(text: str) -> _N:
        try:
            value = parse(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{not_a_number}, got {text!r}") from None
        if not (value >= minimum if inclusive else value > minimum) or value == float("inf"):
            raise argparse.ArgumentTypeError(f"{too_small}, got {text!r}")
        return value

    return convert


_days = _number(float, 0, True, "--days must be a number of days", "--days must be 0 or more")
_positive_int = _number(int, 1, True, "expected a whole number", "expected 1 or more")
_seconds = _number(float, 0, False, "expected seconds", "expected more than 0 seconds")
_port_number = _number(int, 0, True, "expected a port number", "expected a port from 0 to 65535")


def _port(text: str) -> int:
    port = _port_number(text)
    if port > 65535:
        raise argparse.ArgumentTypeError(f"expected a port from 0 to 65535, got {text!r}")
    return port


def build_parser(command: str | None = None) -> argparse.ArgumentParser:
    """The parser of every command (``command``: of the built-in ones and that one only)."""
    parser = argparse.ArgumentParser(
        prog="sweepkit",
        formatter_class=_Formatter,
        epilog=EXAMPLES,
        description="Look at and manage sweepkit sweeps (Hydra multirun directories).",
    )
    parser.add_argument("--version", action="version", version=f"sweepkit {__version__}")
    parser.add_argument(
        "--json", action="store_true", help="machine-readable output (read-only commands, cleanup, verify)"
    )
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--json", action="store_true", default=argparse.SUPPRESS, help="machine-readable output")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    sub.required = True

    def add(name: str, path_help: str, default: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(
            name, parents=[common], help=COMMANDS[name][1], description=COMMANDS[name][1], formatter_class=_Formatter
        )
        p.add_argument("path", nargs="?", default=default, metavar="PATH", help=path_help)
        return p

    found = "default: $SWEEPKIT_OUTPUTS, else the sweeps found below the working directory"
    one = f"a sweep directory, or a folder above sweeps (the newest is used; {found})"
    many = f"a sweep directory or a folder above sweeps ({found})"
    p = add("summarize", many)
    p.add_argument(
        "--top",
        type=_positive_int,
        default=None,
        metavar="K",
        help="rows of the top-k table (default: the sweep's top_k)",
    )
    add("analyze", one).add_argument(
        "--top", type=_positive_int, default=None, metavar="K", help="learning curves of the best K runs"
    )
    p = add("compare", many)
    p.add_argument(
        "--label",
        action="append",
        metavar="KEY=VALUE",
        help="only sweeps whose config group KEY chose VALUE (repeatable; e.g. --label model=mlp)",
    )
    p.add_argument("--model", help="shorthand for --label model=MODEL")
    p.add_argument("--dataset", help="shorthand for --label dataset=DATASET")
    add("list", many)
    p = add("export", many)
    p.add_argument(
        "--output",
        "-o",
        required=True,
        metavar="FILE",
        help="results.csv, results.json or results.parquet (parquet needs pyarrow); - writes CSV "
        "to stdout (JSON with --json)",
    )
    p = add("cleanup", many)
    p.add_argument(
        "--days", type=_days, required=True, metavar="N", help="sweeps whose last write is older than N days"
    )
    p.add_argument("--live", action="store_true", help="really delete (default: a dry run)")
    p = add("monitor", one)
    p.add_argument("--interval", type=_seconds, default=2.0, metavar="S", help="seconds between refreshes (default 2)")
    p.add_argument("--once", action="store_true", help="render one frame and exit")
    p = add("verify", one)
    p.add_argument("--repair", action="store_true", help="mend what the check finds")
    p = add("prune", one)
    p.add_argument(
        "--top-k", type=_positive_int, required=True, metavar="K", help="checkpoints the sweep keeps from now on"
    )
    p.add_argument("--live", action="store_true", help="really change it (default: a dry run)")
    p = add("report", one)
    p.add_argument(
        "--output", "-o", default="report.html", metavar="FILE", help="the HTML file to write (default report.html)"
    )
    p.add_argument("--png", metavar="DIR", help="also write each plot as a titled PNG image into DIR")
    p.add_argument("--svg", metavar="DIR", help="also write each plot as a titled SVG image into DIR")
    p.add_argument(
        "--top",
        type=_positive_int,
        default=None,
        metavar="K",
        help="runs in the top-k table and learning curves (default: the sweep's top_k)",
    )
    p.add_argument(
        "--leaderboard",
        metavar="FILE",
        help="add this leaderboard (the JSON of `sweepkit leaderboard --json`) to the page "
        "(default: the one `sweepkit leaderboard` left in the sweep, if any)",
    )
    p = add("dashboard", one)
    p.add_argument("--port", type=_port, default=8080, help="the port to serve on (default 8080; 0 picks a free one)")
    p.add_argument("--host", default="127.0.0.1", help="the address to serve on (default 127.0.0.1: this machine only)")
    added = {} if command in COMMANDS else added_commands(command)[0]
    for name, module in added.items():
        help_ = module.HELP
        module.add_arguments(
            sub.add_parser(name, parents=[common], help=help_, description=help_, formatter_class=_Formatter)
        )
    return parser


def _setup_logging() -> None:
    if os.environ.get("SWEEP_DEBUG", "") not in ("", "0", "false", "False"):
        logging.basicConfig(
            level=logging.DEBUG, stream=sys.stderr, format="[sweepkit %(relativeCreated)6.0fms] %(message)s"
        )
        logging.getLogger("sweepkit.cli").setLevel(logging.DEBUG)


def main(argv: list[str] | None = None) -> int:
    """Run the command; returns the exit code (0 ok, 1 failure or nothing found, 2 usage)."""
    command = next((a for a in (sys.argv[1:] if argv is None else argv) if not a.startswith("-")), None)
    added, unavailable = ({}, {}) if command in COMMANDS else added_commands(command)
    if command in unavailable:
        print(f"sweepkit {command}: error: {unavailable[command]}", file=sys.stderr)
        return 1
    parser = build_parser(command if command in COMMANDS or command in added else None)
    try:
        args = parser.parse_args(argv)
    except SystemExit as exc:  # argparse: --help/--version (0) or a usage error (2)
        return int(exc.code or 0)
    _setup_logging()
    log = logging.getLogger("sweepkit.cli")
    start = time.perf_counter()
    module = added.get(args.command) or import_module(f"sweepkit.cli.{COMMANDS[args.command][0]}")
    from sweepkit.errors import CliError

    try:
        code: int = module.run(args)
    except CliError as exc:
        print(f"sweepkit {args.command}: error: {exc}", file=sys.stderr)
        code = 1
    except KeyboardInterrupt:
        code = 0 if args.command == "monitor" else 130
    except BrokenPipeError:  # e.g. `sweepkit export ... | head`
        sys.stderr.close()
        code = 0
    log.debug("%s finished in %.3f s with exit code %d", args.command, time.perf_counter() - start, code)
    return code
