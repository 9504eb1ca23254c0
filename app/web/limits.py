"""Per-process and per-connection limits: session caps, the inbound rate limit, the conflating outbox
and the writer that drains it no faster than the client reads."""

from __future__ import annotations

from collections.abc import Callable
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from starlette.websockets import WebSocket

    from app.web.metrics import Metrics
    from app.web.transport import Delivery

import asyncio
import time
from collections import Counter, deque
from dataclasses import dataclass

from app.web.wire import FrameCodec


class SessionRegistry:
    """Counts live race sessions in total and per client address (caps from the settings)."""

    def __init__(self, total: int, per_client: int) -> None:
        self.total = total
        self.per_client = per_client
        self._by_client: Counter[str] = Counter()
        self._live = 0

    @property
    def live(self) -> int:
        return self._live

    def count(self, client: str) -> int:
        """Live sessions of one client address."""
        return self._by_client.get(client, 0)

    def acquire(self, client: str) -> Lease | None:
        if self._live >= self.total or self._by_client[client] >= self.per_client:
            return None
        self._live += 1
        self._by_client[client] += 1
        return Lease(self, client)

    def _release(self, client: str) -> None:
        self._live -= 1
        self._by_client[client] -= 1
        if self._by_client[client] <= 0:
            del self._by_client[client]  # the Counter must not grow with every address ever seen


@dataclass
class Lease:
    registry: SessionRegistry
    client: str
    released: bool = False

    def release(self) -> None:
        if not self.released:
            self.released = True
            self.registry._release(self.client)


class RateLimiter:
    """At most `limit` messages in any sliding one-second window; memory is `limit` timestamps."""

    def __init__(self, limit: int, window_s: float = 1.0, clock: Callable[[], float] = time.monotonic) -> None:
        self.limit = limit
        self.window_s = window_s
        self._clock = clock
        self._times: deque[float] = deque(maxlen=limit)

    def allow(self) -> bool:
        now = self._clock()
        if len(self._times) == self.limit and now - self._times[0] < self.window_s:
            return False
        self._times.append(now)
        return True


FRAME = "frame"
MESSAGE = "message"


@dataclass(frozen=True)
class OutFrame:
    """A `frame` on its way to one client: its JSON text, and what a binary client needs to be sent it
    as a difference from the frame before it (app/web/wire.py)."""

    text: str
    step: int
    # The step of the frame the session sent before this one on the same run, which an uninterrupted
    # client holds (None: the first frame of a start, reset or restore).
    base: int | None
    codec: FrameCodec  # the run's shared encoder: a run's frames are encoded once for all clients


class Outbox:
    """The bounded queue between a session and its socket writer.

    Frames conflate: a new frame replaces an unsent older one (a slow reader sees fewer frames, not
    older ones, and memory does not grow). Other messages (race, state, inference, error) keep their
    order; past `capacity` the oldest is dropped, which only a client that stopped reading and
    keeps sending can cause, and the slow-reader timeout ends that client soon after.
    """

    def __init__(self, capacity: int = 32) -> None:
        self.capacity = capacity
        self._items: deque[tuple[str, str | OutFrame]] = deque()
        self._ready = asyncio.Event()
        self._closed = False
        self.conflated = 0
        self.dropped = 0

    def __len__(self) -> int:
        return len(self._items)

    def put_frame(self, text: str | OutFrame) -> None:
        for index, (kind, _) in enumerate(self._items):
            if kind == FRAME:
                del self._items[index]
                self.conflated += 1
                break
        self._put(FRAME, text)

    def put(self, text: str) -> None:
        self._put(MESSAGE, text)

    def _put(self, kind: str, text: str | OutFrame) -> None:
        if self._closed:
            return
        if len(self._items) >= self.capacity:
            self._items.popleft()
            self.dropped += 1
        self._items.append((kind, text))
        self._ready.set()

    def close(self) -> None:
        """No more items; get() returns None once the queue is empty."""
        self._closed = True
        self._ready.set()

    async def wait(self) -> bool:
        """Until there is an item (True), or the outbox is closed and empty (False)."""
        while not self._items:
            if self._closed:
                return False
            self._ready.clear()
            await self._ready.wait()
        return True

    def pop(self) -> tuple[str, str | OutFrame]:
        return self._items.popleft()

    async def get(self) -> tuple[str, str | OutFrame] | None:
        return self.pop() if await self.wait() else None


