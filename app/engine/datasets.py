"""Two-class point clouds for the race: pure functions of (n, noise, seed), the same seed giving the same points."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

# Label 0 is class A (the inner disk of disk-ring), label 1 is class B (the ring).
DATASET_NAMES: tuple[str, ...] = ("disk-ring", "spiral", "xor", "moons")

# What the two classes of each data set are, as a reader sees them: index = label.
CLASS_NAMES: dict[str, tuple[str, str]] = {
    "disk-ring": ("inner disk", "ring"),
    "spiral": ("first arm", "second arm"),
    "xor": ("top-right and bottom-left quadrants", "top-left and bottom-right quadrants"),
    "moons": ("upper moon", "lower moon"),
}

# Every data set lives inside this square, so the race canvas and grid never move.
EXTENT: tuple[float, float, float, float] = (-1.25, 1.25, -1.25, 1.25)

# Gaussian jitter (standard deviation, in data units) when the caller does not choose one.
DEFAULT_NOISE: dict[str, float] = {"disk-ring": 0.05, "spiral": 0.04, "xor": 0.05, "moons": 0.06}
NOISE_RANGE: tuple[float, float] = (0.0, 0.5)


@dataclass(frozen=True)
class Dataset:
    """Points `x` (n, 2) float64 and labels `y` (n,) int64 in {0, 1}."""

    name: str
    x: np.ndarray
    y: np.ndarray
    noise: float
    seed: int

    def __len__(self) -> int:
        return len(self.y)


def check_dataset_name(name: str) -> str:
    if name not in DATASET_NAMES:
        raise ValueError(f"dataset must be one of {', '.join(DATASET_NAMES)}; got {name!r}")
    return name


def _disk_ring(rng: np.random.Generator, n_a: int, n_b: int) -> np.ndarray:
    # Radii drawn with sqrt so points are uniform by area; the empty band 0.5..0.7 is the margin
    # that makes the two classes separable by a circle and by no straight line.
    r_a = 0.5 * np.sqrt(rng.uniform(0.0, 1.0, n_a))
    r_b = np.sqrt(rng.uniform(0.7**2, 1.0, n_b))
    angle = rng.uniform(0.0, 2.0 * np.pi, n_a + n_b)
    r = np.concatenate([r_a, r_b])
    return np.column_stack([r * np.cos(angle), r * np.sin(angle)])


def _spiral(rng: np.random.Generator, n_a: int, n_b: int) -> np.ndarray:
    # Two interleaved arms, the second turned half a revolution from the first.
    parts = []
    for count, phase in ((n_a, 0.0), (n_b, np.pi)):
        t = rng.uniform(0.0, 1.0, count)
        r = 0.1 + 0.9 * t
        angle = 3.0 * np.pi * t + phase
        parts.append(np.column_stack([r * np.cos(angle), r * np.sin(angle)]))
    return np.concatenate(parts)


def _xor(rng: np.random.Generator, n_a: int, n_b: int) -> np.ndarray:
    # Class A in quadrants where x*y > 0, class B where x*y < 0, kept 0.1 away from the axes.
    def quadrant_points(count: int, same_sign: bool) -> np.ndarray:
        magnitude = rng.uniform(0.1, 1.0, (count, 2))
        sx = rng.choice([-1.0, 1.0], count)
        sy = sx if same_sign else -sx
        return magnitude * np.column_stack([sx, sy])

    return np.concatenate([quadrant_points(n_a, True), quadrant_points(n_b, False)])


def _moons(rng: np.random.Generator, n_a: int, n_b: int) -> np.ndarray:
    # The classic two half-moons, centred and scaled into the unit square.
    t_a = rng.uniform(0.0, np.pi, n_a)
    t_b = rng.uniform(0.0, np.pi, n_b)
    a = np.column_stack([np.cos(t_a), np.sin(t_a)])
    b = np.column_stack([1.0 - np.cos(t_b), 0.5 - np.sin(t_b)])
    return (np.concatenate([a, b]) - [0.5, 0.25]) * 0.6


_GENERATORS = {"disk-ring": _disk_ring, "spiral": _spiral, "xor": _xor, "moons": _moons}


def _draw(name: str, n: int, noise: float, rng: np.random.Generator, seed: int) -> Dataset:
    n_a = (n + 1) // 2
    n_b = n - n_a
    points = _GENERATORS[name](rng, n_a, n_b)
    points = points + rng.normal(0.0, noise, points.shape) if noise > 0 else points
    labels = np.concatenate([np.zeros(n_a, np.int64), np.ones(n_b, np.int64)])
    order = rng.permutation(n)  # interleave the classes so any prefix is a fair sample
    lo, hi = EXTENT[0], EXTENT[1]
    x = np.clip(points[order], lo, hi).astype(np.float64)
    return Dataset(name=name, x=x, y=labels[order], noise=noise, seed=seed)


def _resolve(name: str, n: int, noise: float | None) -> float:
    check_dataset_name(name)
    if not isinstance(n, (int, np.integer)) or isinstance(n, bool) or n < 2:
        raise ValueError(f"n must be an integer >= 2; got {n!r}")
    noise = DEFAULT_NOISE[name] if noise is None else float(noise)
    if not NOISE_RANGE[0] <= noise <= NOISE_RANGE[1]:
        raise ValueError(f"noise must be in [{NOISE_RANGE[0]}, {NOISE_RANGE[1]}]; got {noise}")
    return noise


def make_dataset(name: str, n: int = 300, noise: float | None = None, seed: int = 0) -> Dataset:
    """`n` points of data set `name`, half of each class; a pure function of its arguments."""
    noise = _resolve(name, n, noise)
    return _draw(name, n, noise, np.random.default_rng(seed), seed)


def race_data(
    name: str, seed: int, n_train: int = 300, n_test: int = 300, noise: float | None = None
) -> tuple[Dataset, Dataset]:
    """The race's training set and a held-out set from the same distribution, drawn separately."""
    noise = _resolve(name, n_train, noise)
    _resolve(name, n_test, noise)
    # Two independent streams spawned from one seed: the held-out points are fresh draws.
    train_stream, test_stream = np.random.SeedSequence(seed).spawn(2)
    train = _draw(name, n_train, noise, np.random.default_rng(train_stream), seed)
    test = _draw(name, n_test, noise, np.random.default_rng(test_stream), seed)
    return train, test
