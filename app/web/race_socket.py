"""The /ws/race and /ws/digits endpoints: origin check before the handshake, session caps (shared by
both), then a RaceSession or a DigitsSession."""

from __future__ import annotations

from fastapi import APIRouter, WebSocket

from app.config import Settings
from app.web.digits_session import DigitsSession
from app.web.messages import ErrorCode, error_text
from app.web.readiness import SERVICE_RESTART
from app.web.scheduler import Account
from app.web.sessions import TRY_AGAIN_LATER, RaceSession
from app.web.transport import DELIVERY_EXTENSION
from app.web.wire import chosen_subprotocol

router = APIRouter()


def origin_allowed(websocket: WebSocket, settings: Settings) -> bool:
    """The configured public origins (FF_PUBLIC_ORIGIN) and the allow-list pass.

    Without FF_PUBLIC_ORIGIN the page's own origin is taken from the Host it asked for, in either
    scheme: behind a TLS-terminating proxy that is not trusted for X-Forwarded-Proto the socket
    looks like ws:// while the page is https://. That fallback trusts a header the client chose,
    so a DNS-rebinding page (whose name now points at this server) passes it: a public server
    sets FF_PUBLIC_ORIGIN. A missing Origin means a non-browser client (browsers always send it),
    which cross-site websocket hijacking cannot use."""
    origin = websocket.headers.get("origin")
    if origin is None:
        return settings.allow_missing_origin
    origin = origin.strip().rstrip("/").lower()
    if origin in {allowed.lower() for allowed in (*settings.public_origin, *settings.allowed_origins)}:
        return True
    if settings.public_origin:
        return False
    host = websocket.headers.get("host", "").strip().lower()
    return bool(host) and origin in (f"http://{host}", f"https://{host}")


async def deny(websocket: WebSocket) -> None:
    # A close before accept is refused by the server with HTTP 403. (A denial response with a
    # body would say more, but uvicorn's websockets-sansio logs each one as an ASGI error.)
    await websocket.close(code=1008)


@router.websocket("/ws/race")
async def race_socket(websocket: WebSocket) -> None:
    await serve(websocket, RaceSession)


@router.websocket("/ws/digits")
async def digits_socket(websocket: WebSocket) -> None:
    """The live digits race (app/web/digits_session.py): the same checks, caps and machinery."""
    await serve(websocket, DigitsSession)


async def serve(websocket: WebSocket, session_class: type[RaceSession]) -> None:
    state = websocket.app.state
    settings: Settings = state.settings
    if not origin_allowed(websocket, settings):
        state.metrics.refuse("origin")
        await deny(websocket)
        return
    if state.readiness.draining:
        # uvicorn has closed the listener; a socket that still got here (on a connection opened
        # before) is sent on to another replica, as the open ones were: 1012, reconnect now.
        state.metrics.refuse("draining")
        try:
            await websocket.accept()
            await websocket.close(SERVICE_RESTART, "server restarting")
        except Exception:  # the client already left
            pass
        return
    client = websocket.client.host if websocket.client else "unknown"
    lease = state.sessions.acquire(client)
    if lease is None:
        state.metrics.refuse("at_capacity")
        try:
            # Accept first: only an open socket can carry the 1013 code and an explanation.
            await websocket.accept()
            await websocket.send_text(error_text(ErrorCode.at_capacity, "The server is at capacity; try again soon."))
            await websocket.close(TRY_AGAIN_LATER, "at capacity")
        except Exception:  # the client already left: nothing more to say
            pass
        return
    try:  # from here on the lease is released whatever happens, the accept included
        # Binary frames, if the client offers them and the session has maps to send as deltas.
        subprotocol = chosen_subprotocol(websocket.scope) if session_class.binary_frames_offered else None
        await websocket.accept(subprotocol=subprotocol)
        account = Account(client, state.budgets, weight=session_class.charge_weight)
        delivery = websocket.scope.get("extensions", {}).get(DELIVERY_EXTENSION)
        session = session_class(
            websocket, settings, state.cache, state.metrics, account, delivery, binary_frames=subprotocol is not None
        )
        await session.run()
    finally:
        lease.release()
