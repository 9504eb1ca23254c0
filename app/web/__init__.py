"""The web layer: `create_app(settings)` assembles the FastAPI app from one router per concern."""

from app.web.factory import create_app

__all__ = ["create_app"]
