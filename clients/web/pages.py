"""Routes of the web page (static HTML and JavaScript; the page calls the API with the token the
user signs in with).

One HTML shell serves every page (/, /jobs/ID, /streams/ID); app.js draws the one the path
names. The pages themselves need no token: they hold no data, and the browser would not send
one for a page load anyway. Every answer carries a Content-Security-Policy that allows only
this origin's scripts and styles, and blob: media (the page fetches media and subtitles with
the token and plays them from blob: URLs, since <video> and <track> cannot send headers).
"""

from __future__ import annotations

from pathlib import Path

from fastapi import APIRouter, HTTPException, status
from fastapi.responses import FileResponse

STATIC = Path(__file__).parent / "static"
# Only these files are served: nothing else in the package is reachable by name.
ASSETS = {
    "app.js": "text/javascript; charset=utf-8",
    "style.css": "text/css; charset=utf-8",
    "favicon.svg": "image/svg+xml",
}
CSP = "; ".join(
    (
        "default-src 'none'",
        "script-src 'self'",
        "style-src 'self'",
        "img-src 'self' blob: data:",
        "media-src 'self' blob:",
        "connect-src 'self'",
        "form-action 'self'",
        "base-uri 'none'",
        "frame-ancestors 'none'",
    )
)
HEADERS = {
    "Content-Security-Policy": CSP,
    "X-Content-Type-Options": "nosniff",
    # The page's own URLs carry ids only, but nothing of them goes to other sites either.
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}

router = APIRouter(include_in_schema=False)


def shell() -> FileResponse:
    return FileResponse(STATIC / "index.html", media_type="text/html", headers=HEADERS)


@router.get("/")
def home() -> FileResponse:
    return shell()


@router.get("/jobs/{job_id}")
def job_page(job_id: str) -> FileResponse:
    return shell()


@router.get("/streams/{stream_id}")
def stream_page(stream_id: str) -> FileResponse:
    return shell()


@router.get("/static/{name}")
def asset(name: str) -> FileResponse:
    if name not in ASSETS:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "no such file")
    return FileResponse(STATIC / name, media_type=ASSETS[name], headers=HEADERS)


@router.get("/favicon.ico")
def favicon() -> FileResponse:
    return asset("favicon.svg")
