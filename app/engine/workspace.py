"""Work memory for the columns kernel, one per thread and shared by every race the thread runs.

A race's passes need work arrays (each layer's activities, its next input, the goodness), a few
hundred kilobytes in all, and a server's engine process runs dozens of races in turn. Kept per
race, those arrays made each race's state 1.5 MB, and a process serving 45 races in turn paid
about 5% more per frame than one serving a single race; now 1-2% (bench/engine_parts.py), and a
race keeps 196 KB. Here they belong to the thread instead:

* `temporaries(key, specs)`: the arrays of one pass, laid out from the start of one arena. Every
  pass's temporaries share that memory, so the evaluation's FF pass, its grid pass and the
  backprop sweeps walk through the same few hundred kilobytes, and so does every race. They are
  valid until the thread's next call of `temporaries`: a pass asks for all its arrays at once and
  is done with them before it returns (it returns results, never temporaries).
* `result(key, shape, dtype)`: an array of its own per key, for what a pass hands back to its
  caller (a goodness table, the logits): not overwritten by temporaries, only by the next result
  of the same key, which the caller has consumed by then. `with_ones_rows` are results whose last
  rows (a layer input's bias row) are set to 1 once, so no pass has to write them again.

Nothing here belongs to a race, so a copy, a fork or a pickle of a race carries no work memory.
Threads never share a workspace (a server with engine threads runs a race in one at a time), and
an arena only grows: a thread keeps the largest size its races asked for."""

from __future__ import annotations

import threading
from collections import OrderedDict
from collections.abc import Callable, Hashable
from typing import Any

import numpy as np

ALIGN = 64  # bytes: each temporary starts on a cache line
# Bounds, so that no sequence of races (a client cycling through settings) grows a thread's memory
# without end: the views of this many passes' temporaries are kept (views cost no memory; a
# forgotten one is made again), and results and inputs up to this many bytes, least recently used
# first out. The default race needs about 0.3 MB of them; the largest settings about 10 MB.
TEMPORARY_KEYS = 128
KEPT_BYTES = 32 * 1024 * 1024

Spec = tuple[tuple[int, ...], Any]  # (shape, dtype)


class Workspace:
    def __init__(self) -> None:
        self._arena = np.empty(0, np.uint8)
        self._temporaries: OrderedDict[Any, tuple[np.ndarray, ...]] = OrderedDict()
        self._kept: OrderedDict[Any, tuple[np.ndarray, ...]] = OrderedDict()  # results and inputs
        self._kept_bytes = 0
        self.generation = 0  # counts the arena's growths: views from an earlier generation are stale

    def temporaries(self, key: Any, specs: tuple[Spec, ...]) -> tuple[np.ndarray, ...]:
        """One pass's arrays (uninitialized), side by side from the start of the arena; `key` must
        name `specs` (the same key, the same shapes). See the module doc for how long they live."""
        views = self._temporaries.get(key)
        if views is None:
            offsets, end = [], 0
            for shape, dtype in specs:
                offsets.append(end)
                end += -(-int(np.prod(shape)) * np.dtype(dtype).itemsize // ALIGN) * ALIGN
            if end > self._arena.nbytes:
                # Grow (doubling): views of the old arena are forgotten, and rebuilt on next use.
                self._arena = np.empty(max(end, 2 * self._arena.nbytes) + ALIGN, np.uint8)
                self._temporaries.clear()
                self.generation += 1
            base = -self._arena.ctypes.data % ALIGN
            views = tuple(
                np.ndarray(shape, dtype, buffer=self._arena, offset=base + offset)
                for (shape, dtype), offset in zip(specs, offsets, strict=True)
            )
            self._temporaries[key] = views
            if len(self._temporaries) > TEMPORARY_KEYS:
                self._temporaries.popitem(last=False)
        return views

    def _keep(self, key: Any, arrays: tuple[np.ndarray, ...]) -> tuple[np.ndarray, ...]:
        self._kept[key] = arrays
        self._kept_bytes += sum(array.nbytes for array in arrays)
        while self._kept_bytes > KEPT_BYTES and len(self._kept) > 1:
            # The least recently used go; whoever still holds one keeps it alive until done with it.
            _, old = self._kept.popitem(last=False)
            self._kept_bytes -= sum(array.nbytes for array in old)
        return arrays

    def result(self, key: Any, shape: tuple[int, ...], dtype: Any = np.float64) -> np.ndarray:
        """An (uninitialized) array of its own for `key`, the same one on every call while kept;
        `key` must name the shape and dtype (the same key, the same array)."""
        arrays = self._kept.get(key)
        if arrays is None:
            arrays = self._keep(key, (np.empty(shape, dtype),))
        else:
            self._kept.move_to_end(key)
        return arrays[0]

    def with_ones_rows(self, key: Any, shapes: tuple[tuple[int, int], ...], dtype: Any = np.float64) -> tuple:
        """Results (memory of their own, per key) whose last rows are 1, set once: layer inputs
        [H, 1], whose other rows the caller writes. One tuple per key: `key` must name `shapes`."""
        arrays = self._kept.get(key)
        if arrays is None:
            made = tuple(np.empty(shape, dtype) for shape in shapes)
            for array in made:
                array[-1] = 1.0
            arrays = self._keep(key, made)
        else:
            self._kept.move_to_end(key)
        return arrays

    @property
    def nbytes(self) -> int:
        return self._arena.nbytes + self._kept_bytes


_local = threading.local()


def workspace() -> Workspace:
    """This thread's workspace."""
    try:
        mine: Workspace = _local.workspace
        return mine
    except AttributeError:
        mine = _local.workspace = Workspace()
        return mine


class Bound:
    """What one owner (a race's kernel, its evaluator) made in a thread's workspace, by name: made
    once by make(workspace), and again when another thread's workspace asks or after the arena grew
    (views of the old arena are stale). Not copied with its owner: a copy starts empty."""

    __slots__ = ("_space", "_generation", "_made")

    def __init__(self) -> None:
        self._space: Workspace | None = None
        self._generation = -1
        self._made: dict[Hashable, Any] = {}

    def __len__(self) -> int:
        """How many names have arrays made (in the workspace they were last made in)."""
        return len(self._made)

    def get(self, name: Hashable, make: Callable[[Workspace], Any], tied_to: object = None) -> Any:
        """The arrays `name` (shapes fixed per name); `tied_to`: also made again when the object they
        were made for (a net's parameter array) is not the same one."""
        space = workspace()
        if self._space is not space or self._generation != space.generation:
            self._space, self._generation, self._made = space, space.generation, {}
        found = self._made.get(name)
        if found is None or found[0] is not tied_to:
            found = self._made[name] = (tied_to, make(space))
        return found[1]
