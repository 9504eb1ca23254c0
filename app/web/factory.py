"""The app factory: settings in, a FastAPI app out, with its own metrics, cache, threads and routers."""

from __future__ import annotations

import asyncio
import logging
from collections import Counter
from collections.abc import AsyncIterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager
from typing import Any

import jinja2
from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse
from fastapi.templating import Jinja2Templates
from starlette.middleware.gzip import GZipMiddleware
from starlette.requests import ClientDisconnect

import app as package
from app.config import Settings
from app.web import api, digits_api, embed, pages, race_socket
from app.web import metrics as metrics_routes
from app.web.cache import RunCache
from app.web.engine_pool import EnginePool
from app.web.limits import SessionRegistry
from app.web.metrics import Metrics
from app.web.readiness import Readiness
from app.web.scheduler import Budgets, EngineScheduler
from app.web.scorecard import Scorecard
from app.web.security import SecurityHeadersMiddleware
from app.web.static import REVALIDATE, CachedStaticFiles, VersionedStaticFiles, static_version

log = logging.getLogger("app.web")


@jinja2.pass_context
def relative_url_for(context: dict, name: str, /, **path_params: Any) -> str:
    """Templates' url_for: a path on this server, never an absolute URL built from the request's
    Host header (which the client chose)."""
    return context["request"].url_for(name, **path_params).path


# Registered for ClientDisconnect only; typed Exception as Starlette's handler signature requires.
async def client_went_away(request: Request, _exc: Exception) -> JSONResponse:
    """A request whose body ended before its Content-Length: one log line, and a 400 (which the
    client, gone, will usually not read), instead of a traceback."""
    client = f"{request.client.host}:{request.client.port}" if request.client else "a client"
    log.warning("%s %s from %s: the body was cut short (client disconnected)", request.method, request.url.path, client)
    return JSONResponse({"detail": "The request body was cut short."}, status_code=400)


def create_app(settings: Settings | None = None) -> FastAPI:
    """Everything the app needs hangs off app.state, never module globals, so tests can build
    several apps with different settings in one process."""
    settings = settings or Settings()
    # The HTTP APIs' engine work (traces, the goodness replay, the scorecard) runs here, beside
    # the event loop; NumPy's small kernels hold the GIL for much of their time, so a pool the
    # size of the cores is enough (see docs/performance.md, "Server").
    executor = ThreadPoolExecutor(settings.engine_threads, thread_name_prefix="engine")
    # Every race's engine work runs in the engine slots (worker processes, or threads with
    # FF_ENGINE_PROCESSES=0), one slice at a time, in the fair order of the scheduler. Each record
    # in the cache or held by a session keeps one producer in a slot.
    keep_runs = settings.cache_size + settings.sessions_total
    pool = EnginePool(settings.engine_processes, settings.engine_threads, keep_runs)
    metrics = Metrics()
    sessions = SessionRegistry(settings.sessions_total, settings.sessions_per_client)
    budgets = Budgets(settings.compute_share, settings.compute_burst_s, sessions.count)
    scheduler = EngineScheduler(pool, settings.engine_slice_s, metrics)
    readiness = Readiness()

    async def warm_up() -> None:
        # Measured now, in a worker thread, so the first reader of the article never waits for it;
        # the replica is ready for readers (GET /readyz) once it is done.
        try:
            await app.state.scorecard.measure()
        except Exception:  # a bug in the measurement must not keep the replica out of service
            log.exception("measuring the scorecard failed")
        readiness.warmed_up()
        log.info("ready: engine processes up, scorecard measured")

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        # SIGTERM turns readiness off first; uvicorn's own handler then drains (app/web/readiness.py).
        forget_signals = readiness.watch_signals()
        await pool.start()
        warming = app.state.warming = asyncio.create_task(warm_up())
        yield
        warming.cancel()
        forget_signals()
        await scheduler.close()
        executor.shutdown(wait=False, cancel_futures=True)
        pool.shutdown()

    app = FastAPI(
        title="Forward-Forward, explained",
        version=package.__version__,
        lifespan=lifespan,
        # The interactive API docs load scripts from a CDN, which the CSP (rightly) forbids.
        docs_url=None,
        redoc_url=None,
    )
    app.state.settings = settings
    app.state.readiness = readiness
    app.state.executor = executor
    app.state.http_engine_in_flight = Counter()  # client address -> engine requests running (app/web/api.py)
    app.state.metrics = metrics
    app.state.engine_pool = pool
    app.state.scheduler = scheduler
    app.state.budgets = budgets
    app.state.cache = RunCache(settings.cache_size, scheduler, settings.cache_frames_per_run)
    app.state.sessions = sessions
    # Counts read when scraped: one source for each fact.
    metrics.live_sessions.set_function(lambda: sessions.live)
    metrics.runs_live.set_function(app.state.cache.live)
    metrics.engine_runs_waiting.set_function(scheduler.waiting)
    metrics.ready.set_function(lambda: 1.0 if readiness.ready else 0.0)
    app.state.scorecard = Scorecard(executor)
    app.state.traces = {}
    app.state.templates = templates = Jinja2Templates(directory=str(settings.templates_dir))
    templates.env.globals["url_for"] = relative_url_for
    app.add_exception_handler(ClientDisconnect, client_went_away)

    app.include_router(pages.router)
    app.include_router(embed.router)
    app.include_router(metrics_routes.router)
    app.include_router(api.router)
    app.include_router(digits_api.router)
    app.include_router(race_socket.router)
    # Pages link the versioned copy (the templates' static_url()); other sites keep the stable
    # /static/embed.js. Any version segment is served from the current files (during a rolling
    # restart a page from one release may ask a replica of another for its assets), immutable only
    # under this release's own.
    version = static_version(settings.static_dir)
    app.state.templates.env.globals["static_url"] = lambda path: f"/static/v/{version}/{path}"
    app.mount(
        "/static/v/{version}",
        VersionedStaticFiles(directory=settings.static_dir, version=version),
        name="static-versioned",
    )
    app.mount("/static", CachedStaticFiles(directory=settings.static_dir, cache_control=REVALIDATE), name="static")
    app.add_middleware(
        SecurityHeadersMiddleware,
        frame_ancestors=settings.frame_ancestors,
        embed_frame_ancestors=settings.embed_frame_ancestors,
    )
    # HTML, CSS, JS and JSON shrink 3-5x; below ~500 bytes gzip's own overhead is not worth it.
    # Websockets pass through untouched (the middleware handles http only).
    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6)
    return app
