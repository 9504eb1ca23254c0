"""One widget alone at /embed/{widget}, for course pages to frame, and its oEmbed description."""

from __future__ import annotations

import re
from collections.abc import Mapping
from urllib.parse import urlencode, urlsplit

from fastapi import Request
from fastapi.responses import HTMLResponse, JSONResponse
from markupsafe import escape
from starlette.datastructures import QueryParams

from app.web.pages import DIGITS_DEFAULTS, goodness_theta, race_defaults, render, starting_race_values
from app.web.routing import OEmbedError, Router, html
from app.web.widget_settings import (
    EMBED_WIDTH,
    MIN_EMBED_WIDTH,
    WIDGETS,
    WidgetQuery,
    allowed_parameters,
    widget_query,
)

router = Router(tags=["embed"])
PROVIDER_NAME = "Forward-Forward, explained"


def embed_query(request: Request, slug: str, query: Mapping[str, str]) -> WidgetQuery:
    return widget_query(WIDGETS[slug], query, max_speed=request.app.state.settings.max_steps_per_frame)


def own_origin(request: Request) -> str:
    """The origin absolute URLs (snippets, oEmbed) are built on: the first FF_PUBLIC_ORIGIN when set;
    else the one the reader asked for (behind a trusted proxy uvicorn has already applied
    X-Forwarded-Proto), which a forged Host header could choose, hence FF_PUBLIC_ORIGIN."""
    public = request.app.state.settings.public_origin
    if public:
        return public[0]
    return f"{request.url.scheme}://{request.url.netloc}"


def is_own_origin(request: Request, scheme: str, netloc: str) -> bool:
    public = request.app.state.settings.public_origin
    if public:
        return f"{scheme}://{netloc}".lower() in {origin.lower() for origin in public}
    return scheme in ("http", "https") and netloc.lower() == request.url.netloc.lower()


def embed_url(request: Request, parsed: WidgetQuery) -> str:
    query = urlencode(parsed.query_string_values(), safe=",")
    return f"{own_origin(request)}/embed/{parsed.widget.slug}" + (f"?{query}" if query else "")


def iframe_html(url: str, title: str, width: int | str, height: int) -> str:
    """The snippet a course page pastes; `style` is fine here: it lives in the host's page. The
    frame is as wide as its column up to `width`, and `height` tall: the widget's height at its
    tallest (a phone's width), so it fits any column without scrolling inside and without a script
    (Moodle keeps the attributes; hosts that listen to the frame's height messages fit it exactly)."""
    return (
        f'<iframe src="{escape(url)}" title="{escape(title)}" width="{width}" height="{height}" '
        f'loading="lazy" style="border:0;max-width:100%"></iframe>'
    )


@router.get(
    "/embed/{slug}",
    response_class=HTMLResponse,
    responses={
        400: html("A query parameter is not one the widget accepts; the page names it and its allowed values."),
        404: html("There is no widget of that name; the page lists the widgets."),
    },
)
async def embed_page(request: Request, slug: str) -> HTMLResponse:
    if slug not in WIDGETS:
        # The message is shown inside the course page's frame, so it says what would work.
        return await render(
            request,
            "embed_error.html",
            status_code=404,
            problems=[f"There is no widget named {slug!r}; the widgets are {', '.join(WIDGETS)}."],
            widget=None,
        )
    widget = WIDGETS[slug]
    parsed = embed_query(request, slug, request.query_params)
    settings = request.app.state.settings
    if parsed.errors:
        return await render(
            request,
            "embed_error.html",
            status_code=400,
            problems=parsed.errors,
            widget=widget,
            allowed=allowed_parameters(widget, settings.max_steps_per_frame),
        )
    url = embed_url(request, parsed)
    return await render(
        request,
        "embed.html",
        widget=widget,
        race_values=starting_race_values(race_defaults(settings), parsed.values if slug == "race" else {}),
        goodness_theta=goodness_theta(parsed.values.get("theta") if slug == "goodness" else None),
        digits_values={**DIGITS_DEFAULTS, **(parsed.values if slug == "digits" else {})},
        controls=parsed.controls,
        autoplay=parsed.autoplay,
        oembed_href=f"{own_origin(request)}/oembed?" + urlencode({"url": url, "format": "json"}),
        article_url=f"{own_origin(request)}/#{'race' if slug == 'race' else slug + '-figure'}",
    )


def oembed_error(status: int, message: str) -> JSONResponse:
    return JSONResponse({"error": message}, status_code=status)


# ASCII digits, and few of them: str.isdigit() accepts "²", which int() refuses, and int() refuses
# more than 4,300 digits; either would escape as a 500.
POSITIVE_INT = re.compile(r"[0-9]{1,18}")


def positive_int(text: str | None) -> int | None:
    return (int(text) or None) if text is not None and POSITIVE_INT.fullmatch(text) else None


@router.get(
    "/oembed",
    response_model=None,  # a dict, or an error response: no model to infer from the annotation
    responses={
        400: {"description": "maxwidth or maxheight is not a positive integer.", "model": OEmbedError},
        404: {"description": "url is not an embed URL of this server, or has bad settings.", "model": OEmbedError},
        501: {"description": "A format other than json was asked for.", "model": OEmbedError},
    },
)
async def oembed(
    request: Request, url: str = "", format: str = "json", maxwidth: str | None = None, maxheight: str | None = None
) -> dict | JSONResponse:
    """oEmbed 1.0 (https://oembed.com): the rich type, whose html is the widget's iframe.

    The returned width and height never exceed maxwidth and maxheight (the spec's rule). The widget
    needs `content_height` (its height at a phone's width, its tallest); when maxheight (or a
    maxwidth below a phone's) leaves the frame smaller than that, `scrolls` is true: the frame
    scrolls inside. Both are provider-specific keys, which the spec allows."""
    if format != "json":
        return oembed_error(501, f"format {format!r} is not supported; use format=json.")
    limits = {"maxwidth": maxwidth, "maxheight": maxheight}
    for name, text in limits.items():
        if text is not None and positive_int(text) is None:
            return oembed_error(400, f"{name} must be a positive integer; got {text!r}.")
    target = urlsplit(url)
    # Only embed URLs of this very server (FF_PUBLIC_ORIGIN, or the host the request came to), so
    # nobody can make us describe (and vouch for) another site.
    ours = is_own_origin(request, target.scheme, target.netloc)
    slug = target.path.removeprefix("/embed/") if target.path.startswith("/embed/") else None
    if not ours or slug not in WIDGETS:
        return oembed_error(
            404,
            f"{url!r} is not an embed URL of this server "
            f"({own_origin(request)}/embed/<widget>, widget one of {', '.join(WIDGETS)}).",
        )
    parsed = embed_query(request, slug, QueryParams(target.query))
    if parsed.errors:
        return oembed_error(404, "That embed URL has bad settings: " + " ".join(parsed.errors))
    widget = parsed.widget
    width = min(EMBED_WIDTH, positive_int(maxwidth) or EMBED_WIDTH)
    height = min(widget.height, positive_int(maxheight) or widget.height)
    fits = height >= widget.height and width >= MIN_EMBED_WIDTH
    title = f"{widget.title} ({PROVIDER_NAME})"
    return {
        "type": "rich",
        "version": "1.0",
        "title": title,
        "provider_name": PROVIDER_NAME,
        "provider_url": f"{own_origin(request)}/",
        "width": width,
        "height": height,
        "html": iframe_html(embed_url(request, parsed), title, width, height),
        "content_height": widget.height,
        "scrolls": not fits,
    }
