"""Flat parameters and scratch: one array per net whose views stay tied to it through copies."""

import copy
import pickle

import numpy as np

from app.engine.backprop import BackpropMLP
from app.engine.ff import FFNetwork
from app.engine.optim import Adam
from app.engine.params import FlatParameters
from app.engine.scratch import Scratch


def test_views_are_the_flat_array_in_order():
    matrices = [np.arange(6.0).reshape(3, 2), np.arange(4.0).reshape(2, 2) + 10]
    flat = FlatParameters.holding(matrices)
    np.testing.assert_array_equal(flat.flat, [0, 1, 2, 3, 4, 5, 10, 11, 12, 13])
    for view, matrix in zip(flat.views, matrices, strict=True):
        np.testing.assert_array_equal(view, matrix)
        assert view.base is flat.flat and view.flags.c_contiguous
    flat.flat += 1.0
    assert flat.views[1][0, 0] == 11.0
    assert flat.zeros_like().shapes == flat.shapes


def test_copies_and_pickles_get_views_of_their_own_flat_array():
    flat = FlatParameters.holding([np.ones((2, 3)), np.ones((3, 1))])
    for clone in (copy.deepcopy(flat), pickle.loads(pickle.dumps(flat))):
        assert all(view.base is clone.flat for view in clone.views)
        clone.flat[:] = 7.0
        assert clone.views[1][2, 0] == 7.0 and flat.views[1][2, 0] == 1.0


def test_a_copied_network_trains_its_own_weights():
    x = np.random.default_rng(0).normal(size=(20, 2))
    y = (x[:, 0] > 0).astype(int)
    for make, step in (
        (
            lambda: FFNetwork((5, 4), 2, 2.0, Adam(0.03), np.random.default_rng(1)),
            lambda net: net.train_step(x, y, np.random.default_rng(2)),
        ),
        (lambda: BackpropMLP((2, 5, 4, 2), Adam(0.03), np.random.default_rng(1)), lambda net: net.train_step(x, y)),
    ):
        net = make()
        step(net)
        for duplicate in (copy.deepcopy, lambda n: pickle.loads(pickle.dumps(n))):
            clone = duplicate(net)
            step(clone)
            step(net)
            # The clone's layer matrices are views of the clone's flat array, not the original's.
            matrices = [layer.params for layer in clone.layers] if isinstance(clone, FFNetwork) else clone.params
            assert all(m.base is clone.parameters.flat for m in matrices)
            np.testing.assert_array_equal(clone.parameters.flat, net.parameters.flat)


def test_scratch_reuses_its_memory_and_grows_when_asked_for_more_rows():
    scratch = Scratch()
    a = scratch.rows("h", 10, 3, ones_column=True)
    assert a.shape == (10, 3) and np.all(a[:, -1] == 1.0)
    a[:, :-1] = 5.0
    b = scratch.rows("h", 4, 3, ones_column=True)
    assert np.shares_memory(a, b) and np.all(b[:, -1] == 1.0)
    c = scratch.rows("h", 20, 3, ones_column=True)
    assert c.shape == (20, 3) and not np.shares_memory(a, c)
    assert scratch.rows("h", 4, 5).shape == (4, 5)  # another width is another buffer
    table = scratch.table("g", 2, 7)
    assert table.shape == (2, 7) and table[1].flags.c_contiguous
    assert copy.deepcopy(scratch).nbytes == 0 and pickle.loads(pickle.dumps(scratch)).nbytes == 0
