"""Live streams over HTTP: start, inspect and stop a stream's ingest; its HLS subtitles."""

from __future__ import annotations

from fastapi import APIRouter, Depends

from clients.api.security import require_token

router = APIRouter(prefix="/v1/streams", tags=["streams"], dependencies=[Depends(require_token)])
