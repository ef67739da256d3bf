"""Learning-curve plots, drawn and PNG-encoded here with NumPy and zlib (no plotting library).

A run folder always gets ``plots/learning_curve.png``. Drawing it with matplotlib cost ~0.4 s
per run (mostly importing it) — several percent of a 50k-step CartPole run — so nacre draws its
one simple chart itself: axes with "nice" ticks, a grid, the training-episode curve, evaluation
means with ±1 std error bars, a legend and a title, in a built-in 5×7 bitmap font (upper case).
For publication figures, read ``metrics.jsonl`` into the plotting tool of your choice.
"""

from __future__ import annotations

import math
import os
import struct
import zlib
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

WIDTH, HEIGHT = 720, 420
_LEFT, _RIGHT, _TOP, _BOTTOM = 78, 20, 44, 62  # plot-area margins in pixels
_TRAIN = (31, 119, 180)
_TRAIN_LIGHT = (143, 187, 217)  # the train colour at 50 % over white
_EVAL = (255, 127, 14)
_GRID = (225, 225, 225)
_INK = (30, 30, 30)
_BIG = 1e300

# 5 × 7 glyphs, one string per glyph: 7 rows of 5 pixels ('#' on), rows separated by '/'.
_GLYPHS = {
    " ": "...../...../...../...../...../...../.....",
    "0": ".###./#...#/#..##/#.#.#/##..#/#...#/.###.",
    "1": "..#../.##../..#../..#../..#../..#../.###.",
    "2": ".###./#...#/....#/...#./..#../.#.../#####",
    "3": "#####/...#./..#../...#./....#/#...#/.###.",
    "4": "...#./..##./.#.#./#..#./#####/...#./...#.",
    "5": "#####/#..../####./....#/....#/#...#/.###.",
    "6": "..##./.#.../#..../####./#...#/#...#/.###.",
    "7": "#####/....#/...#./..#../.#.../.#.../.#...",
    "8": ".###./#...#/#...#/.###./#...#/#...#/.###.",
    "9": ".###./#...#/#...#/.####/....#/...#./.##..",
    "A": ".###./#...#/#...#/#####/#...#/#...#/#...#",
    "B": "####./#...#/#...#/####./#...#/#...#/####.",
    "C": ".###./#...#/#..../#..../#..../#...#/.###.",
    "D": "###../#..#./#...#/#...#/#...#/#..#./###..",
    "E": "#####/#..../#..../####./#..../#..../#####",
    "F": "#####/#..../#..../####./#..../#..../#....",
    "G": ".###./#...#/#..../#.###/#...#/#...#/.####",
    "H": "#...#/#...#/#...#/#####/#...#/#...#/#...#",
    "I": ".###./..#../..#../..#../..#../..#../.###.",
    "J": "..###/...#./...#./...#./...#./#..#./.##..",
    "K": "#...#/#..#./#.#../##.../#.#../#..#./#...#",
    "L": "#..../#..../#..../#..../#..../#..../#####",
    "M": "#...#/##.##/#.#.#/#.#.#/#...#/#...#/#...#",
    "N": "#...#/#...#/##..#/#.#.#/#..##/#...#/#...#",
    "O": ".###./#...#/#...#/#...#/#...#/#...#/.###.",
    "P": "####./#...#/#...#/####./#..../#..../#....",
    "Q": ".###./#...#/#...#/#...#/#.#.#/#..#./.##.#",
    "R": "####./#...#/#...#/####./#.#../#..#./#...#",
    "S": ".####/#..../#..../.###./....#/....#/####.",
    "T": "#####/..#../..#../..#../..#../..#../..#..",
    "U": "#...#/#...#/#...#/#...#/#...#/#...#/.###.",
    "V": "#...#/#...#/#...#/#...#/#...#/.#.#./..#..",
    "W": "#...#/#...#/#...#/#.#.#/#.#.#/#.#.#/.#.#.",
    "X": "#...#/#...#/.#.#./..#../.#.#./#...#/#...#",
    "Y": "#...#/#...#/.#.#./..#../..#../..#../..#..",
    "Z": "#####/....#/...#./..#../.#.../#..../#####",
    ".": "...../...../...../...../...../.##../.##..",
    ",": "...../...../...../...../.##../..#../.#...",
    "-": "...../...../...../#####/...../...../.....",
    "+": "...../..#../..#../#####/..#../..#../.....",
    "(": "...#./..#../.#.../.#.../.#.../..#../...#.",
    ")": ".#.../..#../...#./...#./...#./..#../.#...",
    ":": "...../.##../.##../...../.##../.##../.....",
    "/": "...../....#/...#./..#../.#.../#..../.....",
    "_": "...../...../...../...../...../...../#####",
    "%": "##.../##..#/...#./..#../.#.../#..##/...##",
    "=": "...../...../#####/...../#####/...../.....",
    "'": "..#../..#../.#.../...../...../...../.....",
    "[": ".###./.#.../.#.../.#.../.#.../.#.../.###.",
    "]": ".###./...#./...#./...#./...#./...#./.###.",
    "?": ".###./#...#/....#/...#./..#../...../..#..",
    "!": "..#../..#../..#../..#../..#../...../..#..",
    "*": "...../..#../#.#.#/.###./#.#.#/..#../.....",
    "<": "...#./..#../.#.../#..../.#.../..#../...#.",
    ">": ".#.../..#../...#./....#/...#./..#../.#...",
    "#": ".#.#./.#.#./#####/.#.#./#####/.#.#./.#.#.",
}
_FONT = {
    ch: np.array([[c == "#" for c in row] for row in rows.split("/")], dtype=bool)
    for ch, rows in _GLYPHS.items()
}


