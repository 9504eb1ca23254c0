"""The JSON APIs the article's widgets call: step traces, the goodness-layer replay, the scorecard."""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Callable
from typing import Annotated, Any, TypeVar

from fastapi import HTTPException, Query, Request
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from app.engine.demos import (
    GOODNESS_MAX_STEPS,
    GOODNESS_THETA_RANGE,
    Polarity,
    TraceAlgorithm,
    goodness_layer_history,
    step_trace,
)
from app.engine.race import RaceSettings
from app.web.routing import CUT_SHORT, Router, detail
from app.web.widget_settings import GOODNESS_THETA_DEFAULT

T = TypeVar("T")
router = Router(prefix="/api", tags=["api"])


class GoodnessAction(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=True)  # "3" is not 3, true is not 1 (as on the sockets)
    polarity: Polarity
    steps: int = Field(ge=0, le=GOODNESS_MAX_STEPS)


class GoodnessRequest(BaseModel):
    model_config = ConfigDict(extra="forbid", allow_inf_nan=False, strict=True)
    seed: int = Field(0, ge=RaceSettings.BOUNDS["seed"][0], le=RaceSettings.BOUNDS["seed"][1])
    theta: float = Field(GOODNESS_THETA_DEFAULT, ge=GOODNESS_THETA_RANGE[0], le=GOODNESS_THETA_RANGE[1])
    actions: list[GoodnessAction] = Field(default_factory=list)


HTTP_ENGINE_REQUESTS_IN_FLIGHT = 2  # per client address and open race: more at once are refused, not queued
BUSY: dict[int | str, dict[str, Any]] = {
    429: detail(
        "The client is past its share of the server's engine (FF_COMPUTE_SHARE), or already has "
        f"{HTTP_ENGINE_REQUESTS_IN_FLIGHT} such requests in progress; Retry-After says when to try again."
    )
}


def _timed(function: Callable[..., T], *args: Any) -> tuple[float, T]:
    started = time.thread_time()  # this worker thread's CPU time: the engine work itself, not waiting
    result = function(*args)
    return time.thread_time() - started, result


async def in_worker(request: Request, function: Callable[..., T], *args: Any) -> T:
    """Engine work for an HTTP request, in the engine threads, charged to the client's address like
    its sockets' work (app/web/scheduler.py's Budgets): a client past its budget, or with
    HTTP_ENGINE_REQUESTS_IN_FLIGHT requests already running, gets 429 at once and costs nothing."""
    state = request.app.state
    client = request.client.host if request.client else "unknown"
    in_flight: Counter[str] = state.http_engine_in_flight
    # A classroom behind one address (its open races counted, as for the budget) gets room for each.
    allowed = HTTP_ENGINE_REQUESTS_IN_FLIGHT * max(1, state.budgets.sessions_of(client))
    if state.budgets.over(client) or in_flight[client] >= allowed:
        state.metrics.refuse("http_busy")
        tokens, _ = state.budgets.tokens(client)
        wait = max(1, round(-tokens / state.budgets.share)) if tokens < 0 else 1
        raise HTTPException(
            429,
            "busy: this address has used its share of the server's engine; try again in a moment.",
            headers={"Retry-After": str(wait)},
        )
    in_flight[client] += 1
    try:
        seconds, result = await asyncio.get_running_loop().run_in_executor(state.executor, _timed, function, *args)
    finally:
        in_flight[client] -= 1
        if not in_flight[client]:
            del in_flight[client]
    state.budgets.charge(client, seconds)
    return result


@router.get("/trace", responses=BUSY)
async def trace(request: Request, algorithm: Annotated[TraceAlgorithm, Query()]) -> dict:
    # Deterministic (seed 0), so each algorithm's trace is recorded once per process.
    traces: dict = request.app.state.traces
    if algorithm not in traces:
        traces[algorithm] = await in_worker(request, step_trace, algorithm)
    return traces[algorithm]


async def bounded_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 past `limit` bytes before it is all read."""
    declared = request.headers.get("content-length")
    if declared is not None and declared.isdigit() and int(declared) > limit:
        raise HTTPException(413, f"request body over {limit} bytes")
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise HTTPException(413, f"request body over {limit} bytes")
    return bytes(body)


@router.post(
    "/goodness",
    responses={
        **CUT_SHORT,
        413: detail("The body is over FF_MAX_MESSAGE_BYTES."),
        422: detail("The body is not JSON, or not a valid request (the detail says which field)."),
        **BUSY,
    },
)
async def goodness(request: Request) -> dict:
    settings = request.app.state.settings
    body = await bounded_body(request, settings.max_message_bytes)
    try:
        payload = GoodnessRequest.model_validate_json(body or b"{}")
    except ValidationError as invalid:
        raise HTTPException(
            422, invalid.errors(include_url=False, include_input=False, include_context=False)
        ) from None
    if len(payload.actions) > settings.goodness_max_actions:
        raise HTTPException(422, f"at most {settings.goodness_max_actions} actions")
    actions = [(action.polarity, action.steps) for action in payload.actions]
    try:  # the replay checks the actions' total steps (one check, the engine's)
        history = await in_worker(request, goodness_layer_history, payload.seed, payload.theta, actions)
    except ValueError as invalid:
        raise HTTPException(422, str(invalid)) from None
    return {"seed": payload.seed, "theta": payload.theta, "history": history}


@router.get("/scorecard")
async def scorecard(request: Request) -> dict:
    return await request.app.state.scorecard.figures()
