"""uvicorn's protocols with the two things this server needs from the transport and ASGI cannot say.

* DeliveryWebSocketProtocol: uvicorn's websockets-sansio protocol that also tells the app how far
  the client has read. After every `window / 2` bytes of messages it sends a ping; a client's
  websocket layer answers a ping only once it has read everything sent before it, so the bytes
  before the latest answered ping are delivered and the rest are in flight. The race session
  (app/web/sessions.py) reads this through the ASGI scope's `ff.delivery` extension: it holds
  its frames back (conflating them to the newest) while too much is in flight, and drops a client
  that answers nothing for the slow-reader timeout. The kernel's socket buffers, which can hide
  megabytes of backlog from `send()`, no longer matter.
* HeaderTimeoutHttpToolsProtocol: uvicorn's httptools protocol with a deadline for a request's
  headers (uvicorn's keep-alive timeout only covers the idle time after a response), so a client
  that opens connections and sends headers slowly cannot hold them open.

`python -m app serve` names both classes in uvicorn's options (app/commands/serve.py).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from websockets.http11 import Request

    from app.config import Settings

import asyncio
import itertools
import logging
from collections import deque
from functools import lru_cache

from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol
from uvicorn.protocols.websockets.websockets_sansio_impl import WebSocketsSansIOProtocol
from websockets.exceptions import InvalidState
from websockets.frames import Frame

DELIVERY_EXTENSION = "ff.delivery"
PING_PREFIX = b"ff-delivery:"
MAX_PENDING_PINGS = 64

log = logging.getLogger("app.web.transport")


@lru_cache(maxsize=1)
def environment_settings() -> Settings:
    """The FF_* settings of this process: `python -m app serve` names these classes by import path,
    so that every uvicorn worker process loads them and reads the same environment as create_app()."""
    from app.config import Settings

    return Settings()


class Delivery:
    """Bytes sent to one websocket client, and how many of them its websocket layer has read."""

    def __init__(self, protocol: DeliveryWebSocketProtocol, window: int) -> None:
        self._protocol = protocol
        self.window = window
        self.ping_every = max(1, window // 2)
        self.sent = 0  # message bytes handed to the transport
        self.acked = 0  # of which the client has read at least this many
        self._unpinged = 0
        self._pings: deque[tuple[bytes, int]] = deque()  # (payload, bytes sent before it)
        self._numbers = itertools.count()
        self._progress = asyncio.Event()

    @property
    def in_flight(self) -> int:
        return self.sent - self.acked

    @property
    def closed(self) -> bool:
        return self._protocol.disconnected or self._protocol.close_sent

    @property
    def writable(self) -> bool:
        """The transport takes more without waiting (its buffer is under the high-water mark): a send
        now does not block."""
        return self._protocol.writable.is_set()

    def sent_message(self, size: int) -> None:
        self.sent += size
        self._unpinged += size
        if self._unpinged >= self.ping_every:
            self._ping()

    def _ping(self) -> None:
        payload = PING_PREFIX + next(self._numbers).to_bytes(8, "big")
        try:
            self._protocol.send_probe(payload)
        except InvalidState:  # closing: nothing more will be read
            return
        self._unpinged = 0
        self._pings.append((payload, self.sent))
        while len(self._pings) > MAX_PENDING_PINGS:  # a client answering nothing is closed soon
            self._pings.popleft()

    def pong(self, payload: bytes) -> bool:
        """A pong to one of our pings: everything sent before that ping has been read."""
        if not payload.startswith(PING_PREFIX):
            return False
        while self._pings:
            sent_payload, mark = self._pings.popleft()
            if sent_payload == payload:
                self.acked = max(self.acked, mark)
                self._progress.set()
                break
        return True

    async def progress(self) -> None:
        """Wait for the client to confirm more of what it was sent, the transport to drain, or the
        connection to end."""
        self._progress.clear()
        await self._progress.wait()

    def connection_lost(self) -> None:
        self._progress.set()


class DeliveryWebSocketProtocol(WebSocketsSansIOProtocol):
    """See the module docstring. The window is FF_SEND_WINDOW_BYTES (see delivery_protocol for tests)."""

    window: int | None = None

    def handle_connect(self, event: Request) -> None:
        self.delivery = Delivery(self, self.window or environment_settings().send_window_bytes)
        super().handle_connect(event)
        scope = getattr(self, "scope", None)
        if scope is not None:  # the app's task is created but has not run yet
            scope["extensions"][DELIVERY_EXTENSION] = self.delivery

    def send_probe(self, payload: bytes) -> None:
        if self.transport.is_closing():
            raise InvalidState("closing")
        self.conn.send_ping(payload)
        self.transport.write(b"".join(self.conn.data_to_send()))

    def handle_pong(self, event: Frame) -> None:
        delivery = getattr(self, "delivery", None)
        if delivery is not None and delivery.pong(bytes(event.data)):
            return
        super().handle_pong(event)

    def resume_writing(self) -> None:
        super().resume_writing()
        delivery = getattr(self, "delivery", None)
        if delivery is not None:
            delivery._progress.set()

    def connection_lost(self, exc: Exception | None) -> None:
        delivery = getattr(self, "delivery", None)
        if delivery is not None:
            delivery.connection_lost()
        super().connection_lost(exc)


def delivery_protocol(window: int) -> type[DeliveryWebSocketProtocol]:
    """The protocol class with a given window, for a server in this process with its own settings."""
    return type("DeliveryWebSocketProtocol", (DeliveryWebSocketProtocol,), {"window": window})


class HeaderTimeoutHttpToolsProtocol(HttpToolsProtocol):
    """See the module docstring: a request's headers must be complete `header_timeout` seconds after
    the connection opened or the request began; else 408 and the connection is closed."""

    header_timeout: float | None = None  # None: the environment's setting
    _header_timer: asyncio.TimerHandle | None = None

    # uvicorn's own signature (asyncio.Transport, narrower than asyncio.Protocol's), ignored as uvicorn does.
    def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
        super().connection_made(transport)
        self._timeout_s = (
            environment_settings().header_timeout_s if self.header_timeout is None else self.header_timeout
        )
        self._header_timer = self.loop.call_later(self._timeout_s, self._headers_too_slow)

    def on_message_begin(self) -> None:
        super().on_message_begin()
        self._cancel_header_timer()
        self._header_timer = self.loop.call_later(self._timeout_s, self._headers_too_slow)

    def on_headers_complete(self) -> None:
        self._cancel_header_timer()
        super().on_headers_complete()

    def connection_lost(self, exc: Exception | None) -> None:
        self._cancel_header_timer()
        super().connection_lost(exc)

    def _cancel_header_timer(self) -> None:
        if self._header_timer is not None:
            self._header_timer.cancel()
            self._header_timer = None

    def _headers_too_slow(self) -> None:
        self._header_timer = None
        if self.transport.is_closing():
            return
        if self.cycle is not None and not self.cycle.response_complete:
            return  # a request is being answered; its headers were complete in time
        client = f"{self.client[0]}:{self.client[1]}" if self.client else "a client"
        log.warning("closed %s: request headers not complete within %g s", client, self._timeout_s)
        body = b"Request headers not received in time."
        self.transport.write(
            b"HTTP/1.1 408 Request Timeout\r\ncontent-type: text/plain; charset=utf-8\r\n"
            b"content-length: " + str(len(body)).encode() + b"\r\nconnection: close\r\n\r\n" + body
        )
        self.transport.close()


def header_timeout_protocol(seconds: float) -> type[HeaderTimeoutHttpToolsProtocol]:
    """The protocol class with a given header timeout, for a server in this process (tests)."""
    return type("HeaderTimeoutHttpToolsProtocol", (HeaderTimeoutHttpToolsProtocol,), {"header_timeout": seconds})
