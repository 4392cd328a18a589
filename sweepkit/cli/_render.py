"""Terminal output: tables (rich on a terminal when installed, else plain text), colour, numbers."""

from __future__ import annotations

import json
import math
import os
import sys
import time
from typing import Any, Iterable, Sequence, TextIO

from sweepkit._io import jsonable

SPARKS = "▁▂▃▄▅▆▇█"


def use_colour(stream: TextIO | None = None) -> bool:
    """Colour only on a terminal, and never when ``NO_COLOR`` is set."""
    stream = stream or sys.stdout
    return bool(getattr(stream, "isatty", lambda: False)()) and "NO_COLOR" not in os.environ


_CODES = {"bold": "1", "dim": "2", "red": "31", "green": "32", "yellow": "33", "cyan": "36"}


def style(text: str, *names: str) -> str:
    """``text`` wrapped in ANSI codes when stdout is a terminal, unchanged otherwise."""
    if not names or not use_colour():
        return text
    return f"\x1b[{';'.join(_CODES[n] for n in names)}m{text}\x1b[0m"


STATUS_STYLE = {
    "complete": "green",
    "pruned": "yellow",
    "failed": "red",
    "killed": "red",
    "running": "cyan",
    "finished": "green",
}


def fmt_num(value: Any, digits: int = 6) -> str:
    if value is None:
        return "-"
    if isinstance(value, bool):
        return str(value).lower()
    if isinstance(value, float):
        if not math.isfinite(value):
            return str(value)
        return f"{value:.{digits}g}"
    return str(value)


def fmt_bytes(n: int | float | None) -> str:
    if n is None:
        return "-"
    n = float(n)
    for unit in ("B", "KB", "MB", "GB", "TB"):
        if abs(n) < 1024 or unit == "TB":
            return f"{n:.0f} {unit}" if unit == "B" else f"{n:.1f} {unit}"
        n /= 1024
    return f"{n:.1f} TB"


def fmt_time(ts: float | None) -> str:
    if not ts:
        return "-"
    return time.strftime("%Y-%m-%d %H:%M", time.localtime(ts))


def sparkline(values: Sequence[float | None], width: int = 30) -> str:
    """A one-line curve (lower value = lower bar); None/NaN shows as a space."""
    finite = [v for v in values if isinstance(v, (int, float)) and math.isfinite(v)]
    if not finite:
        return ""
    if len(values) > width:  # keep the shape: sample evenly
        step = len(values) / width
        values = [values[int(i * step)] for i in range(width - 1)] + [values[-1]]
    lo, hi = min(finite), max(finite)
    span = (hi - lo) or 1.0
    out = []
    for v in values:
        if not isinstance(v, (int, float)) or not math.isfinite(v):
            out.append(" ")
        else:
            out.append(SPARKS[min(len(SPARKS) - 1, int((v - lo) / span * len(SPARKS)))])
    return "".join(out)


def progress_bar(done: int, total: int | None, width: int = 30) -> str:
    if not total:
        return f"{done} trials done"
    frac = max(0.0, min(1.0, done / total))
    filled = int(round(frac * width))
    return f"[{'#' * filled}{'.' * (width - filled)}] {done}/{total} ({frac:.0%})"


class Table:
    """Rows under a header; printed with rich on a terminal when available, else plain."""

    def __init__(self, columns: Sequence[str], title: str | None = None, align_right: Iterable[str] = ()) -> None:
        self.columns = list(columns)
        self.title = title
        self.rows: list[list[str]] = []
        self.right = set(align_right)
        self.styles: list[str | None] = []

    def add(self, *cells: Any, row_style: str | None = None) -> None:
        self.rows.append([c if isinstance(c, str) else fmt_num(c) for c in cells])
        self.styles.append(row_style)

    def render_plain(self, indent: str = "") -> str:
        widths = [max([len(c)] + [len(r[i]) for r in self.rows]) for i, c in enumerate(self.columns)]
        lines = [f"{indent}{self.title}"] if self.title else []

        def line(cells: list[str]) -> str:
            parts = [c.rjust(w) if col in self.right else c.ljust(w) for c, w, col in zip(cells, widths, self.columns)]
            return (indent + "  ".join(parts)).rstrip()

        lines.append(style(line(self.columns), "bold"))
        for row, row_style in zip(self.rows, self.styles):
            text = line(row)
            lines.append(style(text, row_style) if row_style else text)
        return "\n".join(lines)

    def print(self, out: TextIO | None = None, indent: str = "") -> None:
        out = out or sys.stdout
        if use_colour(out):
            try:
                from rich.console import Console
                from rich.table import Table as RichTable
            except ImportError:
                pass
            else:
                table = RichTable(
                    title=self.title,
                    title_justify="left",
                    box=None,
                    header_style="bold",
                    pad_edge=False,
                    padding=(0, 2, 0, 0),
                )
                for col in self.columns:
                    table.add_column(col, justify="right" if col in self.right else "left")
                for row, row_style in zip(self.rows, self.styles):
                    table.add_row(*row, style=row_style)
                from rich.padding import Padding

                Console(file=out, highlight=False).print(Padding(table, (0, 0, 0, len(indent))))
                return
        print(self.render_plain(indent), file=out)


def write_file(path: "os.PathLike[str] | str", data: bytes) -> None:
    """Write a user-facing output file whole (temp file + rename), with the usual permissions."""
    path = os.fspath(path)
    tmp = os.path.join(os.path.dirname(path) or ".", f".{os.path.basename(path)}.{os.getpid()}.tmp")
    try:
        with open(tmp, "wb") as handle:
            handle.write(data)
        os.replace(tmp, path)
    except BaseException:
        if os.path.exists(tmp):
            os.unlink(tmp)
        raise


def print_json(obj: Any, out: TextIO | None = None) -> None:
    json.dump(jsonable(obj), out or sys.stdout, indent=2)
    (out or sys.stdout).write("\n")
