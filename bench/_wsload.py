"""A lean websocket client for the load generators: asyncio Protocol, no JSON parsing of frames.

The `websockets` library costs tens of microseconds per message in Python (frame objects, UTF-8
decoding, a queue, a task switch); at 800 clients x 20 frames/s that is most of a core, so the
generator, not the server, would set the figure. This client parses the server's (unmasked)
frames from the byte stream itself, answers pings (the server's delivery pings, app/web/transport.py,
must be answered like a browser does), and hands each text message to a callback as bytes; it
reads a frame's step from a fixed position instead of decoding the JSON. (Also used as the slow
reader and the attacker of bench/fairness.py and the soak test.)
"""

from __future__ import annotations

import asyncio
import base64
import os
import struct
import time

FRAME_PREFIX = b'{"type":"frame","step":'
TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA
BINARY_SUBPROTOCOL = "ff-race-delta.1"  # app/web/wire.py: what the page asks for (binary frames)


def frame_step(payload: bytes) -> int | None:
    """The step of a `frame` message, or None for another message: a JSON frame's second field, or
    bytes 1-4 of a binary frame (app/web/wire.py's header: kind 1 or 2, then the step; a JSON
    message starts with `{`)."""
    if payload[:1] in (b"\x01", b"\x02") and len(payload) >= 9:
        return int.from_bytes(payload[1:5], "big")
    if not payload.startswith(FRAME_PREFIX):
        return None
    end = payload.index(b",", len(FRAME_PREFIX))
    return int(payload[len(FRAME_PREFIX) : end])


def encode(opcode: int, payload: bytes) -> bytes:
    """A client frame: FIN, masked (a client must mask)."""
    mask = os.urandom(4)
    length = len(payload)
    if length < 126:
        header = struct.pack("!BB", 0x80 | opcode, 0x80 | length)
    elif length < 65536:
        header = struct.pack("!BBH", 0x80 | opcode, 0x80 | 126, length)
    else:
        header = struct.pack("!BBQ", 0x80 | opcode, 0x80 | 127, length)
    if payload:
        # XOR with the repeated 4-byte mask, via one big integer (fast in CPython for short payloads)
        repeated = (mask * (length // 4 + 1))[:length]
        masked = (int.from_bytes(payload, "big") ^ int.from_bytes(repeated, "big")).to_bytes(length, "big")
    else:
        masked = b""
    return header + mask + masked


class RaceSocket(asyncio.Protocol):
    """One websocket connection. `on_text(payload, now)` gets every text message (and, with
    `subprotocol`, every binary one: frames, as a page gets them); `closed` resolves to the close
    code (1006 when the connection dropped without a close frame)."""

    def __init__(
        self,
        host: str,
        port: int,
        on_text,
        origin: str | None = None,
        answer_pings: bool = True,
        subprotocol: str | None = None,
    ) -> None:
        self.host, self.port = host, port
        self.on_text = on_text
        self.origin = origin
        self.subprotocol = subprotocol
        self.answer_pings = answer_pings
        self.transport: asyncio.Transport | None = None
        self.buffer = bytearray()
        self.open = asyncio.get_running_loop().create_future()
        self.closed = asyncio.get_running_loop().create_future()
        self.received_bytes = 0

    def connection_made(self, transport) -> None:
        self.transport = transport
        key = base64.b64encode(os.urandom(16)).decode()
        origin = f"Origin: {self.origin}\r\n" if self.origin else ""
        protocol = f"Sec-WebSocket-Protocol: {self.subprotocol}\r\n" if self.subprotocol else ""
        transport.write(
            (
                f"GET /ws/race HTTP/1.1\r\nHost: {self.host}:{self.port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"{origin}{protocol}\r\n"
            ).encode()
        )

    def data_received(self, data: bytes) -> None:
        self.received_bytes += len(data)
        buffer = self.buffer
        buffer += data
        if not self.open.done():
            end = buffer.find(b"\r\n\r\n")
            if end < 0:
                return
            status = bytes(buffer[:end]).split(b"\r\n", 1)[0]
            del buffer[: end + 4]
            if b" 101 " not in status + b" ":
                self.open.set_exception(ConnectionError(status.decode(errors="replace")))
                self.transport.close()
                return
            self.open.set_result(None)
        now = time.monotonic()
        position = 0
        size = len(buffer)
        while size - position >= 2:
            first, second = buffer[position], buffer[position + 1]
            length = second & 0x7F
            header = 2
            if length == 126:
                if size - position < 4:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 4], "big")
                header = 4
            elif length == 127:
                if size - position < 10:
                    break
                length = int.from_bytes(buffer[position + 2 : position + 10], "big")
                header = 10
            if size - position < header + length:
                break
            payload = bytes(buffer[position + header : position + header + length])
            position += header + length
            opcode = first & 0x0F
            if opcode == TEXT or (opcode == BINARY and self.subprotocol):
                self.on_text(payload, now)
            elif opcode == PING and self.answer_pings:
                self.transport.write(encode(PONG, payload))
            elif opcode == CLOSE:
                code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                if not self.closed.done():
                    self.closed.set_result(code)
                self.transport.close()
                break
        del buffer[:position]

    def send_text(self, text: str) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode(TEXT, text.encode()))

    def connection_lost(self, exc) -> None:
        if not self.open.done():
            self.open.set_exception(ConnectionError("connection lost before the handshake"))
        if not self.closed.done():
            self.closed.set_result(1006)

    def close(self) -> None:
        if self.transport is not None and not self.transport.is_closing():
            self.transport.write(encode(CLOSE, struct.pack("!H", 1000)))
            self.transport.close()


async def connect(
    host: str,
    port: int,
    on_text,
    *,
    local_ip: str | None = None,
    origin: str | None = None,
    answer_pings: bool = True,
    timeout_s: float = 30.0,
    subprotocol: str | None = None,
) -> RaceSocket:
    loop = asyncio.get_running_loop()
    local = (local_ip, 0) if local_ip else None
    _, protocol = await asyncio.wait_for(
        loop.create_connection(
            lambda: RaceSocket(host, port, on_text, origin, answer_pings, subprotocol), host, port, local_addr=local
        ),
        timeout_s,
    )
    await asyncio.wait_for(protocol.open, timeout_s)
    return protocol


def install_uvloop() -> None:
    try:
        import uvloop
    except ImportError:
        return
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())
