"""The reference every engine speed figure is a ratio to: the race step written plainly in NumPy.

This is the step as a careful reader of the paper would first write it: a positive pass, then a
negative pass, each layer with its own weight matrix and bias vector, each array with its own
Adam state, float64, the textbook formulas one NumPy expression each. It starts from a race's
initial weights and trains on the race's points, so it computes the same step as the engine (to
float rounding: the engine folds the bias into the weight matrix and rearranges Adam's
arithmetic; `check_against` holds the two together).

Timing a step of this next to the engine's, in the same process, gives a ratio that does not care
how fast or how busy the machine is."""

from __future__ import annotations

import numpy as np

EPSILON = 1e-8


class PlainAdam:
    """m <- b1 m + (1 - b1) g;  v <- b2 v + (1 - b2) g^2;  w <- w - lr m_hat / (sqrt(v_hat) + eps)."""

    def __init__(self, shape, learning_rate, beta1=0.9, beta2=0.999, epsilon=1e-8):
        self.m, self.v, self.t = np.zeros(shape), np.zeros(shape), 0
        self.lr, self.beta1, self.beta2, self.epsilon = learning_rate, beta1, beta2, epsilon

    def step(self, w, grad):
        self.t += 1
        self.m = self.beta1 * self.m + (1 - self.beta1) * grad
        self.v = self.beta2 * self.v + (1 - self.beta2) * grad**2
        m_hat = self.m / (1 - self.beta1**self.t)
        v_hat = self.v / (1 - self.beta2**self.t)
        w -= self.lr * m_hat / (np.sqrt(v_hat) + self.epsilon)


class PlainLayer:
    def __init__(self, params, learning_rate):
        self.W, self.b = params[:-1].copy(), params[-1].copy()
        self.W_adam = PlainAdam(self.W.shape, learning_rate)
        self.b_adam = PlainAdam(self.b.shape, learning_rate)

    def update(self, dW, db):
        self.W_adam.step(self.W, dW)
        self.b_adam.step(self.b, db)


def plain_input(points, labels, n_labels, mode):
    """[x, y, one-hot(label)], each row rescaled as the race's input normalization says."""
    x = np.concatenate([points, np.eye(n_labels)[labels]], axis=1)
    if mode == "rms":
        x = x / (np.sqrt(np.mean(x**2, axis=1, keepdims=True)) + EPSILON)
    elif mode == "length":
        x = x / (np.linalg.norm(x, axis=1, keepdims=True) + EPSILON)
    return x


class PlainRace:
    """The race's two nets, plainly: FF with the separate schedule and backprop, Adam for both."""

    def __init__(self, race):
        s = race.settings
        if s.optimizer != "adam" or s.ff_schedule != "separate":
            raise ValueError("the reference writes the default race: Adam and the separate schedule")
        self.theta, lr = s.theta, s.learning_rate
        self.ff = [PlainLayer(layer.params, lr) for layer in race.ff.layers]
        self.bp = [PlainLayer(params, lr) for params in race.backprop.params]
        points, labels = race.train.x, race.train.y
        self.x_positive = plain_input(points, labels, 2, s.ff_input_normalization)
        self.x_negative = plain_input(points, 1 - labels, 2, s.ff_input_normalization)
        self.points, self.onehot = points, np.eye(2)[labels]

    def ff_pass(self, x, target):
        n, h = len(x), x
        for layer in self.ff:
            y = np.maximum(h @ layer.W + layer.b, 0.0)
            g = np.sum(y**2, axis=1)  # goodness
            p = 1.0 / (1.0 + np.exp(-(g - self.theta)))  # p(positive) = sigma(G - theta)
            dL_dy = ((p - target) / n)[:, None] * 2.0 * y  # dL/dG * dG/dy, ReLU's mask in y
            layer.update(h.T @ dL_dy, dL_dy.sum(axis=0))
            h = y / (np.linalg.norm(y, axis=1, keepdims=True) + EPSILON)

    def backprop_step(self):
        activations, h = [self.points], self.points
        for layer in self.bp[:-1]:
            h = np.maximum(h @ layer.W + layer.b, 0.0)
            activations.append(h)
        logits = h @ self.bp[-1].W + self.bp[-1].b
        e = np.exp(logits - logits.max(axis=1, keepdims=True))
        delta = (e / e.sum(axis=1, keepdims=True) - self.onehot) / len(logits)
        grads = []
        for i in range(len(self.bp) - 1, -1, -1):
            h = activations[i]
            grads.append((h.T @ delta, delta.sum(axis=0)))
            if i:
                delta = (delta @ self.bp[i].W.T) * (h > 0)
        for layer, (dW, db) in zip(reversed(self.bp), grads, strict=True):
            layer.update(dW, db)

    def step(self):
        self.ff_pass(self.x_positive, 1.0)
        self.ff_pass(self.x_negative, 0.0)
        self.backprop_step()

    def parameters(self):
        """Every layer's [W; b], as the engine keeps them: FF layers, then backprop's."""
        return [np.vstack([layer.W, layer.b]) for layer in self.ff + self.bp]


def check_against(race_factory, steps: int = 50, rtol: float = 1e-9) -> float:
    """Train a fresh race and the reference side by side; raise unless every parameter agrees to
    `rtol` (relative to the largest parameter of its layer) after `steps` steps. Returns the worst
    relative difference found."""
    race = race_factory()
    plain = PlainRace(race)
    for _ in range(steps):
        race.step()
        plain.step()
    engine = [layer.params for layer in race.ff.layers] + list(race.backprop.params)
    worst = 0.0
    for a, b in zip(engine, plain.parameters(), strict=True):
        worst = max(worst, float(np.max(np.abs(a - b)) / np.max(np.abs(b))))
    if not worst <= rtol:
        raise AssertionError(f"the reference and the engine disagree after {steps} steps: {worst:.2e} > {rtol:.0e}")
    return worst
