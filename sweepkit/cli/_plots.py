"""Plots as lists of drawing primitives in pixel space, rendered to inline SVG (or PNG by
``_png``): optimization history, parallel coordinates, importance bars and curve plots."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from html import escape
from typing import Any, Callable, Sequence

WIDTH, HEIGHT = 640, 360
LEFT, RIGHT, TOP, BOTTOM = 72, 24, 34, 48
PALETTE = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#8c564b", "#e377c2", "#17becf", "#bcbd22", "#7f7f7f", "#ff7f0e"]
STATUS_COLOUR = {"complete": "#1f77b4", "pruned": "#ff7f0e", "failed": "#d62728", "killed": "#d62728"}
GRID, AXIS, BEST = "#dddddd", "#333333", "#2ca02c"


@dataclass
class Figure:
    """One plot: a name (file stem), a title, and primitives ``(kind, dict)`` in pixels."""

    name: str
    title: str
    width: int = WIDTH
    height: int = HEIGHT
    items: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def line(
        self, points: Sequence[tuple[float, float]], colour: str, width: float = 1.5, opacity: float = 1.0, **data: Any
    ) -> None:
        if len(points) >= 2:
            self.items.append(
                ("line", {"points": list(points), "colour": colour, "width": width, "opacity": opacity, "data": data})
            )

    def dot(self, x: float, y: float, colour: str, r: float = 3.5, **data: Any) -> None:
        self.items.append(("dot", {"x": x, "y": y, "r": r, "colour": colour, "data": data}))

    def rect(self, x: float, y: float, w: float, h: float, colour: str, **data: Any) -> None:
        self.items.append(("rect", {"x": x, "y": y, "w": w, "h": h, "colour": colour, "data": data}))

    def text(self, x: float, y: float, text: str, anchor: str = "middle", size: int = 11, colour: str = AXIS) -> None:
        self.items.append(("text", {"x": x, "y": y, "text": text, "anchor": anchor, "size": size, "colour": colour}))

    def to_svg(self) -> str:
        out = [
            f'<svg xmlns="http://www.w3.org/2000/svg" width="{self.width}" '
            f'height="{self.height}" viewBox="0 0 {self.width} {self.height}" '
            f'data-plot="{self.name}" font-family="sans-serif">',
            f'<rect width="{self.width}" height="{self.height}" fill="#ffffff"/>',
        ]
        for kind, p in self.items:
            attrs = "".join(f' data-{k}="{escape(str(v))}"' for k, v in p.get("data", {}).items())
            if kind == "line":
                pts = " ".join(f"{x:.1f},{y:.1f}" for x, y in p["points"])
                out.append(
                    f'<polyline points="{pts}" fill="none" stroke="{p["colour"]}" '
                    f'stroke-width="{p["width"]}" stroke-opacity="{p["opacity"]}"{attrs}/>'
                )
            elif kind == "dot":
                out.append(f'<circle cx="{p["x"]:.1f}" cy="{p["y"]:.1f}" r="{p["r"]}" fill="{p["colour"]}"{attrs}/>')
            elif kind == "rect":
                out.append(
                    f'<rect x="{p["x"]:.1f}" y="{p["y"]:.1f}" width="{p["w"]:.1f}" '
                    f'height="{p["h"]:.1f}" fill="{p["colour"]}"{attrs}/>'
                )
            else:
                out.append(
                    f'<text x="{p["x"]:.1f}" y="{p["y"]:.1f}" text-anchor="{p["anchor"]}" '
                    f'font-size="{p["size"]}" fill="{p["colour"]}">'
                    f"{escape(p['text'])}</text>"
                )
        out.append("</svg>")
        return "\n".join(out)


def fmt(value: float) -> str:
    return f"{value:.4g}"


class Scale:
    """Maps data values to pixels, linear or log10."""

    def __init__(self, lo: float, hi: float, p0: float, p1: float, log: bool = False) -> None:
        if log:
            lo, hi = math.log10(lo), math.log10(hi)
        if hi == lo:
            lo, hi = lo - 0.5, hi + 0.5
        pad = (hi - lo) * 0.05
        self.lo, self.hi, self.p0, self.p1, self.log = lo - pad, hi + pad, p0, p1, log

    def __call__(self, value: float) -> float:
        v = math.log10(value) if self.log else value
        return self.p0 + (v - self.lo) / (self.hi - self.lo) * (self.p1 - self.p0)

    def ticks(self, n: int = 5) -> list[float]:
        if self.log:
            decades = [10.0**e for e in range(math.ceil(self.lo), math.floor(self.hi) + 1)]
            if len(decades) >= 2:
                return decades
            lo, hi = 10.0**self.lo, 10.0**self.hi
            return [t for t in Scale(lo, hi, 0, 1).ticks(n) if lo <= t <= hi]
        raw = (self.hi - self.lo) / n
        mag = 10 ** math.floor(math.log10(raw))
        step = next(m * mag for m in (1, 2, 5, 10) if m * mag >= raw)
        start = math.ceil(self.lo / step) * step
        return [start + i * step for i in range(int((self.hi - start) / step) + 1)]


def wants_log(values: Sequence[float]) -> bool:
    return bool(values) and min(values) > 0 and max(values) / min(values) > 50


def axes(
    fig: Figure, xs: Sequence[float], ys: Sequence[float], xlabel: str, ylabel: str, ylog: bool | None = None
) -> tuple[Scale, Scale]:
    """Frame, grid, ticks and labels; returns the x and y scales."""
    x0, x1, y0, y1 = LEFT, fig.width - RIGHT, fig.height - BOTTOM, TOP
    sx = Scale(min(xs), max(xs), x0, x1)
    sy = Scale(min(ys), max(ys), y0, y1, wants_log(ys) if ylog is None else ylog)
    fig.text(fig.width / 2, 20, fig.title, size=14)
    for t in sx.ticks():
        fig.line([(sx(t), y0), (sx(t), y1)], GRID, 1)
        fig.text(sx(t), y0 + 16, fmt(t))
    for t in sy.ticks():
        fig.line([(x0, sy(t)), (x1, sy(t))], GRID, 1)
        fig.text(x0 - 6, sy(t) + 4, fmt(t), anchor="end")
    fig.line([(x0, y1), (x0, y0), (x1, y0)], AXIS, 1)
    fig.text((x0 + x1) / 2, fig.height - 10, xlabel)
    fig.text(14, (y0 + y1) / 2, ylabel, anchor="start", size=10)
    return sx, sy


def empty(name: str, title: str, why: str) -> Figure:
    fig = Figure(name, title, height=120)
    fig.text(fig.width / 2, 20, title, size=14)
    fig.text(fig.width / 2, 70, why)
    return fig


def history_plot(points: list[dict[str, Any]], metric: str, mode: str) -> Figure:
    """Each run's metric by job number (colour = status) and the best-so-far line."""
    title = f"Optimization history ({metric})"
    points = [p for p in points if p["value"] is not None]
    if not points:
        return empty("optimization_history", title, "no run with a finite metric yet")
    fig = Figure("optimization_history", title)
    sx, sy = axes(fig, [p["x"] for p in points], [p["value"] for p in points], "job number", metric)
    best, line = None, []
    for p in sorted(points, key=lambda p: p["x"]):
        if p["status"] == "complete" and (best is None or (p["value"] < best if mode == "min" else p["value"] > best)):
            best = p["value"]
        if best is not None:
            line.append((sx(p["x"]), sy(best)))
    fig.line(line, BEST, 2)
    for p in points:
        fig.dot(
            sx(p["x"]),
            sy(p["value"]),
            STATUS_COLOUR.get(p["status"], "#7f7f7f"),
            run=p["run_id"],
            value=p["value"],
            status=p["status"],
        )
    _legend(fig, [("complete", STATUS_COLOUR["complete"]), ("pruned", STATUS_COLOUR["pruned"]), ("best so far", BEST)])
    return fig


