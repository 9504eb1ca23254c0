"""Whether this replica should be sent new readers: false while it warms up and while it drains.

`/healthz` is liveness (the process answers); `/readyz` is readiness, what a load balancer or
Kubernetes routes by. A replica is ready once its engine processes are up and the scorecard is
measured (the article's first reader would otherwise wait for both), and stops being ready the
moment it is told to stop (SIGTERM or SIGINT).

The drain itself is uvicorn's own shutdown, which already does the right things in the right
order (uvicorn/server.py, Server.shutdown): it closes the listening sockets (no new connections),
closes every open websocket with code 1012 "service restart" (the websockets-sansio protocol's
`shutdown()`), lets in-flight HTTP requests finish, waits for the app's tasks for at most
`timeout_graceful_shutdown` (FF_DRAIN_TIMEOUT_S, set by `python -m app serve`) and cancels what
is left, and then runs the app's lifespan shutdown, which stops the engine processes. The app
adds only what uvicorn cannot know: readiness turns false the moment the signal arrives (the
handler below runs first and then hands the signal to uvicorn's own), and a race socket that
still reaches the app while it drains is told 1012 at once (app/web/race_socket.py).
"""

from __future__ import annotations

import logging
import signal
import threading
import time
from collections.abc import Callable
from types import FrameType
from typing import Any, Literal

log = logging.getLogger("app.web.readiness")

# RFC 6455 / IANA: "Service Restart": the server is going away, the client should reconnect now.
SERVICE_RESTART = 1012
DRAIN_SIGNALS = (signal.SIGTERM, signal.SIGINT)

Phase = Literal["warming", "ready", "draining"]


class Readiness:
    def __init__(self) -> None:
        self._warm = False
        self._draining_since: float | None = None

    @property
    def phase(self) -> Phase:
        if self._draining_since is not None:
            return "draining"
        return "ready" if self._warm else "warming"

    @property
    def ready(self) -> bool:
        return self.phase == "ready"

    @property
    def draining(self) -> bool:
        return self._draining_since is not None

    def warmed_up(self) -> None:
        self._warm = True

    def drain(self) -> None:
        """Stop being ready (idempotent). Safe in a signal handler: it only sets a field."""
        if self._draining_since is None:
            self._draining_since = time.monotonic()

    def watch_signals(self) -> Callable[[], None]:
        """Drain on SIGTERM/SIGINT, then let the handler installed before (uvicorn's, which starts
        its graceful shutdown) do its part. Returns the undo. Only the main thread can install
        signal handlers: elsewhere (Starlette's TestClient) this does nothing."""
        if threading.current_thread() is not threading.main_thread():
            return lambda: None
        installed: dict[int, Callable[[int, FrameType | None], None]] = {}
        previous: dict[int, Callable[[int, FrameType | None], Any] | int] = {}
        for sig in DRAIN_SIGNALS:
            before = signal.getsignal(sig)

            def handler(signum: int, frame: FrameType | None, before: object = before) -> None:
                self.drain()
                if callable(before):
                    before(signum, frame)
                elif before == signal.SIG_DFL:  # nobody else listens: do what the signal would have done
                    signal.signal(signum, signal.SIG_DFL)
                    signal.raise_signal(signum)

            # None: a handler installed from C, which Python cannot put back; the default stands in.
            previous[sig] = signal.SIG_DFL if before is None else before
            installed[sig] = handler
            signal.signal(sig, handler)

        def undo() -> None:
            for sig, handler in installed.items():
                if signal.getsignal(sig) is handler:  # nobody replaced ours meanwhile
                    signal.signal(sig, previous[sig])

        return undo
