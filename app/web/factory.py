"""The app factory: settings in, a FastAPI app out, with its own metrics, cache, threads and routers."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor
from contextlib import asynccontextmanager

from fastapi import FastAPI
from fastapi.templating import Jinja2Templates
from starlette.middleware.gzip import GZipMiddleware

import app as package
from app.config import Settings
from app.web import api, embed, metrics, pages, race_socket
from app.web.cache import RunCache
from app.web.engine_pool import EnginePool
from app.web.limits import SessionRegistry
from app.web.metrics import Metrics
from app.web.scorecard import Scorecard
from app.web.security import SecurityHeadersMiddleware
from app.web.static import IMMUTABLE, REVALIDATE, CachedStaticFiles, static_version


def create_app(settings: Settings | None = None) -> FastAPI:
    """Everything the app needs hangs off app.state, never module globals, so tests can build
    several apps with different settings in one process."""
    settings = settings or Settings()
    # Engine work (NumPy) runs here, beside the event loop; NumPy's small kernels hold the GIL
    # for much of their time, so a pool the size of the cores is enough (see docs/performance.md, "Server").
    executor = ThreadPoolExecutor(settings.engine_threads, thread_name_prefix="engine")
    # Uncached frames are computed in worker processes, so they do not hold the event loop's GIL.
    # Each record in the cache or held by a session keeps one producer in a worker.
    keep_runs = settings.cache_size + settings.sessions_total
    pool = EnginePool(settings.engine_processes, keep_runs) if settings.engine_processes else None

    @asynccontextmanager
    async def lifespan(_app: FastAPI):
        if pool is not None:
            await pool.start()
        yield
        executor.shutdown(wait=False, cancel_futures=True)
        if pool is not None:
            pool.shutdown()

    app = FastAPI(
        title="Forward-Forward, explained", version=package.__version__, lifespan=lifespan,
        # The interactive API docs load scripts from a CDN, which the CSP (rightly) forbids.
        docs_url=None, redoc_url=None,
    )
    app.state.settings = settings
    app.state.executor = executor
    app.state.metrics = Metrics()
    app.state.engine_pool = pool
    app.state.cache = RunCache(settings.cache_size, executor, settings.cache_frames_per_run, pool)
    app.state.sessions = sessions = SessionRegistry(settings.sessions_total, settings.sessions_per_client)
    app.state.metrics.live_sessions.set_function(lambda: sessions.live)  # one count, read when scraped
    app.state.scorecard = Scorecard(executor)
    app.state.traces = {}
    app.state.templates = Jinja2Templates(directory=str(settings.templates_dir))

    app.include_router(pages.router)
    app.include_router(embed.router)
    app.include_router(metrics.router)
    app.include_router(api.router)
    app.include_router(race_socket.router)
    # Pages link the versioned copy (the templates' static_url()); other sites keep the stable
    # /static/embed.js. Any version segment is served from the current files: during a rolling
    # restart a page from the old release may ask the new one for its assets.
    version = static_version(settings.static_dir)
    app.state.templates.env.globals["static_url"] = lambda path: f"/static/v/{version}/{path}"
    app.mount("/static/v/{version}", CachedStaticFiles(directory=settings.static_dir, cache_control=IMMUTABLE),
              name="static-versioned")
    app.mount("/static", CachedStaticFiles(directory=settings.static_dir, cache_control=REVALIDATE),
              name="static")
    app.add_middleware(SecurityHeadersMiddleware, frame_ancestors=settings.frame_ancestors,
                       embed_frame_ancestors=settings.embed_frame_ancestors)
    # HTML, CSS, JS and JSON shrink 3-5x; below ~500 bytes gzip's own overhead is not worth it.
    # Websockets pass through untouched (the middleware handles http only).
    app.add_middleware(GZipMiddleware, minimum_size=500, compresslevel=6)
    return app