def _legend(fig: Figure, entries: list[tuple[str, str]]) -> None:
    x = fig.width - RIGHT - 150
    for i, (label, colour) in enumerate(entries):
        y = TOP + 12 + 15 * i
        fig.rect(x, y - 8, 10, 10, colour)
        fig.text(x + 15, y + 1, label, anchor="start", size=10)


def _gradient(t: float) -> str:
    """Colour for t in [0, 1]: 0 (best) dark blue to 1 (worst) light orange."""
    a, b = (0x08, 0x30, 0x6B), (0xFD, 0xAE, 0x6B)
    return "#" + "".join(f"{round(x + (y - x) * t):02x}" for x, y in zip(a, b))


def parallel_plot(
    rows: list[dict[str, Any]],
    keys: list[str],
    metric: str,
    mode: str,
    name: str = "parallel_coordinates",
    title: str = "Parallel coordinates (colour: metric, dark = best)",
) -> Figure:
    """One polyline per run across one axis per parameter and a last axis for the metric."""
    rows = [r for r in rows if r["value"] is not None]
    if not rows or not keys:
        return empty(name, title, "needs runs with differing parameters")
    fig = Figure(name, title, width=max(WIDTH, 110 * (len(keys) + 1)))
    fig.text(fig.width / 2, 20, title, size=14)
    span = fig.width - LEFT - RIGHT - 50
    axes_x = [LEFT + i * span / len(keys) for i in range(len(keys) + 1)]
    y0, y1 = fig.height - BOTTOM, TOP + 18
    mappers: list[Callable[[Any], float | None]] = []
    for i, key in enumerate(keys + [metric]):
        values = [r["params"].get(key) for r in rows] if i < len(keys) else [r["value"] for r in rows]
        mapper, labels = _axis_mapper([v for v in values if v is not None])
        mappers.append(mapper)
        fig.line([(axes_x[i], y0), (axes_x[i], y1)], AXIS, 1)
        fig.text(axes_x[i], y0 + 28, key if len(key) <= 18 else "…" + key[-17:], size=10)
        for frac, label in labels:
            fig.text(axes_x[i] + 4, y0 - frac * (y0 - y1) + 4, label, anchor="start", size=9)
    values = [r["value"] for r in rows]
    lo, hi = min(values), max(values)
    for r in sorted(rows, key=lambda r: r["value"], reverse=mode == "min"):
        t = (r["value"] - lo) / ((hi - lo) or 1.0)
        t = t if mode == "min" else 1 - t
        pts = []
        for i, key in enumerate(keys + [metric]):
            at = mappers[i](r["params"].get(key) if i < len(keys) else r["value"])
            if at is not None:
                pts.append((axes_x[i], y0 - at * (y0 - y1)))
        fig.line(pts, _gradient(t), 1.2, 0.7, run=r["run_id"], value=r["value"])
    return fig


