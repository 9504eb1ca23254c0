"""Binary race frames: each `frame` message's maps as raw bytes, as a difference from the frame
before it, compressed once per frame per run and shared by every client that watches the run.

A client that opens /ws/race with the websocket subprotocol SUBPROTOCOL receives every `frame` as one
binary message (all other messages stay JSON text); decoding it gives back exactly the frame text
the server would have sent as JSON (the same bytes: tests compare them). docs/protocol.md, "Binary
frames", is the format's description for client authors.

A binary frame is a 9-byte header and a zlib stream (RFC 1950):

    byte 0      KEY (1) or DELTA (2)
    bytes 1-4   the frame's step, unsigned big-endian
    bytes 5-8   DELTA: the step of the frame it is a difference from (the base); KEY: 0xFFFFFFFF
    bytes 9-    zlib of: the skeleton's length (4 bytes, unsigned big-endian), the skeleton, the maps

The skeleton is the frame's JSON text (UTF-8) with every map (`grid.ff`, `grid.backprop`, then
`layers.goodness[layer][label]` in order) replaced by its length in bytes. The maps are those maps'
bytes (base64-decoded), one after the other in the same order; in a DELTA, each byte is the
difference from the same byte of the base frame's maps, modulo 256. A client decodes a DELTA only
when the last frame it decoded on this connection is the base (same step, same map layout); the
server sends one only then (see FrameCodec and app/web/limits.py's SocketWriter), a KEY otherwise.
"""

from __future__ import annotations

import base64
import json
import struct
import zlib
from collections import OrderedDict
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Generic, TypeVar

import numpy as np

SUBPROTOCOL = "ff-race-delta.1"
KEY = 1
DELTA = 2
NO_BASE = 0xFFFFFFFF
HEADER = struct.Struct(">BII")
SKELETON_LENGTH = struct.Struct(">I")
# zlib level 6 (its default): level 9 gains under 1% on these frames for more CPU (bench/wire.py).
LEVEL = 6
# What a run's FrameCodec keeps. Deltas: as many as the run keeps frame texts (RunRecord.max_frames),
# so a classroom whose students press Train minutes apart still shares every one (a default race's
# 226 deltas are about 180 KB, beside its 1 MB of frame texts). Keyframes (a late joiner, a skip, a
# restore) only for the latest steps, and split frames only for the deltas being made.
CACHED_DELTAS = 1000
CACHED_KEYS = 64
CACHED_PARTS = 8

Json = dict[str, Any]


def chosen_subprotocol(scope: Mapping[str, Any]) -> str | None:
    """SUBPROTOCOL when the client's handshake offers it (binary frames), else None (JSON frames)."""
    offered = scope.get("subprotocols") or ()
    return SUBPROTOCOL if SUBPROTOCOL in offered else None


class WireError(ValueError):
    """A binary frame that cannot be decoded (corrupt, or a delta whose base this decoder lacks)."""


def map_slots(frame: Json) -> Iterator[tuple[Any, Any]]:
    """(container, key) of every map in a frame, in wire order."""
    grid = frame.get("grid")
    if isinstance(grid, dict):
        for key in ("ff", "backprop"):
            if key in grid:
                yield grid, key
    layers = frame.get("layers")
    if isinstance(layers, dict):
        for row in layers.get("goodness", ()):
            for index in range(len(row)):
                yield row, index


@dataclass(frozen=True)
class FrameParts:
    """A frame split for the wire: the skeleton's UTF-8 text and every map's bytes, concatenated."""

    step: int
    skeleton: bytes
    maps: np.ndarray  # uint8

    @classmethod
    def of(cls, text: str) -> FrameParts:
        frame = json.loads(text)
        chunks: list[bytes] = []
        for container, key in map_slots(frame):
            chunk = base64.b64decode(container[key], validate=True)
            chunks.append(chunk)
            container[key] = len(chunk)
        skeleton = json.dumps(frame, separators=(",", ":")).encode("utf-8")
        maps = np.frombuffer(b"".join(chunks), dtype=np.uint8)
        return cls(int(frame["step"]), skeleton, maps)


def _message(kind: int, step: int, base: int, skeleton: bytes, maps: bytes) -> bytes:
    body = SKELETON_LENGTH.pack(len(skeleton)) + skeleton + maps
    return HEADER.pack(kind, step, base) + zlib.compress(body, LEVEL)


def encode_key(parts: FrameParts) -> bytes:
    return _message(KEY, parts.step, NO_BASE, parts.skeleton, parts.maps.tobytes())


def encode_delta(base: FrameParts, parts: FrameParts) -> bytes:
    """`parts` as a difference from `base` (a KEY when their maps have different layouts)."""
    if base.maps.shape != parts.maps.shape:
        return encode_key(parts)
    difference = np.subtract(parts.maps, base.maps, dtype=np.uint8)  # modulo 256
    return _message(DELTA, parts.step, base.step, parts.skeleton, difference.tobytes())


