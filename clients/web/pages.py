"""Routes of the web page (static HTML and JavaScript; the page calls the API with the token the
user signs in with)."""

from __future__ import annotations

from fastapi import APIRouter

router = APIRouter(include_in_schema=False)
