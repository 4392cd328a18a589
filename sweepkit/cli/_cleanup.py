"""``cleanup``: delete finished sweeps whose last write is older than N days (a dry run by default).

Safety: a sweep that is still running is never deleted (the one liveness probe decides, and the
deletion holds the sweep's driver lock, so no driver starts meanwhile); nothing outside the root is touched;
links are removed as links, never followed (``os.walk(followlinks=False)`` + ``os.lstat``).
"""

from __future__ import annotations

import argparse
import os
import stat
import sys
import time
from pathlib import Path
from typing import TypedDict

from sweepkit._liveness import exclusive
from sweepkit.cli._render import Table, fmt_bytes, fmt_time, print_json, style
from sweepkit.cli._sweeps import Sweep, dir_size, display_path, find_sweeps, search_root
from sweepkit.errors import CliError, SweepRunningError
from sweepkit.records import is_inside


class _Entry(TypedDict):
    """A sweep cleanup deletes (or would), as listed and in the --json output."""

    sweep: str
    path: str
    updated: float
    bytes: int


def run(args: argparse.Namespace) -> int:
    root, _depth = search_root(args.path)
    sweeps = find_sweeps(args.path)
    root_real = os.path.realpath(root)
    cutoff = time.time() - args.days * 86400
    chosen: list[Sweep] = []
    running: list[Sweep] = []
    for sweep in sweeps:
        if sweep.updated > cutoff:
            continue
        if not is_inside(sweep.path, root_real):
            continue  # cannot happen with find_sweeps; a guard for the invariant
        (running if sweep.running else chosen).append(sweep)
    entries: list[_Entry] = [
        {"sweep": s.name, "path": str(s.path.absolute()), "updated": s.updated, "bytes": dir_size(s.path)}
        for s in chosen
    ]
    deleted, failures = [], []
    refused = {s.name: str(s.activity) for s in running}
    if args.live:
        for sweep, entry in zip(chosen, entries):
            try:
                with exclusive(sweep.path, "delete it"):  # looks again, and no driver starts meanwhile
                    remove_tree(sweep.path, root_real)
                deleted.append(entry)
            except SweepRunningError as exc:
                running.append(sweep)
                refused[sweep.name] = str(exc.activity)
            except OSError as exc:
                failures.append(f"{sweep.name}: {exc}")
    for sweep in running:
        print(f"sweepkit cleanup: {sweep.name} is still running ({refused[sweep.name]}); not deleted", file=sys.stderr)
    for failure in failures:
        print(f"sweepkit cleanup: error: could not delete {failure}", file=sys.stderr)
    listed = deleted if args.live else entries
    total = sum(e["bytes"] for e in listed)
    if args.json:
        print_json(
            {
                "live": args.live,
                "days": args.days,
                "sweeps": listed,
                "bytes": total,
                "running": [s.name for s in running],
            }
        )
    elif not listed:
        print(f"nothing to delete: no finished sweep under {display_path(root)} is older than {args.days:g} days")
    else:
        verb = "deleted" if args.live else "would delete"
        table = Table(["sweep", "last write", "size"], align_right={"size"})
        for entry in listed:
            table.add(entry["sweep"], fmt_time(entry["updated"]), fmt_bytes(entry["bytes"]))
        table.print()
        print(style(f"{verb} {len(listed)} sweep(s), {fmt_bytes(total)} ({total} bytes)", "bold"))
        if not args.live:
            print("dry run: nothing was deleted; add --live to delete")
    return 1 if running or failures else 0


def remove_tree(path: Path, root_real: str) -> None:
    """Delete ``path`` and everything below it; links are unlinked, never followed."""
    if stat.S_ISLNK(os.lstat(path).st_mode):
        raise CliError(f"{path} is a link; refusing to delete through it")
    if not is_inside(path, root_real):
        raise CliError(f"{path} is outside {root_real}; refusing to delete it")
    for top, dirs, files in os.walk(path, topdown=False, followlinks=False):
        for name in files:
            os.unlink(os.path.join(top, name))
        for name in dirs:
            full = os.path.join(top, name)
            if stat.S_ISLNK(os.lstat(full).st_mode):
                os.unlink(full)  # a link to a directory: remove the link only
            else:
                os.rmdir(full)
    os.rmdir(path)
