"""The FastAPI application: routers for jobs, streams and the web page, and health checks."""

from __future__ import annotations

from fastapi import FastAPI

from clients.api import streams
from clients.api.config import ApiSettings
from clients.web import pages
from streams.settings import KaptionSettings


def create_app(settings: KaptionSettings, api: ApiSettings) -> FastAPI:
    app = FastAPI(title="kaption", version="1")
    app.state.settings = settings
    app.state.api = api
    app.include_router(streams.router)
    app.include_router(pages.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        return {"status": "ok"}

    return app
