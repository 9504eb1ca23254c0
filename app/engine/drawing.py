"""A reader's pen strokes -> the 28x28 image an MNIST net expects, prepared the way MNIST's own
digits were: the drawing fitted into a 20x20 box (aspect kept), then placed in a 28x28 field with
its centre of mass at the centre (LeCun, Cortes and Burges, the MNIST database's description).

Strokes are polylines in pad coordinates, x to the right and y down, each in [0, 1]. The pen's
width is a fixed fraction of the drawing's size, so a small drawing and a large one of the same
digit give the same image; MNIST's strokes are about a seventh of the digit's height."""

from __future__ import annotations

from collections.abc import Sequence
from itertools import pairwise

import numpy as np

SIDE = 28  # the image the nets receive
BOX = 20  # the drawing's longer side, in pixels, before centring
SUPERSAMPLE = 4  # strokes are drawn at 4x and averaged down: anti-aliased edges like MNIST's
PEN = 0.075  # pen radius, as a fraction of the drawing's longer side
MAX_STROKES = 64
MAX_POINTS = 4000  # over all strokes
COORDINATE_RANGE = (-0.05, 1.05)  # a little past the pad's edge is a pen slipping, not an attack


def check_strokes(strokes: Sequence[Sequence[Sequence[float]]]) -> list[np.ndarray]:
    """Strokes as float arrays of shape (n, 2); ValueError with one sentence if they are not a
    drawing this function can read."""
    if not isinstance(strokes, (list, tuple)):
        raise ValueError("strokes must be a list of strokes, each a list of [x, y] points")
    if len(strokes) > MAX_STROKES:
        raise ValueError(f"a drawing may have at most {MAX_STROKES} strokes; got {len(strokes)}")
    arrays, total = [], 0
    for index, stroke in enumerate(strokes):
        try:
            points = np.asarray(stroke, dtype=np.float64)
        except (TypeError, ValueError):
            raise ValueError(f"stroke {index} must be a list of [x, y] number pairs") from None
        if points.size == 0:
            continue
        if points.ndim != 2 or points.shape[1] != 2:
            raise ValueError(f"stroke {index} must be a list of [x, y] number pairs")
        total += len(points)
        if total > MAX_POINTS:
            raise ValueError(f"a drawing may have at most {MAX_POINTS} points in all")
        low, high = COORDINATE_RANGE
        if not np.all(np.isfinite(points)) or points.min() < low or points.max() > high:
            raise ValueError(f"stroke {index} has a point outside the pad: coordinates are in [0, 1]")
        arrays.append(np.clip(points, 0.0, 1.0))
    if not arrays:
        raise ValueError("the drawing is empty: draw a digit first")
    return arrays


def _segment_distance(px: np.ndarray, py: np.ndarray, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """Distance from each pixel centre (px, py) to the segment a-b."""
    d = b - a
    length2 = float(d @ d)
    if length2 == 0.0:
        return np.hypot(px - a[0], py - a[1])
    t = np.clip(((px - a[0]) * d[0] + (py - a[1]) * d[1]) / length2, 0.0, 1.0)
    return np.hypot(px - (a[0] + t * d[0]), py - (a[1] + t * d[1]))


def rasterize(strokes: Sequence[Sequence[Sequence[float]]]) -> np.ndarray:
    """(28, 28) float image in [0, 1] (1 = ink) of the strokes, MNIST-style."""
    arrays = check_strokes(strokes)
    points = np.concatenate(arrays)
    low, high = points.min(axis=0), points.max(axis=0)
    extent = float(max(high - low))
    # A dot or a dash has no size of its own: give it the pen of a drawing a tenth of the pad.
    size = max(extent, 0.1)
    radius = PEN * size
    fine = SIDE * SUPERSAMPLE
    scale = BOX * SUPERSAMPLE / (size + 2 * radius)  # pad units -> fine pixels
    centre = (low + high) / 2
    offset = fine / 2 - centre * scale  # the drawing's box centred in the field
    pen = radius * scale
    canvas = np.zeros((fine, fine))
    for stroke in arrays:
        pixels = stroke * scale + offset
        segments = pairwise(pixels) if len(pixels) > 1 else [(pixels[0], pixels[0])]
        for a, b in segments:
            x0, y0 = np.floor(np.minimum(a, b) - pen - 1).astype(int).clip(0, fine)
            x1, y1 = np.ceil(np.maximum(a, b) + pen + 2).astype(int).clip(0, fine)
            if x0 >= x1 or y0 >= y1:
                continue
            py, px = np.mgrid[y0:y1, x0:x1] + 0.5
            ink = np.clip(pen + 0.5 - _segment_distance(px, py, a, b), 0.0, 1.0)
            np.maximum(canvas[y0:y1, x0:x1], ink, out=canvas[y0:y1, x0:x1])
    canvas = _centre_of_mass_to_middle(canvas)
    return canvas.reshape(SIDE, SUPERSAMPLE, SIDE, SUPERSAMPLE).mean(axis=(1, 3))


def _centre_of_mass_to_middle(canvas: np.ndarray) -> np.ndarray:
    """Shift the image (whole fine pixels) so its centre of mass sits at the field's centre."""
    mass = canvas.sum()
    if mass == 0:
        return canvas
    n = canvas.shape[0]
    ys, xs = np.indices(canvas.shape) + 0.5
    dy = int(round(n / 2 - float((ys * canvas).sum() / mass)))
    dx = int(round(n / 2 - float((xs * canvas).sum() / mass)))
    shifted = np.zeros_like(canvas)
    src_y, dst_y = slice(max(0, -dy), n - max(0, dy)), slice(max(0, dy), n - max(0, -dy))
    src_x, dst_x = slice(max(0, -dx), n - max(0, dx)), slice(max(0, dx), n - max(0, -dx))
    shifted[dst_y, dst_x] = canvas[src_y, src_x]
    return shifted
