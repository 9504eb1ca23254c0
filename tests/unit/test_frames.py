"""The frame's picture encodings (app/web/frames.py) against their formula, for any input."""

import base64

import numpy as np
from hypothesis import given
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from app.web.frames import LAYER_MAP_SCALE, decode_grid, encode_grid, encode_layer_maps

values = hnp.arrays(
    np.float64,
    hnp.array_shapes(min_dims=2, max_dims=2, min_side=1, max_side=9),
    elements=st.one_of(st.floats(-2.0, 3.0), st.sampled_from([np.nan, np.inf, -np.inf, 0.5 / 255, 1.5 / 255])),
)


def formula(x: np.ndarray, nan: float) -> np.ndarray:
    """uint8 of clip(x, 0, 1) * 255 rounded to the nearest (ties to even), NaN as `nan`."""
    x = np.where(np.isnan(x), nan, x)
    return np.rint(np.clip(x, 0.0, 1.0) * 255.0).astype(np.uint8)


@given(values)
def test_a_grid_is_its_probabilities_at_8_bits_with_nan_as_even(grid):
    raw = np.frombuffer(base64.b64decode(encode_grid(grid)), np.uint8).reshape(grid.shape)
    np.testing.assert_array_equal(raw, formula(grid, 0.5))
    square = grid[: min(grid.shape), : min(grid.shape)]
    np.testing.assert_array_equal(decode_grid(encode_grid(square), len(square)), formula(square, 0.5))


@given(
    hnp.arrays(np.float64, (2, 2, 3, 3), elements=st.one_of(st.floats(0.0, 100.0), st.just(np.nan), st.just(np.inf)))
)
def test_layer_maps_share_one_scale_with_nan_as_zero(maps):
    theta = 2.0
    encoded = encode_layer_maps(maps, theta)
    assert encoded["size"] == 3 and encoded["scale"] == LAYER_MAP_SCALE * theta
    for layer, layer_maps in zip(maps, encoded["goodness"], strict=True):
        for label_map, text in zip(layer, layer_maps, strict=True):
            got = np.frombuffer(base64.b64decode(text), np.uint8).reshape(3, 3)
            np.testing.assert_array_equal(got, formula(label_map / (LAYER_MAP_SCALE * theta), 0.0))
