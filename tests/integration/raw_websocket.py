"""A websocket client on a plain blocking socket, for tests that must control exactly how fast a client
reads (a slow link, a client that stops reading) or what it sends (binary frames, raw bytes)."""

from __future__ import annotations

import base64
import os
import socket

from bench._wsload import encode  # a masked client frame, as the load generator sends it

TEXT, BINARY, CLOSE, PING, PONG = 0x1, 0x2, 0x8, 0x9, 0xA


class RawWebSocket:
    def __init__(
        self,
        port: int,
        *,
        local_ip: str | None = None,
        rcvbuf: int | None = None,
        origin: str | None = None,
        answer_pings: bool = True,
        timeout_s: float = 10.0,
        subprotocol: str | None = None,
    ) -> None:
        self.sock = socket.socket()
        if rcvbuf:
            self.sock.setsockopt(socket.SOL_SOCKET, socket.SO_RCVBUF, rcvbuf)
        if local_ip:
            self.sock.bind((local_ip, 0))
        self.sock.settimeout(timeout_s)
        self.sock.connect(("127.0.0.1", port))
        self.answer_pings = answer_pings
        self.buffer = bytearray()
        self.close_code: int | None = None
        key = base64.b64encode(os.urandom(16)).decode()
        extra = f"Origin: {origin}\r\n" if origin else ""
        if subprotocol:
            extra += f"Sec-WebSocket-Protocol: {subprotocol}\r\n"
        self.sock.sendall(
            (
                f"GET /ws/race HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\n"
                f"Connection: Upgrade\r\nSec-WebSocket-Key: {key}\r\nSec-WebSocket-Version: 13\r\n"
                f"{extra}\r\n"
            ).encode()
        )
        while b"\r\n\r\n" not in self.buffer:
            chunk = self.sock.recv(4096)
            if not chunk:
                raise ConnectionError("closed during the handshake")
            self.buffer += chunk
        head, _, rest = bytes(self.buffer).partition(b"\r\n\r\n")
        self.status = int(head.split(b" ", 2)[1])
        self.headers = {
            name.strip().lower(): value.strip()
            for name, _, value in (line.decode("latin-1").partition(":") for line in head.split(b"\r\n")[1:])
        }
        self.buffer = bytearray(rest)

    def send(self, opcode: int, payload: bytes) -> None:
        self.sock.sendall(encode(opcode, payload))

    def send_text(self, text: str) -> None:
        self.send(TEXT, text.encode())

    def read(self, max_bytes: int = 65536) -> list[tuple[int, bytes]]:
        """One recv of at most `max_bytes`, then every complete message in the buffer (pings are
        answered, as any websocket client does, and not returned). [] once the peer closed."""
        chunk = self.sock.recv(max_bytes)
        if not chunk and self.close_code is None:
            self.close_code = 1006
        self.buffer += chunk
        messages = []
        while len(self.buffer) >= 2:
            length, header = self.buffer[1] & 0x7F, 2
            if length == 126:
                if len(self.buffer) < 4:
                    break
                length, header = int.from_bytes(self.buffer[2:4], "big"), 4
            elif length == 127:
                if len(self.buffer) < 10:
                    break
                length, header = int.from_bytes(self.buffer[2:10], "big"), 10
            if len(self.buffer) < header + length:
                break
            opcode, payload = self.buffer[0] & 0x0F, bytes(self.buffer[header : header + length])
            del self.buffer[: header + length]
            if opcode == PING:
                if self.answer_pings:
                    self.send(PONG, payload)
            elif opcode == CLOSE:
                self.close_code = int.from_bytes(payload[:2], "big") if len(payload) >= 2 else 1005
                messages.append((opcode, payload))
            else:
                messages.append((opcode, payload))
        return messages

    def close(self) -> None:
        try:
            self.sock.close()
        except OSError:
            pass
