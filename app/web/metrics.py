"""Prometheus metrics of one app (its own registry, so several apps in one test process never
collide) and the /healthz (liveness), /readyz (readiness) and /metrics routes.

What an operator watches for saturation, per replica (docs/deploy.md, "Metrics"): ff_live_sessions
(open race websockets), ff_engine_runs_waiting (the engine's queue: runs with work asked for and not
yet done) and ff_frame_lateness_seconds (how long after its tick each playing frame was ready: it
grows when the engine or the event loop falls behind, before a reader sees a stutter)."""

from __future__ import annotations

from fastapi import Request, Response
from fastapi.responses import JSONResponse
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Gauge, Histogram, generate_latest

import app as package
from app.web.routing import Router

# A frame is due every 50 ms at the default 20 fps: up to a frame late is unnoticed, past 250 ms a
# reader sees the race stutter.
FRAME_LATENESS_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0)


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
        self.frame_lateness = Histogram(
            "ff_frame_lateness_seconds",
            "How long after its tick a playing race's frame was ready to send (engine or event loop behind)",
            buckets=FRAME_LATENESS_BUCKETS,
            registry=self.registry,
        )
        self.ready = Gauge(
            "ff_ready", "1 while the replica takes new readers; 0 while warming up or draining", registry=self.registry
        )

    def refuse(self, reason: str) -> None:
        self.refusals.labels(reason=reason).inc()


router = Router(tags=["health"])


@router.get("/healthz")
async def healthz() -> dict:
    """Liveness: the process answers (also while warming up or draining)."""
    return {"status": "ok", "version": package.__version__}


@router.get(
    "/readyz",
    responses={503: {"description": "Warming up (engine processes, scorecard) or draining: send readers elsewhere."}},
)
async def readyz(request: Request) -> JSONResponse:
    """Readiness: 200 when this replica should get new readers, 503 while it warms up or drains."""
    readiness = request.app.state.readiness
    body = {"status": readiness.phase, "version": package.__version__}
    return JSONResponse(body, status_code=200 if readiness.ready else 503)


@router.get("/metrics", response_class=Response, responses={200: {"content": {CONTENT_TYPE_LATEST: {}}}})
async def metrics(request: Request) -> Response:
    registry = request.app.state.metrics.registry
    return Response(generate_latest(registry), media_type=CONTENT_TYPE_LATEST)
