"""HTML pages: the article at /, and the context every page template (and /embed/{widget}) gets."""

from __future__ import annotations

from dataclasses import asdict
from typing import Any

from fastapi import Request
from fastapi.responses import HTMLResponse
from jinja2 import Undefined, UndefinedError

import app as package
from app.config import Settings
from app.engine.datasets import CLASS_NAMES
from app.engine.demos import (
    GOODNESS_MAX_STEPS,
    GOODNESS_THETA_RANGE,
    GOODNESS_UNITS,
    TRACE_HIDDEN,
    normalization_layer,
)
from app.engine.digits import DigitsSettings
from app.engine.digits_ready import ready_facts
from app.engine.race import TARGET_ACCURACY, RaceSettings
from app.web.digits_live import LiveDigitsSettings
from app.web.measured import measured_figures
from app.web.routing import Router
from app.web.widget_settings import (
    DIGITS_QUERY,
    GOODNESS_THETA_DEFAULT,
    GOODNESS_THETA_STEP,
    RACE_QUERY,
    race_values,
)

router = Router(tags=["pages"])
DIGITS_DEFAULTS = asdict(LiveDigitsSettings())  # what a reader may choose for the live digits race


def required(value: Any, *keys: str) -> Any:
    """value[key][key]...: what a template takes from the server, with no fallback. A missing key
    (KeyError) or a value the page was rendered without (UndefinedError) stops the render, so a
    page never shows a made-up copy of a server constant."""
    for key in keys:
        value = value[key]  # an Undefined raises UndefinedError here; a dict without the key, KeyError
    if isinstance(value, Undefined):
        raise UndefinedError(f"the template needs {value._undefined_name!r}, which the server did not give")
    return value


def number_control(default: Any, low: Any, high: Any) -> dict:
    """A number input's default and bounds, and its step: 1 for an integer setting, else the lower
    bound (the engine's smallest value), so every value the input steps to is a whole number of
    steps above it, as HTML's validation wants."""
    return {"default": default, "min": low, "max": high, "step": 1 if isinstance(default, int) else low}


def choice_control(default: Any, choices: Any) -> dict:
    """A select's default and its choices."""
    return {"default": default, "choices": list(choices)}


def race_defaults(settings: Settings) -> dict:
    """Each race setting with its default and bounds, read from the engine's one table (and the
    server's for speed), so the widget's inputs and the server's validation agree."""
    bounds = RaceSettings.bounds()
    defaults = RaceSettings()
    table: dict = {}
    for name in RACE_QUERY:  # the settings a reader may change, in the widget's order
        if name in RaceSettings.CHOICES:
            table[name] = choice_control(getattr(defaults, name), RaceSettings.CHOICES[name])
        else:
            low, high, default = bounds[name]
            table[name] = number_control(default, low, high)
    table["speed"] = number_control(settings.steps_per_frame, 1, settings.max_steps_per_frame)
    return table


def digits_defaults() -> dict:
    """The live digits race's settings a reader may choose, with their defaults (LiveDigitsSettings)
    and the engine's bounds and choices (DigitsSettings), as race_defaults has the race's."""
    table: dict = {}
    for name in DIGITS_QUERY:
        default = DIGITS_DEFAULTS[name]
        if name in DigitsSettings.CHOICES:
            table[name] = choice_control(default, DigitsSettings.CHOICES[name])
        else:
            table[name] = number_control(default, *DigitsSettings.BOUNDS[name])
    return table


def starting_race_values(defaults: dict, query_values: dict | None = None) -> dict:
    """The race's first settings: the defaults, overridden by those a link's query carried."""
    return {**{name: spec["default"] for name, spec in defaults.items()}, **(query_values or {})}


def goodness_theta(value: float | None = None) -> dict:
    """The goodness widget's threshold slider: the engine's range, the widget's step."""
    low, high = GOODNESS_THETA_RANGE
    return {
        "min": low,
        "max": high,
        "step": GOODNESS_THETA_STEP,
        "value": GOODNESS_THETA_DEFAULT if value is None else value,
    }


async def page_context(request: Request) -> dict:
    """What every page template gets; /embed/{widget} adds its one widget's settings."""
    state = request.app.state
    defaults = race_defaults(state.settings)
    return {
        "request": request,
        "version": package.__version__,
        "race_defaults": defaults,
        "race_values": starting_race_values(defaults),
        "race_hidden_sizes": list(RaceSettings().hidden_sizes),  # both nets' hidden layers, the article says
        "race_query": list(RACE_QUERY),  # what a link or an embed carries (widgets/race.js reads it)
        "target_accuracy": TARGET_ACCURACY,  # the race's milestone, the engine's "steps to 95%"
        "required": required,  # the templates' lookup of server values: no fallback, a missing one fails
        "goodness_max_steps": GOODNESS_MAX_STEPS,
        "goodness_units": GOODNESS_UNITS,  # the goodness widget's layer
        "trace_hidden": list(TRACE_HIDDEN),  # the step animation's nets
        "goodness_theta": goodness_theta(),
        "normalization": normalization_layer(),
        "scorecard": await state.scorecard.figures(),
        "race_class_names": {name: list(classes) for name, classes in CLASS_NAMES.items()},
        "measured": measured_figures(),
        "digits_defaults": digits_defaults(),
        "digits_values": dict(DIGITS_DEFAULTS),
        "digits_theta": LiveDigitsSettings().digits.theta,  # the live run's threshold, until its first frame
        "digits_ready": ready_facts(),
    }


async def render(request: Request, template: str, *, status_code: int = 200, **extra: Any) -> HTMLResponse:
    context = await page_context(request)
    context.update(extra)
    return request.app.state.templates.TemplateResponse(request, template, context, status_code=status_code)


@router.get("/", response_class=HTMLResponse)
async def index(request: Request) -> HTMLResponse:
    # A shared link carries the race's settings (/?dataset=spiral&seed=3#race). A bad value must
    # not cost the reader the article: it falls back to its default, and the page says so.
    values, problems = race_values(request.query_params)
    start = starting_race_values(race_defaults(request.app.state.settings), values)
    return await render(request, "index.html", race_values=start, race_query_problems=problems)
