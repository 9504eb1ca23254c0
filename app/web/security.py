"""Security headers on every HTTP response (pages, API, static files, refused websocket handshakes)."""

from __future__ import annotations

from starlette.types import ASGIApp, Message, Receive, Scope, Send


def content_security_policy(frame_ancestors: str) -> str:
    # Everything a page loads comes from this server; data: images are for canvas snapshots.
    # connect-src 'self' covers the same-origin websocket in current browsers.
    return "; ".join(
        [
            "default-src 'self'",
            "img-src 'self' data:",
            "object-src 'none'",
            "base-uri 'self'",
            "form-action 'self'",
            f"frame-ancestors {frame_ancestors}",
        ]
    )


EMBED_PREFIX = "/embed/"


class SecurityHeadersMiddleware:
    """Pure ASGI middleware (not BaseHTTPMiddleware) so it adds no task per request and also sees
    the HTTP response of a websocket handshake refused with a denial response.

    /embed/ pages get their own frame-ancestors: they are made to be framed by course sites,
    while the article keeps the narrower policy (see Settings.embed_frame_ancestors)."""

    def __init__(self, app: ASGIApp, *, frame_ancestors: str, embed_frame_ancestors: str | None = None) -> None:
        self.app = app

        def headers(ancestors: str) -> list[tuple[bytes, bytes]]:
            return [
                (b"content-security-policy", content_security_policy(ancestors).encode()),
                (b"x-content-type-options", b"nosniff"),
                (b"referrer-policy", b"strict-origin-when-cross-origin"),
                (b"cross-origin-opener-policy", b"same-origin"),
            ]

        self.headers = headers(frame_ancestors)
        self.embed_headers = headers(embed_frame_ancestors or frame_ancestors)

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] not in ("http", "websocket"):
            await self.app(scope, receive, send)
            return
        chosen = self.embed_headers if scope.get("path", "").startswith(EMBED_PREFIX) else self.headers

        async def send_with_headers(message: Message) -> None:
            if message["type"] in ("http.response.start", "websocket.http.response.start"):
                present = {name.lower() for name, _ in message.get("headers", [])}
                extra = [(name, value) for name, value in chosen if name not in present]
                message = {**message, "headers": [*message.get("headers", []), *extra]}
            await send(message)

        await self.app(scope, receive, send_with_headers)
