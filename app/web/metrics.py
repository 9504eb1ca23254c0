"""Prometheus metrics of one app (its own registry, so several apps in one test process never
collide) and the /healthz and /metrics routes."""

from __future__ import annotations

from fastapi import Request, Response
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, generate_latest

import app as package
from app.web.routing import Router


class Metrics:
    def __init__(self) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.live_sessions = Gauge("ff_live_sessions", "Race websockets currently open", registry=self.registry)
        self.frames_sent = Counter("ff_frames_sent", "Race frames sent to clients", registry=self.registry)
        self.cache_hits = Counter("ff_cache_hits", "Race frames served from the run cache", registry=self.registry)
        self.cache_misses = Counter("ff_cache_misses", "Race frames the engine had to compute", registry=self.registry)
        self.refusals = Counter(
            "ff_refusals", "Websocket messages or connections refused, by reason", ["reason"], registry=self.registry
        )
        self.frames_conflated = Counter(
            "ff_frames_conflated",
            "Frames replaced by a newer one before a slow client read them",
            registry=self.registry,
        )
        self.engine_frames = Counter("ff_engine_frames", "Race frames the engine computed", registry=self.registry)
        self.engine_seconds = Counter(
            "ff_engine_seconds",
            "CPU seconds the engine spent on race work (frames, replays, inference)",
            registry=self.registry,
        )
        self.runs_live = Gauge(
            "ff_runs_live", "Runs the server holds (recent ones, and those a session watches)", registry=self.registry
        )
        self.engine_runs_waiting = Gauge(
            "ff_engine_runs_waiting", "Runs with engine work asked for and not yet done", registry=self.registry
        )
        self.engine_failures = Counter(
            "ff_engine_failures", "Engine slices that failed (a worker process died)", registry=self.registry
        )

    def refuse(self, reason: str) -> None:
        self.refusals.labels(reason=reason).inc()


router = Router(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    return {"status": "ok", "version": package.__version__}


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
