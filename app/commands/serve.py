"""`python -m app serve`: run the explainer's web server under uvicorn."""

from __future__ import annotations

import argparse
import sys
from typing import TYPE_CHECKING

if TYPE_CHECKING:  # imported when serving, not by the other commands
    from app.config import Settings

HELP = "serve the explainer (FastAPI under uvicorn; settings from FF_* environment variables)"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--host", default="127.0.0.1", help="interface to listen on (default: 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8000, help="TCP port (default: 8000)")
    parser.add_argument("--workers", type=int, default=None, help="worker processes (default: FF_WORKERS, else 1)")


def uvicorn_options(settings: Settings, args: argparse.Namespace) -> dict:
    """uvicorn's own limits come from the same settings table as the app's."""
    return {
        "host": args.host,
        "port": args.port,
        "workers": args.workers or settings.workers,
        "factory": True,
        "proxy_headers": True,
        "forwarded_allow_ips": settings.forwarded_allow_ips,
        # The app refuses messages over max_message_bytes itself, with an error naming the
        # problem and close 1009; uvicorn's cap is a backstop (4x) so a giant frame is never buffered.
        "ws_max_size": settings.max_message_bytes * 4,
        # Frames are already compact (~4.5 KB) and precomputed once for many clients; per-message
        # deflate would spend CPU per client per frame (see docs/performance.md, "Server").
        "ws_per_message_deflate": False,
        "ws_ping_interval": settings.ping_interval_s,
        "ws_ping_timeout": settings.ping_interval_s,
        "server_header": False,
        # SIGTERM: uvicorn's graceful shutdown is the drain (app/web/readiness.py); this bounds it.
        "timeout_graceful_shutdown": settings.drain_timeout_s,
        # uvicorn's own protocols, plus a deadline for request headers (FF_HEADER_TIMEOUT_S) and
        # delivery pings that tell a race session how far its client has read (FF_SEND_WINDOW_BYTES);
        # named by import path so that every worker process loads them (app/web/transport.py).
        "http": "app.web.transport:HeaderTimeoutHttpToolsProtocol",
        "ws": "app.web.transport:DeliveryWebSocketProtocol",
    }


LOOPBACK = ("127.0.0.1", "localhost", "::1")


def origin_warning(settings: Settings, host: str) -> str | None:
    """A line for the operator when the server listens beyond this machine without FF_PUBLIC_ORIGIN:
    its websocket then takes the page's origin from the Host header the client chose, which a
    DNS-rebinding page can name (app/web/race_socket.py, origin_allowed)."""
    if settings.public_origin or host in LOOPBACK or host.startswith("127."):
        return None
    return (
        f"warning: serving on {host} without FF_PUBLIC_ORIGIN: the race's websocket trusts the Host header "
        "for the page's own origin; set FF_PUBLIC_ORIGIN=https://your.host for a public server "
        '(README, "Running it for a class")'
    )


def run(args: argparse.Namespace) -> int:
    import uvicorn
    from pydantic import ValidationError

    from app.config import Settings

    if args.workers is not None and args.workers < 1:
        raise ValueError("--workers must be at least 1")
    if not 0 <= args.port <= 65535:  # 0: any free port, as uvicorn takes it
        raise ValueError(f"--port must be 0-65535; got {args.port}")
    try:
        settings = Settings()
    except ValidationError as invalid:
        raise ValueError(f"bad FF_* setting: {invalid.errors(include_url=False)[0]}") from None
    warning = origin_warning(settings, args.host)
    if warning:
        print(warning, file=sys.stderr)
    # Each worker builds its own app with create_app(), reading the same environment.
    uvicorn.run("app.web:create_app", **uvicorn_options(settings, args))
    return 0