FRONT, KEPT, OTHER = "#d62728", "#08306b", "#bbbbbb"


def front_plot(runs: list[dict[str, Any]], names: list[str], modes: list[str]) -> Figure:
    """The Pareto front of a multi-metric sweep. Two metrics: every finished run as a dot, the
    front's runs in red joined in order of the first metric, the kept ones circled dark. More:
    parallel coordinates over the metrics, one line per front run (colour: the first metric)."""
    title = f"Pareto front ({', '.join(names)})"
    runs = [r for r in runs if r["values"] and all(v is not None for v in r["values"])]
    front = [r for r in runs if r["on_front"]]
    if not front:
        return empty("pareto_front", title, "no run with a finite value of every metric yet")
    if len(names) > 2:
        rows = [
            {"run_id": r["run_id"], "value": r["values"][0], "params": dict(zip(names[1:], r["values"][1:]))}
            for r in front
        ]
        return parallel_plot(
            rows, names[1:], names[0], modes[0], name="pareto_front", title=title + ": one line per front run"
        )
    fig = Figure("pareto_front", title)
    sx, sy = axes(
        fig,
        [r["values"][0] for r in runs],
        [r["values"][1] for r in runs],
        f"{names[0]} ({modes[0]})",
        f"{names[1]} ({modes[1]})",
    )
    for r in runs:
        if not r["on_front"]:
            fig.dot(sx(r["values"][0]), sy(r["values"][1]), OTHER, run=r["run_id"])
    ordered = sorted(front, key=lambda r: r["values"][0], reverse=modes[0] == "max")
    fig.line([(sx(r["values"][0]), sy(r["values"][1])) for r in ordered], FRONT, 1.5)
    for r in ordered:
        if r["kept"]:
            fig.dot(sx(r["values"][0]), sy(r["values"][1]), KEPT, r=6.5)
        fig.dot(sx(r["values"][0]), sy(r["values"][1]), FRONT, run=r["run_id"], front=1, kept=int(bool(r["kept"])))
    _legend(fig, [("on the front", FRONT), ("checkpoint kept", KEPT), ("dominated", OTHER)])
    return fig


