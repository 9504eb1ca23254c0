"""A reader's strokes become an MNIST-style image: 20x20 box, centre of mass in the middle, the
same image whatever size or place the digit was drawn at; bad drawings get one clear sentence."""

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from app.engine.drawing import MAX_POINTS, MAX_STROKES, rasterize

SEVEN = [[[0.3, 0.2], [0.7, 0.2], [0.45, 0.85]]]


def centre_of_mass(image):
    ys, xs = np.indices(image.shape) + 0.5
    mass = image.sum()
    return (ys * image).sum() / mass, (xs * image).sum() / mass


def test_a_seven_fits_a_20_pixel_box_with_its_mass_in_the_middle():
    image = rasterize(SEVEN)
    assert image.shape == (28, 28) and 0.0 <= image.min() and image.max() <= 1.0
    rows, cols = np.nonzero(image > 0.05)
    assert rows.max() - rows.min() + 1 <= 21 and cols.max() - cols.min() + 1 <= 21
    assert max(rows.max() - rows.min(), cols.max() - cols.min()) >= 18  # the longer side fills the box
    y, x = centre_of_mass(image)
    assert abs(y - 14) <= 0.5 and abs(x - 14) <= 0.5
    assert image[:, :3].sum() == 0 and image[:3].sum() == 0  # MNIST's blank border


@given(scale=st.floats(0.2, 1.2), dx=st.floats(-0.1, 0.1), dy=st.floats(-0.05, 0.05))
@settings(max_examples=25, deadline=None)
def test_size_and_place_do_not_matter(scale, dx, dy):
    moved = [[[0.5 + (x - 0.5) * scale + dx, 0.5 + (y - 0.5) * scale + dy] for x, y in stroke] for stroke in SEVEN]
    # Rounding the centring shift to whole quarter-pixels is the only difference allowed.
    assert np.abs(rasterize(moved) - rasterize(SEVEN)).mean() < 0.03


def test_a_dot_and_a_single_point_stroke_draw_something():
    assert rasterize([[[0.5, 0.5]]]).sum() > 0
    assert rasterize([[[0.5, 0.5], [0.5, 0.5]]]).sum() > 0


@pytest.mark.parametrize(
    "strokes, message",
    [
        ([], "empty"),
        ([[]], "empty"),
        ("7", "list of strokes"),
        ([[["a", "b"]]], "number pairs"),
        ([[[0.1, 0.2, 0.3]]], "number pairs"),
        ([[[0.5, float("nan")]]], "outside the pad"),
        ([[[2.0, 0.5]]], "outside the pad"),
        ([[[0.5, 0.5]]] * (MAX_STROKES + 1), f"at most {MAX_STROKES} strokes"),
        ([[[0.5, 0.5]] * (MAX_POINTS + 1)], f"at most {MAX_POINTS} points"),
    ],
)
def test_a_bad_drawing_is_refused_with_one_sentence(strokes, message):
    with pytest.raises(ValueError, match=message):
        rasterize(strokes)
