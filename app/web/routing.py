"""What every HTTP route shares: GET routes answer HEAD too, and each route declares every status it
answers, so that the OpenAPI document (/openapi.json) lists them all."""

from __future__ import annotations

from collections.abc import Callable, Iterable
from typing import Any

from fastapi import APIRouter
from pydantic import BaseModel


class Router(APIRouter):
    """An APIRouter whose GET routes also answer HEAD (link checkers, LMS link previews and uptime
    monitors probe with it; a 405 reads as a broken link). HEAD is registered as its own route,
    so each method keeps its own OpenAPI operation id."""

    def add_api_route(
        self, path: str, endpoint: Callable[..., Any], *, methods: Iterable[str] | None = None, **kwargs: Any
    ) -> None:
        methods = {method.upper() for method in (methods or ["GET"])}
        if "GET" in methods and "HEAD" not in methods:
            super().add_api_route(path, endpoint, methods=sorted(methods), **kwargs)
            super().add_api_route(path, endpoint, methods=["HEAD"], **kwargs)
            return
        super().add_api_route(path, endpoint, methods=sorted(methods), **kwargs)


class Detail(BaseModel):
    """FastAPI's error body: {"detail": what was wrong}."""

    detail: str | list | dict


class OEmbedError(BaseModel):
    error: str


def html(description: str) -> dict:
    return {"description": description, "content": {"text/html": {}}}


def detail(description: str) -> dict[str, Any]:
    return {"description": description, "model": Detail}


CUT_SHORT: dict[int | str, dict[str, Any]] = {
    400: detail("The request body ended before its Content-Length (the client went away).")
}
