"""Data sets: pure functions of (n, noise, seed), the disk inside the ring, held-out drawn apart."""

import numpy as np
import pytest

from app.engine.datasets import DATASET_NAMES, EXTENT, make_dataset, race_data


@pytest.mark.parametrize("name", DATASET_NAMES)
def test_same_seed_same_points_and_shapes(name):
    a, b = make_dataset(name, n=120, seed=7), make_dataset(name, n=120, seed=7)
    assert a.x.shape == (120, 2) and a.x.dtype == np.float64
    assert a.y.shape == (120,) and a.y.dtype == np.int64
    np.testing.assert_array_equal(a.x, b.x)
    np.testing.assert_array_equal(a.y, b.y)
    assert not np.array_equal(a.x, make_dataset(name, n=120, seed=8).x)
    assert set(np.unique(a.y)) == {0, 1} and abs(np.sum(a.y == 0) - 60) <= 1
    assert np.all(a.x >= EXTENT[0]) and np.all(a.x <= EXTENT[1])


def test_disk_ring_inner_disk_is_class_a_and_ring_is_class_b():
    data = make_dataset("disk-ring", n=400, noise=0.0, seed=1)
    radius = np.linalg.norm(data.x, axis=1)
    assert radius[data.y == 0].max() < radius[data.y == 1].min()


def test_disk_ring_is_not_linearly_separable():
    # Least-squares linear classifier (the best a line can do, roughly) stays far from perfect.
    data = make_dataset("disk-ring", n=400, seed=2)
    features = np.column_stack([data.x, np.ones(len(data.x))])
    w, *_ = np.linalg.lstsq(features, 2.0 * data.y - 1.0, rcond=None)
    assert np.mean((features @ w > 0) == (data.y == 1)) < 0.8


def test_race_data_draws_train_and_test_separately():
    train, test = race_data("disk-ring", seed=3)
    assert len(train) == 300 and len(test) == 300
    assert not np.any(np.all(np.isclose(train.x[:, None, :], test.x[None, :, :]), axis=2))
    again_train, again_test = race_data("disk-ring", seed=3)
    np.testing.assert_array_equal(train.x, again_train.x)
    np.testing.assert_array_equal(test.x, again_test.x)


def test_noise_moves_points():
    clean = make_dataset("moons", noise=0.0, seed=0)
    noisy = make_dataset("moons", noise=0.2, seed=0)
    assert not np.allclose(clean.x, noisy.x)


@pytest.mark.parametrize(
    "kwargs, word",
    [
        ({"name": "circles"}, "dataset"),
        ({"name": "xor", "noise": 3.0}, "noise"),
        ({"name": "xor", "n": 0}, "n"),
    ],
)
def test_bad_arguments_name_the_parameter(kwargs, word):
    with pytest.raises(ValueError, match=word):
        make_dataset(**kwargs)
