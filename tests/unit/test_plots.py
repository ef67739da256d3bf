"""The built-in learning-curve plot: a valid PNG that shows the data it was given."""

from __future__ import annotations

import struct
import zlib
from pathlib import Path

import numpy as np
import pytest

from nacre.train.plots import (
    _EVAL,
    _TRAIN_LIGHT,
    HEIGHT,
    WIDTH,
    _nice_ticks,
    encode_png,
    plot_learning_curve,
    render_learning_curve,
)


def decode_png(data: bytes) -> np.ndarray:
    """Minimal reader for the PNGs nacre writes (8-bit RGB, filter 0)."""
    assert data[:8] == b"\x89PNG\r\n\x1a\n"
    pos, chunks = 8, {}
    while pos < len(data):
        (length,) = struct.unpack(">I", data[pos:pos + 4])
        tag, body = data[pos + 4:pos + 8], data[pos + 8:pos + 8 + length]
        (crc,) = struct.unpack(">I", data[pos + 8 + length:pos + 12 + length])
        assert crc == zlib.crc32(tag + body) & 0xFFFFFFFF, tag
        chunks[tag] = chunks.get(tag, b"") + body
        pos += 12 + length
    width, height, depth, color, _, _, _ = struct.unpack(">IIBBBBB", chunks[b"IHDR"])
    assert (depth, color) == (8, 2)
    raw = np.frombuffer(zlib.decompress(chunks[b"IDAT"]), dtype=np.uint8)
    rows = raw.reshape(height, 1 + 3 * width)
    assert (rows[:, 0] == 0).all()
    return rows[:, 1:].reshape(height, width, 3)


def count(img: np.ndarray, color: tuple[int, int, int]) -> int:
    return int((img == np.array(color, dtype=np.uint8)).all(axis=2).sum())


def test_png_round_trips_pixels_exactly() -> None:
    img = np.random.default_rng(0).integers(0, 256, size=(7, 5, 3), dtype=np.uint8)
    assert np.array_equal(decode_png(encode_png(img)), img)
    with pytest.raises(ValueError, match="uint8"):
        encode_png(img.astype(np.float32))


def test_learning_curve_file_shows_train_and_eval(tmp_path: Path) -> None:
    rows = [{"env_steps": 100 * i, "train/return_mean": float(i)} for i in range(1, 200)]
    rows += [{"env_steps": 5000 * i, "eval/return_mean": 40.0 * i, "eval/return_std": 5.0}
             for i in range(1, 5)]
    path = tmp_path / "plots" / "curve.png"
    assert plot_learning_curve(rows, path, title="cartpole-dqn")
    img = decode_png(path.read_bytes())
    assert img.shape == (HEIGHT, WIDTH, 3)
    assert count(img, _TRAIN_LIGHT) > 500  # the train line (and its legend swatch)
    assert count(img, _EVAL) > 200  # eval line, markers, error bars
    assert not list(path.parent.glob("*.tmp"))


def test_the_curve_goes_where_the_data_goes() -> None:
    rising = render_learning_curve([(float(s), float(s)) for s in range(0, 1001, 10)], [])
    on = (rising == np.array(_TRAIN_LIGHT, dtype=np.uint8)).all(axis=2)

    def mean_row(columns: slice) -> float:
        ys, _ = np.nonzero(on[:, columns])
        return float(ys.mean())

    # image rows grow downwards: a rising curve sits lower in the image on the left
    # (columns left of the legend, which sits bottom right)
    assert mean_row(slice(90, 150)) > mean_row(slice(300, 360)) + 80


def test_degenerate_inputs_still_draw(tmp_path: Path) -> None:
    for rows in ([], [{"env_steps": 10, "train/return_mean": 3.0}],
                 [{"env_steps": 0, "train/return_mean": float("nan")},
                  {"env_steps": 5, "eval/return_mean": 1.0, "eval/return_std": None}]):
        path = tmp_path / "p.png"
        plot_learning_curve(rows, path)
        assert decode_png(path.read_bytes()).shape == (HEIGHT, WIDTH, 3)


@pytest.mark.parametrize(("lo", "hi"), [(0.0, 50_000.0), (-3.2, 517.0), (9.5, 9.75)])
def test_nice_ticks_cover_the_range_with_round_steps(lo: float, hi: float) -> None:
    ticks = _nice_ticks(lo, hi)
    assert ticks[0] <= lo + 1e-9 and ticks[-1] >= hi - 1e-9
    steps = np.diff(ticks)
    assert np.allclose(steps, steps[0])
    mantissa = steps[0] / 10 ** np.floor(np.log10(steps[0]))
    assert any(np.isclose(mantissa, m) for m in (1.0, 2.0, 2.5, 5.0))
    assert 3 <= len(ticks) <= 12


def test_extreme_values_draw_instead_of_overflowing(tmp_path: Path) -> None:
    rows = [{"env_steps": 1, "train/return_mean": 1.7e308},
            {"env_steps": 2, "train/return_mean": -1.7e308},
            {"env_steps": 3, "eval/return_mean": 1e308, "eval/return_std": 1e308}]
    plot_learning_curve(rows, tmp_path / "big.png")  # mean + std overflows float64
    img = decode_png((tmp_path / "big.png").read_bytes())
    assert count(img, _TRAIN_LIGHT) > 100 and count(img, _EVAL) > 20


def test_wide_tick_labels_move_the_plot_area_right() -> None:
    narrow = render_learning_curve([(0.0, 0.0), (10.0, 1.0)], [])
    wide = render_learning_curve([(0.0, -1_234_567.0), (10.0, -1_000_000.0)], [])

    def frame_column(img: np.ndarray) -> int:
        # the left frame line: the first column that is dark over most of the plot height
        dark = (img[60:340] < 60).all(axis=2).mean(axis=0)
        return int(np.argmax(dark > 0.9))

    assert frame_column(wide) > frame_column(narrow)
    # the y axis title (left edge) and the widest label do not touch: a white column between
    gap = (wide[60:340, 22:frame_column(wide) - 8] == 255).all(axis=(0, 2))
    assert gap.any()
