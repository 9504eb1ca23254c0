"""Optimizers: both minimize a quadratic; SGD with momentum follows its textbook recurrence."""

import numpy as np
import pytest

from app.engine.optim import Adam, SGDMomentum, make_optimizer


@pytest.mark.parametrize("optimizer", [SGDMomentum(0.05), Adam(0.05)])
def test_minimizes_a_quadratic(optimizer):
    target = np.array([[1.0, -2.0], [0.5, 3.0]])
    w = np.zeros_like(target)
    for _ in range(600):
        optimizer.update(0, w, 2.0 * (w - target))
    np.testing.assert_allclose(w, target, atol=1e-2)


def test_sgd_momentum_recurrence():
    opt = SGDMomentum(0.1, momentum=0.9)
    w = np.array([1.0])
    opt.update(0, w, np.array([1.0]))  # v = 1, w = 1 - 0.1
    opt.update(0, w, np.array([1.0]))  # v = 0.9 + 1 = 1.9, w = 0.9 - 0.19
    np.testing.assert_allclose(w, [0.71])


def test_adam_first_step_moves_each_weight_by_the_learning_rate():
    # Bias correction makes Adam's first step lr * sign(grad), whatever the gradient's scale.
    opt = Adam(0.01)
    w = np.zeros(3)
    opt.update(0, w, np.array([1e-3, -50.0, 2.0]))
    np.testing.assert_allclose(w, [-0.01, 0.01, -0.01], rtol=1e-4)


def test_parameters_keep_separate_state():
    opt = Adam(0.1)
    a, b = np.zeros(1), np.zeros(1)
    opt.update(0, a, np.array([1.0]))
    opt.update(1, b, np.array([-1.0]))
    assert a[0] < 0 < b[0]


def test_unknown_optimizer():
    with pytest.raises(ValueError, match="optimizer"):
        make_optimizer("rmsprop", 0.1)
