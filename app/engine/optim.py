"""Optimizers shared by both networks: SGD with momentum and Adam, updating parameter arrays in place."""

from __future__ import annotations

import math
from typing import Protocol

import numpy as np

OPTIMIZER_NAMES: tuple[str, ...] = ("adam", "sgd")


class Optimizer(Protocol):
    """What the nets need of an optimizer: update `param` in place from `grad` (state kept per `key`)."""

    learning_rate: float  # a schedule may change it between updates

    def update(self, key: int, param: np.ndarray, grad: np.ndarray) -> None: ...


class SGDMomentum:
    """v <- mu v + g; w <- w - lr v (heavy-ball momentum, one velocity per parameter array)."""

    def __init__(self, learning_rate: float, momentum: float = 0.9) -> None:
        self.learning_rate = float(learning_rate)
        self.momentum = float(momentum)
        self._velocity: dict[int, np.ndarray] = {}

    def update(self, key: int, param: np.ndarray, grad: np.ndarray) -> None:
        velocity = self._velocity.get(key)
        if velocity is None:
            velocity = self._velocity[key] = np.zeros_like(param)
        velocity *= self.momentum
        velocity += grad
        param -= self.learning_rate * velocity


class Adam:
    """Adam (Kingma & Ba) with bias correction; each parameter array keeps its own step count."""

    def __init__(self, learning_rate: float, beta1: float = 0.9, beta2: float = 0.999, epsilon: float = 1e-8) -> None:
        self.learning_rate = float(learning_rate)
        self.beta1, self.beta2, self.epsilon = float(beta1), float(beta2), float(epsilon)
        # key -> [first moment, second moment, scratch buffer, step count]
        self._state: dict[int, list] = {}

    def update(self, key: int, param: np.ndarray, grad: np.ndarray) -> None:
        state = self._state.get(key)
        if state is None:
            state = self._state[key] = [np.zeros_like(param), np.zeros_like(param), np.empty_like(param), 0]
        m, v, scratch, t = state
        t += 1
        state[3] = t
        b1, b2 = self.beta1, self.beta2
        # In-place arithmetic: these arrays are tiny, so the cost is the number of NumPy calls.
        m *= b1
        np.multiply(grad, 1.0 - b1, out=scratch)
        m += scratch
        v *= b2
        np.multiply(grad, grad, out=scratch)
        scratch *= 1.0 - b2
        v += scratch
        # Scalars in plain Python (math.sqrt and np.sqrt are both correctly rounded: same bits).
        root = math.sqrt(1.0 - b2**t)
        step = self.learning_rate * root / (1.0 - b1**t)
        np.sqrt(v, out=scratch)
        scratch += self.epsilon * root
        np.divide(m, scratch, out=scratch)
        scratch *= step
        param -= scratch


def make_optimizer(name: str, learning_rate: float) -> Optimizer:
    if name == "adam":
        return Adam(learning_rate)
    if name == "sgd":
        return SGDMomentum(learning_rate)
    raise ValueError(f"optimizer must be one of {', '.join(OPTIMIZER_NAMES)}; got {name!r}")
