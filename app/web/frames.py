"""Turns engine results into the JSON texts of `race`, `frame` and `inference` messages."""

from __future__ import annotations

import base64
import json
import math

import numpy as np

from app.engine.datasets import CLASS_NAMES
from app.engine.race import NetMetrics, PointInference, Race, RaceSnapshot
from app.web.wire import FrameParts, map_slots

# Shorter floats keep a frame under the 5 KB budget: 4 decimals is finer than any pixel or
# percentage the page draws; coordinates of the data points need only 3.
METRIC_DECIMALS = 4
POINT_DECIMALS = 3
LAYER_MAP_SCALE = 4.0  # the layer maps' full scale, in multiples of theta


def quantize(values: np.ndarray, nan: float) -> np.ndarray:
    """Values in [0, 1] (clipped) -> uint8 of value * 255, rounded; NaN reads as `nan`. Whole-array
    operations in place on one float copy (np.nan_to_num, which copies and checks in Python, is
    taken only when a NaN is there: a diverged net)."""
    if np.isnan(values).any():
        values = np.nan_to_num(values, nan=nan, posinf=1.0, neginf=0.0)
    scaled = np.multiply(values, 255.0)
    np.rint(scaled, out=scaled)
    np.clip(scaled, 0.0, 255.0, out=scaled)
    return scaled.astype(np.uint8)


def quantize_grid(grid: np.ndarray) -> np.ndarray:
    """P(class A) in [0, 1] -> uint8 (P * 255, rounded; NaN as 0.5), row-major, row 0 at the top."""
    return quantize(grid, 0.5)


def encode_grid(grid: np.ndarray) -> str:
    """quantize_grid's bytes as base64: a frame's `grid.ff` and `grid.backprop`."""
    return _base64(quantize_grid(grid))


def decode_grid(text: str, size: int) -> np.ndarray:
    return np.frombuffer(base64.b64decode(text), dtype=np.uint8).reshape(size, size)


def short(value: float, decimals: int = METRIC_DECIMALS) -> float:
    value = float(value)
    # Engine losses can overflow on absurd settings; JSON has no inf/NaN, so clamp to a number.
    if not math.isfinite(value):
        return 1e9 if value > 0 else (-1e9 if value < 0 else 0.0)
    return round(value, decimals)


def _metrics(net: NetMetrics) -> dict:
    return {
        "train_accuracy": short(net.train_accuracy),
        "test_accuracy": short(net.test_accuracy),
        "loss": short(net.loss),
    }


def quantize_layer_maps(maps: np.ndarray, theta: float) -> tuple[np.ndarray, float]:
    """(layers, labels, m, m) goodness -> (uint8 maps of min(G / scale, 1) * 255, scale), on one
    scale for every map and every frame of a race, so maps compare across layers, labels and
    time. scale = LAYER_MAP_SCALE * theta puts theta at a quarter of the range: where a layer's
    verdict turns, sigma(G - theta) = 0.5, is a mid-dark tone, and goodness past 4 theta (a layer
    already sure, p > 0.998 at theta = 2; the grid's corners outside the data run to 50 theta)
    saturates rather than darkening every other map."""
    scale = LAYER_MAP_SCALE * float(theta)
    return quantize(np.divide(maps, scale), 0.0), scale  # every map at once; +inf clips to 1, NaN is 0


def _base64(values: np.ndarray) -> str:
    return base64.b64encode(values.tobytes()).decode("ascii")


def encode_layer_maps(maps: np.ndarray, theta: float) -> dict:
    """The frame's `layers`: quantize_layer_maps' maps as base64."""
    return _layers(*quantize_layer_maps(maps, theta))


def _layers(quantized: np.ndarray, scale: float) -> dict:
    return {
        "size": int(quantized.shape[-1]),
        "scale": short(scale),
        "goodness": [[_base64(label_map) for label_map in layer] for layer in quantized],
    }


def frame_text(snapshot: RaceSnapshot, steps: int, theta: float) -> str:
    return json.dumps(_frame_message(snapshot, steps, *_frame_maps(snapshot, theta)), separators=(",", ":"))