class SocketWriter:
    """Drains an Outbox into a websocket. Served by uvicorn through app/web/transport.py it has a
    Delivery: how much of what it sent the client has confirmed reading (delivery pings). While
    the unconfirmed bytes reach the window (FF_SEND_WINDOW_BYTES) it holds back, so frames conflate
    in the outbox instead of queueing in socket buffers, and memory per connection is the window
    plus the outbox. Without a Delivery (Starlette's test client) each send is bounded by the
    slow-reader timeout instead.

    A `binary` writer (the client chose app/web/wire.py's subprotocol) sends frames as binary
    messages: a DELTA from the last frame it sent when that frame is the new frame's base (the frame
    the session played before it, which is what every uninterrupted client holds), a KEY otherwise
    (conflation dropped frames in between, the first frame of a connection, a start or a reset).
    Both come from the run's FrameCodec, so each is compressed once however many clients get it."""

    def __init__(
        self,
        websocket: WebSocket,
        outbox: Outbox,
        slow_reader_timeout_s: float,
        metrics: Metrics,
        delivery: Delivery | None = None,
        binary: bool = False,
    ) -> None:
        self.ws = websocket
        self.outbox = outbox
        self.timeout_s = slow_reader_timeout_s
        self.metrics = metrics
        self.delivery = delivery
        self.binary = binary
        self.last_frame: OutFrame | None = None  # the last frame sent (binary clients)
        self.conflated_reported = 0

    def wire(self, item: str | OutFrame) -> str | bytes:
        """What goes on the wire for an outbox item."""
        if isinstance(item, str):
            return item
        if not self.binary:
            return item.text
        last, self.last_frame = self.last_frame, item
        if last is not None and item.base is not None and last.codec is item.codec and last.step == item.base:
            return item.codec.delta(last.step, last.text, item.step, item.text)
        return item.codec.key(item.step, item.text)

    async def send(self, data: str | bytes) -> None:
        if isinstance(data, bytes):
            await self.ws.send_bytes(data)
        else:
            await self.ws.send_text(data)

    async def run(self) -> None:
        """Ends normally when the outbox is closed and empty, or when the client has read nothing for
        the slow-reader timeout (counted as a `slow_reader` refusal); raises if the client vanished."""
        while True:
            if not await self.outbox.wait():
                return
            if self.delivery is not None and not await self.wait_for_reader(self.delivery):
                self.metrics.refuse("slow_reader")
                return
            kind, item = self.outbox.pop()
            data = self.wire(item)
            if self.delivery is not None:
                # wait_for_reader saw the transport writable: this send does not block.
                await self.send(data)
                self.delivery.sent_message(len(data))
            else:
                try:
                    async with asyncio.timeout(self.timeout_s):
                        await self.send(data)
                except TimeoutError:
                    self.metrics.refuse("slow_reader")
                    return
            if kind == FRAME:
                self.metrics.frames_sent.inc()
            self.report_conflated()

    def report_conflated(self) -> None:
        if self.outbox.conflated != self.conflated_reported:
            self.metrics.frames_conflated.inc(self.outbox.conflated - self.conflated_reported)
            self.conflated_reported = self.outbox.conflated

    async def wait_for_reader(self, delivery: Delivery) -> bool:
        """Until the client has confirmed reading enough that the next message fits the window (and
        the transport takes more); meanwhile newer frames replace the waiting one. False when the
        client has confirmed nothing for the slow-reader timeout."""
        acked = delivery.acked
        while (delivery.in_flight >= delivery.window or not delivery.writable) and not delivery.closed:
            try:
                async with asyncio.timeout(self.timeout_s):
                    await delivery.progress()
            except TimeoutError:
                if delivery.acked == acked:
                    return False
            acked = delivery.acked
        return True
