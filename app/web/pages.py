"""HTML pages: the article at / (and later one widget alone at /embed/{widget}), from templates/."""

from __future__ import annotations

from fastapi import APIRouter, Request
from fastapi.responses import HTMLResponse

import app as package
from app.engine.demos import normalization_layer
from app.engine.race import RaceSettings

router = APIRouter(tags=["pages"])

# The settings a reader may change in the race widget, in the order the widget shows them.
CLIENT_RACE_SETTINGS = ("dataset", "seed", "theta", "learning_rate", "steps")


def race_defaults(settings) -> dict:
    """Each race setting with its default and bounds, read from the engine's one table (and the
    server's for speed), so the widget's inputs and the server's validation agree."""
    bounds = RaceSettings.bounds()
    defaults = RaceSettings()
    table: dict = {}
    for name in CLIENT_RACE_SETTINGS:
        if name in RaceSettings.CHOICES:
            table[name] = {"default": getattr(defaults, name), "choices": list(RaceSettings.CHOICES[name])}
        else:
            low, high, default = bounds[name]
            table[name] = {"default": default, "min": low, "max": high}
    table["speed"] = {"default": settings.steps_per_frame, "min": 1, "max": settings.max_steps_per_frame}
    return table


async def page_context(request: Request) -> dict:
    """What every page template gets; /embed/{widget} will reuse it with one widget."""
    state = request.app.state
    return {
        "request": request,
        "version": package.__version__,
        "race_defaults": race_defaults(state.settings),
        "normalization": normalization_layer(),
        "scorecard": await state.scorecard.figures(),
    }


async def render(request: Request, template: str, **extra) -> HTMLResponse:
    context = await page_context(request)
    context.update(extra)
    return request.app.state.templates.TemplateResponse(request, template, context)


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    return await render(request, "index.html")
