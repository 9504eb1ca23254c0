"""Work arrays reused from call to call, so a pass over a few hundred rows allocates nothing.

At the race's sizes a NumPy call costs about as much as its arithmetic, and allocating a fresh
array per intermediate adds to that. A `Scratch` hands out named buffers: allocated on first use,
grown when more rows are asked for, and otherwise the same memory every time. A buffer is
overwritten by the next request for its name, so a caller must be done with it by then.

A copy of the owner (a checkpoint, a fork, a pickle) gets an empty Scratch: buffers are never
shared between copies and never travel with them."""

from __future__ import annotations

from collections.abc import Hashable

import numpy as np
from numpy.typing import DTypeLike


class Scratch:
    def __init__(self, dtype: DTypeLike = np.float64) -> None:
        self.dtype = np.dtype(dtype)
        self._buffers: dict = {}

    def rows(self, name: Hashable, n: int, width: int | None = None, ones_column: bool = False) -> np.ndarray:
        """A C-contiguous (n,) or (n, width) array: the first n rows of the buffer `name`. With
        ones_column its last column is 1 (set once; callers write only the other columns)."""
        key = (name, width)  # one name may serve several widths (layers of other sizes)
        buffer = self._buffers.get(key)
        if buffer is None or len(buffer) < n:
            shape = (n,) if width is None else (n, width)
            buffer = np.ones(shape, self.dtype) if ones_column else np.empty(shape, self.dtype)
            self._buffers[key] = buffer
        return buffer if len(buffer) == n else buffer[:n]

    def table(self, name: Hashable, layers: int, n: int) -> np.ndarray:
        """A (layers, n) array whose every row is contiguous: the first n columns of `name`."""
        buffer = self._buffers.get(name)
        if buffer is None or buffer.shape[0] != layers or buffer.shape[1] < n:
            buffer = self._buffers[name] = np.empty((layers, n), self.dtype)
        return buffer[:, :n]

    @property
    def nbytes(self) -> int:
        return sum(buffer.nbytes for buffer in self._buffers.values())

    def __deepcopy__(self, memo: dict) -> Scratch:
        return Scratch(self.dtype)

    def __reduce__(self) -> tuple[type[Scratch], tuple[DTypeLike]]:
        return Scratch, (self.dtype,)


class FreshArrays:
    """The Scratch interface with a new array for every request: for one-off passes (inference
    on a few points) whose results the caller keeps."""

    dtype = np.dtype(np.float64)

    def rows(self, name: Hashable, n: int, width: int | None = None, ones_column: bool = False) -> np.ndarray:
        shape = (n,) if width is None else (n, width)
        return np.ones(shape) if ones_column else np.empty(shape)

    def table(self, name: Hashable, layers: int, n: int) -> np.ndarray:
        return np.empty((layers, n))


FRESH = FreshArrays()