def plot_learning_curve(rows: list[dict[str, Any]], path: str | Path, title: str = "") -> bool:
    """Write training and evaluation return against environment steps as a PNG at ``path``.

    ``rows`` are metric rows as logged to ``metrics.jsonl``; rows without a finite
    ``train/return_mean`` or ``eval/return_mean`` are skipped. Returns True (always written).
    """
    train = [(float(r["env_steps"]), float(r["train/return_mean"])) for r in rows
             if _finite(r.get("train/return_mean")) and _finite(r.get("env_steps"))]
    evals = [(float(r["env_steps"]), float(r["eval/return_mean"]),
              float(r["eval/return_std"]) if _finite(r.get("eval/return_std")) else 0.0)
             for r in rows if _finite(r.get("eval/return_mean")) and _finite(r.get("env_steps"))]
    canvas = render_learning_curve(train, evals, title)
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".tmp")
    tmp.write_bytes(encode_png(canvas))
    os.replace(tmp, path)
    return True


def render_learning_curve(
    train: Sequence[tuple[float, float]],
    evals: Sequence[tuple[float, float, float]],
    title: str = "",
) -> np.ndarray:
    """The chart as an ``[HEIGHT, WIDTH, 3]`` uint8 RGB array."""
    img = np.full((HEIGHT, WIDTH, 3), 255, dtype=np.uint8)
    # Finite, and far enough from the float limits that spans and mean ± std stay finite.
    train = [(x, y) for x, y in np.clip(np.asarray(train, dtype=np.float64).reshape(-1, 2),
                                         -_BIG, _BIG).tolist()]
    evals = [(x, m, s) for x, m, s in np.clip(np.asarray(evals, dtype=np.float64).reshape(-1, 3),
                                               -_BIG, _BIG).tolist()]
    xs = [p[0] for p in train] + [e[0] for e in evals]
    ys = [p[1] for p in train] + [e[1] - e[2] for e in evals] + [e[1] + e[2] for e in evals]
    x_lo, x_hi = _padded(0.0, max(xs, default=1.0), pad=0.0)
    y_min = min(ys, default=0.0)
    y_lo, y_hi = _padded(y_min, max(ys, default=1.0), pad=0.05)
    if y_min >= 0.0:
        y_lo = max(y_lo, 0.0)  # returns that are never negative: the axis starts at 0
    x_ticks = [t for t in _nice_ticks(x_lo, x_hi) if x_lo - 1e-9 <= t <= x_hi + 1e-9]
    y_ticks = [t for t in _nice_ticks(y_lo, y_hi) if y_lo - 1e-9 <= t <= y_hi + 1e-9]
    y_labels = _labels(y_ticks)
    # the plot area starts right of the widest y tick label and the vertical axis title
    widest = max((_text_bitmap(label, 2).shape[1] for label in y_labels), default=0)
    last_x = _text_bitmap(_format_steps(x_ticks[-1]), 2).shape[1] if x_ticks else 0
    x0, x1 = max(_LEFT, 38 + widest), WIDTH - max(_RIGHT, last_x // 2 + 4)  # plot area
    y0, y1 = _TOP, HEIGHT - _BOTTOM

    def px(x: np.ndarray | float) -> np.ndarray:
        return x0 + (np.asarray(x, dtype=np.float64) - x_lo) / (x_hi - x_lo) * (x1 - x0)

    def py(y: np.ndarray | float) -> np.ndarray:
        return y1 - (np.asarray(y, dtype=np.float64) - y_lo) / (y_hi - y_lo) * (y1 - y0)

    clip = (x0, y0, x1, y1)
    for t in x_ticks:
        c = int(round(float(px(t))))
        _rect(img, c, y0, c, y1, _GRID)
        _rect(img, c, y1, c, y1 + 4, _INK)
        _text(img, _format_steps(t), c, y1 + 9, anchor="top")
    for t, label in zip(y_ticks, y_labels, strict=True):
        r = int(round(float(py(t))))
        _rect(img, x0, r, x1, r, _GRID)
        _rect(img, x0 - 4, r, x0, r, _INK)
        _text(img, label, x0 - 8, r, anchor="right")
    if train:
        tx, ty = zip(*train, strict=True)
        _polyline(img, px(np.array(tx)), py(np.array(ty)), _TRAIN_LIGHT, 2, clip)
    if evals:
        ex, em, es = (np.array(v) for v in zip(*evals, strict=True))
        cx, cy = px(ex), py(em)
        _polyline(img, cx, cy, _EVAL, 2, clip)
        for x, lo, hi in zip(cx, py(em - es), py(em + es), strict=True):
            c = int(round(float(x)))
            top, bottom = int(round(float(hi))), int(round(float(lo)))
            _rect(img, c, top, c + 1, bottom, _EVAL)
            _rect(img, c - 4, top, c + 5, top + 1, _EVAL)
            _rect(img, c - 4, bottom - 1, c + 5, bottom, _EVAL)
        for x, y in zip(cx, cy, strict=True):
            _marker(img, int(round(float(x))), int(round(float(y))), _EVAL)
    if not train and not evals:
        _text(img, "no episodes finished yet", (x0 + x1) // 2, (y0 + y1) // 2, anchor="center")
    _rect(img, x0, y0, x1, y0, _INK)  # frame
    _rect(img, x0, y1, x1, y1, _INK)
    _rect(img, x0, y0, x0, y1, _INK)
    _rect(img, x1, y0, x1, y1, _INK)
    _text(img, "environment steps", (x0 + x1) // 2, HEIGHT - 22, anchor="top")
    _text(img, "episode return", 14, (y0 + y1) // 2, anchor="center", vertical=True)
    _text(img, title, (x0 + x1) // 2, 14, anchor="top")
    _legend(img, x1 - 10, y1 - 10, [("train episodes", _TRAIN_LIGHT),
                                    ("evaluation (exploit)", _EVAL)])
    return img


def encode_png(img: np.ndarray) -> bytes:
    """An 8-bit RGB ``[H, W, 3]`` array as PNG bytes (no filtering, zlib level 6)."""
    if img.dtype != np.uint8 or img.ndim != 3 or img.shape[2] != 3:
        raise ValueError(f"expected a uint8 [H, W, 3] image, got {img.dtype} {img.shape}")
    height, width = img.shape[:2]
    rows = np.zeros((height, 1 + width * 3), dtype=np.uint8)  # filter byte 0 per row
    rows[:, 1:] = img.reshape(height, width * 3)

    def chunk(tag: bytes, data: bytes) -> bytes:
        return (struct.pack(">I", len(data)) + tag + data
                + struct.pack(">I", zlib.crc32(tag + data) & 0xFFFFFFFF))

    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return (b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header)
            + chunk(b"IDAT", zlib.compress(rows.tobytes(), 6)) + chunk(b"IEND", b""))


# ---------------------------------------------------------------------------- helpers
def _finite(value: Any) -> bool:
    return isinstance(value, int | float) and math.isfinite(value)


def _padded(lo: float, hi: float, pad: float) -> tuple[float, float]:
    if hi - lo < 1e-9:
        lo, hi = lo - max(1.0, abs(lo) * 0.1), hi + max(1.0, abs(hi) * 0.1)
    margin = (hi - lo) * pad
    return lo - margin, hi + margin


def _nice_ticks(lo: float, hi: float, target: int = 6) -> list[float]:
    raw = (hi - lo) / target
    magnitude = 10.0 ** math.floor(math.log10(raw))
    step = next(m * magnitude for m in (1.0, 2.0, 2.5, 5.0, 10.0) if m * magnitude >= raw)
    first = math.floor(lo / step + 1e-9) * step
    count = int(math.ceil((hi - first) / step - 1e-9)) + 1
    return [round(first + i * step, 10) for i in range(count)]


def _format_steps(value: float) -> str:
    for div, suffix in ((1e6, "M"), (1e3, "k")):
        if abs(value) >= div:
            return f"{value / div:g}{suffix}"
    return f"{value:g}"


def _labels(ticks: list[float]) -> list[str]:
    """Shortest ``g`` formatting (4 to 12 digits) that tells every tick apart."""
    labels: list[str] = []
    for digits in range(4, 13):
        labels = [f"{t:.{digits}g}" if t != 0 else "0" for t in ticks]
        if len(set(labels)) == len(labels):
            break
    return labels


def _rect(img: np.ndarray, xa: int, ya: int, xb: int, yb: int, color: tuple[int, int, int]
          ) -> None:
    """Fill the pixel rectangle with corners (xa, ya) and (xb, yb), inclusive, clipped."""
    xa, xb = sorted((xa, xb))
    ya, yb = sorted((ya, yb))
    xa, ya = max(xa, 0), max(ya, 0)
    xb, yb = min(xb, img.shape[1] - 1), min(yb, img.shape[0] - 1)
    if xa <= xb and ya <= yb:
        img[ya:yb + 1, xa:xb + 1] = color


def _polyline(img: np.ndarray, xs: np.ndarray, ys: np.ndarray, color: tuple[int, int, int],
              width: int, clip: tuple[int, int, int, int]) -> None:
    if len(xs) == 1:
        xs, ys = np.repeat(xs, 2), np.repeat(ys, 2)
    lengths = np.maximum(np.abs(np.diff(xs)), np.abs(np.diff(ys)))
    counts = np.ceil(lengths).astype(np.int64) + 1
    seg = np.repeat(np.arange(len(counts)), counts)
    starts = np.cumsum(counts) - counts
    t = (np.arange(counts.sum()) - np.repeat(starts, counts)) / np.repeat(
        np.maximum(counts - 1, 1), counts)
    px = xs[seg] + t * (xs[seg + 1] - xs[seg])
    py = ys[seg] + t * (ys[seg + 1] - ys[seg])
    x0, y0, x1, y1 = clip
    for dx in range(width):
        for dy in range(width):
            cx = np.round(px).astype(np.int64) + dx - width // 2
            cy = np.round(py).astype(np.int64) + dy - width // 2
            keep = (cx >= x0) & (cx <= x1) & (cy >= y0) & (cy <= y1)
            img[cy[keep], cx[keep]] = color


def _marker(img: np.ndarray, x: int, y: int, color: tuple[int, int, int]) -> None:
    _rect(img, x - 3, y - 2, x + 3, y + 2, color)
    _rect(img, x - 2, y - 3, x + 2, y + 3, color)


def _text_bitmap(text: str, scale: int) -> np.ndarray:
    glyphs = [_FONT.get(ch, _FONT["?"]) for ch in text.upper()] or [_FONT[" "]]
    gap = np.zeros((7, 1), dtype=bool)
    parts: list[np.ndarray] = []
    for glyph in glyphs:
        parts += [glyph, gap]
    bitmap = np.concatenate(parts[:-1], axis=1)
    return bitmap.repeat(scale, axis=0).repeat(scale, axis=1)


def _text(img: np.ndarray, text: str, x: int, y: int, anchor: str = "top", scale: int = 2,
          vertical: bool = False, color: tuple[int, int, int] = _INK) -> None:
    """Draw ``text``; ``anchor``: top (x centred, y top), left / right (x is that edge, y
    centred) or center."""
    bitmap = _text_bitmap(text, scale)
    if vertical:
        bitmap = np.rot90(bitmap)
    h, w = bitmap.shape
    if anchor == "top":
        left, top = x - w // 2, y
    elif anchor == "right":
        left, top = x - w, y - h // 2
    elif anchor == "left":
        left, top = x, y - h // 2
    else:
        left, top = x - w // 2, y - h // 2
    rows, cols = np.nonzero(bitmap)
    rows, cols = rows + top, cols + left
    keep = (rows >= 0) & (rows < img.shape[0]) & (cols >= 0) & (cols < img.shape[1])
    img[rows[keep], cols[keep]] = color


def _legend(img: np.ndarray, right: int, bottom: int,
            entries: list[tuple[str, tuple[int, int, int]]]) -> None:
    """A boxed legend whose lower-right corner is at (right, bottom)."""
    line_h, swatch = 20, 22
    width = max(_text_bitmap(label, 2).shape[1] for label, _ in entries) + swatch + 22
    height = line_h * len(entries) + 10
    left, top = right - width, bottom - height
    _rect(img, left, top, right, bottom, (255, 255, 255))
    _rect(img, left, top, right, top, _GRID)
    _rect(img, left, bottom, right, bottom, _GRID)
    _rect(img, left, top, left, bottom, _GRID)
    _rect(img, right, top, right, bottom, _GRID)
    for i, (label, color) in enumerate(entries):
        mid = top + 5 + line_h * i + line_h // 2
        _rect(img, left + 8, mid - 1, left + 8 + swatch, mid, color)
        _text(img, label, left + 16 + swatch, mid, anchor="left")
