"""A damaged Optuna journal file: finding the damage, and mending it.

Optuna's ``JournalFileBackend`` appends one JSON object per line under a lock. A writer killed
mid-append leaves a torn line; Optuna skips a torn *last* line, but the next append starts right
after the torn bytes, so the two merge into one line that does not parse, and from then on the
journal cannot be read at all. :func:`damaged_journal_lines` finds such lines; :func:`mend_journal` keeps a copy
of the file aside and replaces each by the intact operation at its end (the next writer's), or
drops it when none is there. Written by hand: Optuna has no repair for its journal.
"""

from __future__ import annotations

import json
import shutil
import time
from pathlib import Path
from typing import Any

from sweepkit._io import atomic_write_text


def damaged_journal_lines(path: Path) -> list[int]:
    """Line numbers (from 1) of the complete lines that are not a JSON object, except a last one
    (Optuna skips a torn last line)."""
    try:
        lines = path.read_bytes().splitlines(keepends=True)
    except OSError:
        return []
    bad = [n for n, line in enumerate(lines, 1) if _parse(line) is None]
    return [n for n in bad if n < len(lines) or lines[-1].endswith(b"\n")]


def mend_journal(path: Path) -> list[str]:
    """Mend the journal (see the module's doc); returns what it did, one line each."""
    lines = path.read_bytes().splitlines(keepends=True)
    damaged = set(damaged_journal_lines(path))
    if not damaged:
        return []
    aside = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%d-%H%M%S')}")
    shutil.copy2(path, aside)
    out, actions = [], [f"kept the damaged {path.name} aside as {aside.name}"]
    for number, line in enumerate(lines, 1):
        if number not in damaged:
            out.append(line)
            continue
        tail = _intact_tail(line)
        if tail is None:
            actions.append(f"dropped line {number} of {path.name} (a write cut short)")
        else:
            out.append(tail)
            actions.append(f"line {number} of {path.name}: dropped a write cut short, kept the operation after it")
    atomic_write_text(path, b"".join(out).decode("utf-8", errors="replace"))
    return actions


def _parse(line: bytes) -> dict[str, Any] | None:
    try:
        value = json.loads(line)
    except ValueError:
        return None
    return value if isinstance(value, dict) else None


def _intact_tail(line: bytes) -> bytes | None:
    """The longest end of ``line`` that is one JSON object (the operation appended after a torn one)."""
    start = line.find(b"{", 1)
    while start >= 0:
        if _parse(line[start:]) is not None:
            return line[start:] if line.endswith(b"\n") else line[start:] + b"\n"
        start = line.find(b"{", start + 1)
    return None