def _axis_mapper(values: list[Any]) -> tuple[Callable[[Any], float | None], list[tuple[float, str]]]:
    """value -> [0, 1] and the axis labels; numeric (log when wide) or categorical."""
    numeric = values and all(
        isinstance(v, (int, float)) and not isinstance(v, bool) and math.isfinite(v) for v in values
    )
    if numeric:
        log = wants_log(values)
        scale = Scale(min(values), max(values), 0.0, 1.0, log)

        def mapper(v: Any) -> float | None:
            ok = isinstance(v, (int, float)) and not isinstance(v, bool) and (v > 0 or not log)
            return scale(v) if ok else None

        return mapper, [(scale(v), fmt(v)) for v in (min(values), max(values))]
    cats = sorted({repr(v) for v in values})
    pos = {c: (i + 0.5) / len(cats) for i, c in enumerate(cats)}
    return (lambda v: pos.get(repr(v))), [(p, c.strip("'")) for c, p in pos.items()]


def importance_plot(scores: dict[str, float], method: str) -> Figure:
    title = f"Parameter importance ({method})"
    if not scores:
        return empty("param_importance", title, "not enough runs with differing parameters")
    fig = Figure("param_importance", title, height=TOP + 30 + 26 * len(scores) + 20)
    fig.text(fig.width / 2, 20, title, size=13)
    left, right = 200, fig.width - RIGHT - 50
    peak = max(scores.values()) or 1.0
    for i, (key, score) in enumerate(scores.items()):
        y = TOP + 16 + 26 * i
        fig.text(left - 8, y + 13, key, anchor="end")
        fig.rect(
            left, y, max(1.0, (right - left) * score / peak), 18, PALETTE[0], param=key, importance=round(score, 6)
        )
        fig.text(left + (right - left) * score / peak + 6, y + 13, f"{score:.3f}", anchor="start", size=10)
    return fig


def curves_plot(
    name: str, title: str, curves: list[dict[str, Any]], metric: str, background: Sequence[dict[str, Any]] = ()
) -> Figure:
    """Per-epoch curves: ``curves`` in colour with a legend, ``background`` ones faint grey."""
    every = [c for c in list(curves) + list(background) if c["points"]]
    if not every:
        return empty(name, title, "no per-epoch history found (run.json missing)")
    fig = Figure(name, title)
    xs = [x for c in every for x, _ in c["points"]]
    ys = [y for c in every for _, y in c["points"]]
    sx, sy = axes(fig, xs, ys, "epoch", metric)
    for c in background:
        _curve(
            fig,
            [(sx(x), sy(y)) for x, y in c["points"]],
            c.get("colour", "#999999"),
            1.2,
            0.6,
            run=c["run_id"],
            status=c.get("status", ""),
        )
    legend: list[tuple[str, str]] = []
    for i, c in enumerate(curves):
        colour = PALETTE[i % len(PALETTE)]
        _curve(fig, [(sx(x), sy(y)) for x, y in c["points"]], colour, 2, 1.0, run=c["run_id"])
        if len(legend) < 10:
            legend.append((c["label"], colour))
    _legend(fig, legend)
    return fig


def _curve(
    fig: Figure, points: list[tuple[float, float]], colour: str, width: float, opacity: float, **data: Any
) -> None:
    """A polyline, or a dot for a one-epoch curve (a trial pruned after its first epoch)."""
    if len(points) == 1:
        fig.dot(points[0][0], points[0][1], colour, 3, **data)
    else:
        fig.line(points, colour, width, opacity, **data)
