"""A tiny PNG rasteriser (zlib only) for the report's figures.

It draws the marks of a :class:`~sweepkit.cli._plots.Figure` (lines, dots, bars, axes and
grid) but no text, since there is no font renderer: the HTML report holds the labelled plots.
"""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

from sweepkit.cli._plots import Figure
from sweepkit.cli._render import write_file

RGB = tuple[int, int, int]


def _rgb(colour: str) -> RGB:
    colour = colour.lstrip("#")
    return int(colour[0:2], 16), int(colour[2:4], 16), int(colour[4:6], 16)


class Canvas:
    def __init__(self, width: int, height: int) -> None:
        self.width, self.height = width, height
        self.pixels = bytearray(b"\xff" * (width * height * 3))

    def plot(self, x: int, y: int, rgb: RGB, alpha: float = 1.0) -> None:
        if 0 <= x < self.width and 0 <= y < self.height:
            i = (y * self.width + x) * 3
            for c in range(3):
                self.pixels[i + c] = round(self.pixels[i + c] * (1 - alpha) + rgb[c] * alpha)

    def fill(self, x0: float, y0: float, x1: float, y1: float, rgb: RGB, alpha: float = 1.0) -> None:
        for y in range(max(0, round(y0)), min(self.height, round(y1))):
            for x in range(max(0, round(x0)), min(self.width, round(x1))):
                self.plot(x, y, rgb, alpha)

    def segment(self, a: tuple[float, float], b: tuple[float, float], rgb: RGB, width: float, alpha: float) -> None:
        (x0, y0), (x1, y1) = a, b
        steps = max(1, round(max(abs(x1 - x0), abs(y1 - y0))))
        half = max(0.0, (width - 1) / 2)
        seen = set()
        for i in range(steps + 1):
            x, y = x0 + (x1 - x0) * i / steps, y0 + (y1 - y0) * i / steps
            for px in range(round(x - half), round(x + half) + 1):
                for py in range(round(y - half), round(y + half) + 1):
                    if (px, py) not in seen:  # blend each pixel once per segment
                        seen.add((px, py))
                        self.plot(px, py, rgb, alpha)

    def disc(self, cx: float, cy: float, r: float, rgb: RGB) -> None:
        for y in range(round(cy - r), round(cy + r) + 1):
            for x in range(round(cx - r), round(cx + r) + 1):
                if (x - cx) ** 2 + (y - cy) ** 2 <= r * r:
                    self.plot(x, y, rgb)

    def png(self) -> bytes:
        stride = self.width * 3
        raw = b"".join(b"\x00" + bytes(self.pixels[y * stride : (y + 1) * stride]) for y in range(self.height))

        def chunk(kind: bytes, data: bytes) -> bytes:
            return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)

        header = struct.pack(">IIBBBBB", self.width, self.height, 8, 2, 0, 0, 0)
        return (
            b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw, 6)) + chunk(b"IEND", b"")
        )


def render_png(fig: Figure) -> bytes:
    canvas = Canvas(fig.width, fig.height)
    for kind, p in fig.items:
        if kind == "line":
            rgb = _rgb(p["colour"])
            for a, b in zip(p["points"], p["points"][1:]):
                canvas.segment(a, b, rgb, p["width"], p["opacity"])
        elif kind == "dot":
            canvas.disc(p["x"], p["y"], p["r"], _rgb(p["colour"]))
        elif kind == "rect":
            canvas.fill(p["x"], p["y"], p["x"] + p["w"], p["y"] + p["h"], _rgb(p["colour"]))
    return canvas.png()


def write_pngs(figures: list[Figure], folder: Path) -> list[Path]:
    folder.mkdir(parents=True, exist_ok=True)
    written = []
    for fig in figures:
        path = folder / f"{fig.name}.png"
        write_file(path, render_png(fig))
        written.append(path)
    return written
