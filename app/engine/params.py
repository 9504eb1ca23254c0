"""A net's parameters as one flat array, each layer's matrix a view of it: one optimizer update per net.

An optimizer's update is a dozen element-wise NumPy calls whatever the array's size, and at the
race's sizes the calls, not the arithmetic, are the cost. Every optimizer here is element-wise
(each weight's new value depends only on its own gradient and state), so updating the whole net's
flat array in one call gives every weight exactly the value per-layer updates would give it.

The views must keep pointing into the flat array of their own copy: copying (a checkpoint, a
fork) and pickling rebuild them from the copied flat array."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import numpy as np


class FlatParameters:
    """`flat`, one contiguous float64 array, and `views`, one C-contiguous matrix per layer into it."""

    def __init__(self, shapes: list[tuple[int, ...]], flat: np.ndarray | None = None) -> None:
        self.shapes = [tuple(shape) for shape in shapes]
        size = sum(math.prod(shape) for shape in self.shapes)
        self.flat = np.zeros(size) if flat is None else flat
        if self.flat.shape != (size,):
            raise ValueError(f"a flat array of {size} numbers is needed; got shape {self.flat.shape}")
        self.views: list[np.ndarray] = []
        start = 0
        for shape in self.shapes:
            stop = start + math.prod(shape)
            self.views.append(self.flat[start:stop].reshape(shape))
            start = stop

    @classmethod
    def holding(cls, matrices: Sequence[np.ndarray]) -> FlatParameters:
        """A flat array holding copies of `matrices`, in order."""
        return cls([m.shape for m in matrices], np.concatenate([np.ravel(m) for m in matrices]))

    def zeros_like(self) -> FlatParameters:
        """Another flat array of the same layout (for gradients)."""
        return FlatParameters(self.shapes)

    def __reduce__(self) -> tuple[type[FlatParameters], tuple[Any, ...]]:
        # Copies and pickles carry the flat array and the layout; the views are rebuilt from them.
        return FlatParameters, (self.shapes, self.flat)


class LazyGradient:
    """For a net with `parameters` (FlatParameters) and `_gradient` (None until first used)."""

    parameters: FlatParameters
    _gradient: FlatParameters | None

    @property
    def gradient(self) -> FlatParameters:
        """The buffer each step's gradients are written into: the layout of the parameters, made
        on first use (a checkpoint that never trains never holds one)."""
        if self._gradient is None:
            self._gradient = self.parameters.zeros_like()
        return self._gradient