def join_frame(skeleton: bytes, maps: bytes) -> str:
    """The frame's JSON text from its skeleton and maps: the inverse of FrameParts.of."""
    try:
        frame = json.loads(skeleton)
    except ValueError as bad:
        raise WireError(f"the skeleton is not JSON: {bad}") from None
    if not isinstance(frame, dict):
        raise WireError("the skeleton is not a JSON object")
    offset = 0
    for container, key in map_slots(frame):
        length = container[key]
        if not isinstance(length, int) or isinstance(length, bool) or length < 0 or offset + length > len(maps):
            raise WireError("a map's length does not fit the maps sent")
        container[key] = base64.b64encode(maps[offset : offset + length]).decode("ascii")
        offset += length
    if offset != len(maps):
        raise WireError(f"{len(maps) - offset} map bytes left over")
    return json.dumps(frame, separators=(",", ":"))


class WireDecoder:
    """One connection's decoder (the reference for client authors; the browser's is
    app/static/js/widgets/race/wire.js): binary frames in order of arrival -> the frames' JSON texts."""

    def __init__(self) -> None:
        self.step: int | None = None
        self.maps: bytes = b""

    def decode(self, message: bytes) -> str:
        if len(message) < HEADER.size:
            raise WireError("shorter than the header")
        kind, step, base = HEADER.unpack_from(message)
        if kind not in (KEY, DELTA):
            raise WireError(f"unknown kind {kind}")
        try:
            body = zlib.decompress(message[HEADER.size :])
        except zlib.error as bad:
            raise WireError(f"not a zlib stream: {bad}") from None
        if len(body) < SKELETON_LENGTH.size:
            raise WireError("no skeleton length")
        (length,) = SKELETON_LENGTH.unpack_from(body)
        end = SKELETON_LENGTH.size + length
        if end > len(body):
            raise WireError("the skeleton is cut short")
        skeleton, maps = body[SKELETON_LENGTH.size : end], body[end:]
        if kind == DELTA:
            if self.step != base or len(self.maps) != len(maps):
                raise WireError(f"a delta from step {base}, but the last frame decoded is {self.step}")
            maps = np.add(
                np.frombuffer(maps, dtype=np.uint8), np.frombuffer(self.maps, dtype=np.uint8), dtype=np.uint8
            ).tobytes()
        text = join_frame(skeleton, maps)
        self.step, self.maps = step, maps
        return text


K = TypeVar("K")
V = TypeVar("V")


class _Lru(Generic[K, V]):
    def __init__(self, size: int) -> None:
        self.size = size
        self._items: OrderedDict[K, V] = OrderedDict()

    def get(self, key: K, make: Callable[[], V]) -> V:
        value = self._items.get(key)
        if value is None:
            value = self._items[key] = make()
            if len(self._items) > self.size:
                self._items.popitem(last=False)
        else:
            self._items.move_to_end(key)
        return value

    def __len__(self) -> int:
        return len(self._items)


class FrameCodec:
    """One run's binary frames, each encoded once however many clients are sent it: a KEY per step
    and a DELTA per (base step, step) pair, the latest of each kept (see CACHED_*). Frames of a run
    are a pure function of their step, so a step names its text."""

    def __init__(self, deltas: int = CACHED_DELTAS, keys: int = CACHED_KEYS, parts: int = CACHED_PARTS) -> None:
        self._parts: _Lru[int, FrameParts] = _Lru(parts)
        self._keys: _Lru[int, bytes] = _Lru(keys)
        self._deltas: _Lru[tuple[int, int], bytes] = _Lru(deltas)
        self.encoded = 0  # messages compressed (tests, bench: shared work is done once)
        self.encoded_by_engine = 0  # of which in an engine process (add_delta), not in the event loop

    def parts(self, step: int, text: str) -> FrameParts:
        return self._parts.get(step, lambda: FrameParts.of(text))

    def key(self, step: int, text: str) -> bytes:
        def make() -> bytes:
            self.encoded += 1
            return encode_key(self.parts(step, text))

        return self._keys.get(step, make)

    def add_delta(self, base_step: int, step: int, message: bytes) -> None:
        """A DELTA made elsewhere (an engine process, app/web/engine_worker.py): kept as if made here."""

        def made_there() -> bytes:
            self.encoded += 1
            self.encoded_by_engine += 1
            return message

        self._deltas.get((base_step, step), made_there)

    def delta(self, base_step: int, base_text: str, step: int, text: str) -> bytes:
        def make() -> bytes:
            self.encoded += 1
            return encode_delta(self.parts(base_step, base_text), self.parts(step, text))

        return self._deltas.get((base_step, step), make)
