"""The FastAPI application: routers for jobs, streams and the web page, and health checks.

``/healthz``, ``/readyz``, ``/openapi.json`` and ``/docs`` need no token; every ``/v1`` route
does (clients/api/security.py)."""

from __future__ import annotations

from collections.abc import AsyncIterator
from contextlib import asynccontextmanager

from fastapi import FastAPI, Request
from fastapi.responses import JSONResponse

from clients.api import jobs, streams
from clients.api.config import ApiSettings, api_settings_checked
from clients.api.health import readiness
from clients.api.runtime import JobsRuntime
from clients.api.security import TokenGate
from clients.web import pages
from streams.settings import KaptionSettings


def create_app(settings: KaptionSettings, api: ApiSettings) -> FastAPI:
    """The app (ApiConfigError without a token). Its lifespan starts the job view's reader,
    the publisher and the webhook sender, and stops them."""
    settings = api_settings_checked(settings, api)
    runtime = JobsRuntime.create(settings, api)

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        runtime.start()
        try:
            yield
        finally:
            runtime.stop()

    app = FastAPI(title="kaption", version="1", lifespan=lifespan)
    app.state.settings = settings
    app.state.api = api
    app.state.jobs = runtime
    app.add_middleware(TokenGate, tokens=api.token_list())
    app.include_router(jobs.router)
    app.include_router(streams.router)
    app.include_router(pages.router)

    @app.get("/healthz", tags=["health"])
    def healthz() -> dict[str, str]:
        """Alive: the process answers."""
        return {"status": "ok"}

    @app.get(
        "/readyz",
        tags=["health"],
        responses={503: {"description": "Not ready: the checks say what failed"}},
    )
    def readyz(request: Request) -> JSONResponse:
        """Ready: the broker answers, kaption's topics exist and the job view is loaded."""
        checks = readiness(settings, runtime.reader)
        ready = all(value == "ok" for value in checks.values())
        return JSONResponse({"ready": ready, "checks": checks}, status_code=200 if ready else 503)

    return app