def frame_text_and_parts(snapshot: RaceSnapshot, steps: int, theta: float) -> tuple[str, FrameParts]:
    """The frame's JSON text and the same frame split for the wire (app/web/wire.py), both from the
    snapshot's maps quantized once: what FrameParts.of(text) gives, without parsing the text back
    (the same bytes: tests/unit/test_wire.py)."""
    grid_ff, grid_bp, layers, scale = _frame_maps(snapshot, theta)
    message = _frame_message(snapshot, steps, grid_ff, grid_bp, layers, scale)
    text = json.dumps(message, separators=(",", ":"))
    maps = [grid_ff, grid_bp, *layers.reshape(-1, *layers.shape[2:])]  # in the wire's order (map_slots)
    for (container, key), values in zip(map_slots(message), maps, strict=True):
        container[key] = values.size  # the skeleton: each map's length in bytes in its place
    skeleton = json.dumps(message, separators=(",", ":")).encode("utf-8")
    return text, FrameParts(snapshot.step, skeleton, np.concatenate([values.ravel() for values in maps]))


def _frame_maps(snapshot: RaceSnapshot, theta: float) -> tuple[np.ndarray, np.ndarray, np.ndarray, float]:
    """The snapshot's maps as uint8: the two grids (FF, backprop), the layer maps and their scale."""
    grid_ff, grid_bp, maps = snapshot.grid_ff, snapshot.grid_backprop, snapshot.layer_maps
    if grid_ff is None or grid_bp is None or maps is None:
        raise ValueError("a frame needs a snapshot with its grids: Race.snapshot(grid=True)")
    return (quantize_grid(grid_ff), quantize_grid(grid_bp), *quantize_layer_maps(maps, theta))


def _frame_message(
    snapshot: RaceSnapshot, steps: int, grid_ff: np.ndarray, grid_bp: np.ndarray, layers: np.ndarray, scale: float
) -> dict:
    return {
        "type": "frame",
        "step": snapshot.step,
        "steps": steps,
        "ff": {
            **_metrics(snapshot.ff),
            "layer_test_accuracy": [short(a) for a in snapshot.ff_layer_test_accuracy or []],
        },
        "backprop": _metrics(snapshot.backprop),
        "goodness": {
            "positive": [short(g) for g in snapshot.goodness_positive],
            "negative": [short(g) for g in snapshot.goodness_negative],
        },
        "grid": {"size": int(grid_ff.shape[0]), "ff": _base64(grid_ff), "backprop": _base64(grid_bp)},
        "layers": _layers(layers, scale),
    }


def race_info(race: Race) -> dict:
    """The `race` message without its `settings.speed`, which is the session's, not the run's."""
    s = race.settings
    train = [
        [round(float(x), POINT_DECIMALS), round(float(y), POINT_DECIMALS), int(label)]
        for (x, y), label in zip(race.train.x, race.train.y, strict=True)
    ]
    return {
        "type": "race",
        "settings": {
            "dataset": s.dataset,
            "seed": s.seed,
            "theta": s.theta,
            "learning_rate": s.learning_rate,
            "steps": s.steps,
        },
        "classes": list(CLASS_NAMES[s.dataset]),
        "extent": [float(v) for v in race.extent],
        "grid_size": s.grid_size,
        "train": train,
    }


def inference_text(result: PointInference, step: int) -> str:
    return json.dumps(
        {
            "type": "inference",
            "x": result.x,
            "y": result.y,
            "step": step,
            # Unrounded: two totals that differ must be able to print differently.
            "ff": {
                "goodness": [[float(g) for g in layer] for layer in result.ff_goodness],
                "totals": [float(t) for t in result.ff_totals],
                "label": result.ff_label,
                "layers_summed": result.ff_layers_summed,
            },
            "backprop": {
                "probabilities": [short(p) for p in result.backprop_probabilities],
                "label": result.backprop_label,
            },
        },
        separators=(",", ":"),
    )
