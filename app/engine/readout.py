"""The paper's one-pass alternative to per-label inference: a softmax read-out on an FF net's activities."""

from __future__ import annotations

from typing import TYPE_CHECKING

from app.engine.optim import Optimizer

if TYPE_CHECKING:  # both modules import this one
    from app.engine.digits import DigitFF
    from app.engine.ff import FFNetwork

import numpy as np

from app.engine.ff import normalize, normalize_input, with_bias_column


class SoftmaxReadout:
    """The paper's one-pass alternative: a linear softmax on the normalized hidden activities of a
    neutral-label pass (every label entry 1/n_labels), trained on its own; nothing flows back
    into the FF layers. skip_first_layer follows the paper's deep nets; in the race's shallow
    net the first layer carries most of the evidence, so the default reads every layer."""

    def __init__(
        self,
        network: FFNetwork | DigitFF,
        optimizer: Optimizer,
        rng: np.random.Generator,
        skip_first_layer: bool = False,
    ) -> None:
        self.network = network
        self.optimizer = optimizer
        sizes = [layer.n_out for layer in network.layers]
        skip = skip_first_layer and len(sizes) > 1
        self.layer_indices = list(range(1 if skip else 0, len(sizes)))
        n_in = sum(sizes[i] for i in self.layer_indices)
        self.params = np.zeros((n_in + 1, network.n_labels))
        self.params[:-1] = rng.normal(0.0, np.sqrt(1.0 / n_in), (n_in, network.n_labels))

    def features(self, points: np.ndarray) -> np.ndarray:
        n, k = len(points), self.network.n_labels
        x = np.empty((n, points.shape[1] + k + 1))
        x[:, : points.shape[1]] = points
        x[:, points.shape[1] : -1] = 1.0 / k  # the neutral label
        normalize_input(x[:, :-1], self.network.input_normalization)
        x[:, -1] = 1.0
        activities = self.network.hidden_activities(x)
        return with_bias_column(np.concatenate([normalize(activities[i]) for i in self.layer_indices], axis=1))

    def probabilities(self, points: np.ndarray) -> np.ndarray:
        logits = self.features(points) @ self.params
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        return p / p.sum(axis=1, keepdims=True)

    def predict(self, points: np.ndarray) -> np.ndarray:
        return np.argmax(self.features(points) @ self.params, axis=1)

    def train_step(self, points: np.ndarray, labels: np.ndarray) -> None:
        features = self.features(points)
        logits = features @ self.params
        logits -= logits.max(axis=1, keepdims=True)
        p = np.exp(logits)
        p /= p.sum(axis=1, keepdims=True)
        p[np.arange(len(labels)), labels] -= 1.0
        # Key -1: the readout's optimizer state never collides with a layer's.
        self.optimizer.update(-1, self.params, features.T @ p / len(labels))
