"""Live streams over HTTP: start, inspect and stop a stream's ingest; its HLS subtitles.

The API process runs the ingest of each stream it starts (a thread reading the source and
publishing its audio, as ``kaption ingest`` does); the live workers run wherever they run. The
subtitle files are the ones the subtitles-live stage writes into ``KAPTION_LIVE_OUT_DIR``, so
that directory must be the workers' own (one machine, or a shared volume).

Sources pass the same check as file jobs (streams/sources.py), deliberately: live schemes are
refused until an operator lists them in KAPTION_SOURCE_SCHEMES (e.g.
``http,https,udp,rtp,rtmp,rtsp``; srt:// is not in PyAV's FFmpeg), which admits them for file
jobs too, and a URL host that is loopback, private, multicast or link-local needs
KAPTION_ALLOW_PRIVATE_SOURCES, which for udp:// and rtp:// (the address this process listens on)
is the usual case. Files must lie under KAPTION_MEDIA_ROOT; they play at playback speed.
"""

from __future__ import annotations

import re
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from pathlib import Path
from typing import Annotated

from fastapi import APIRouter, Depends, FastAPI, HTTPException, Request, Response, status
from fastapi.responses import FileResponse
from pydantic import BaseModel, Field

from clients.api.jobs import is_file
from clients.api.security import require_token
from clients.api.stream_runs import STREAM_ID, LiveStreams, StreamRunning
from clients.live.ingest import SourceUnusable
from clients.live.ingest import check_source as check_live_url
from clients.live.session import stream_name
from streams.settings import KaptionSettings
from streams.sources import SourcePolicy, UnsafeSource, check_source, is_url

_lock = threading.Lock()


def live_streams(request: Request) -> LiveStreams:
    """The app's streams, made on first use (the cue reader starts with them)."""
    state = request.app.state
    with _lock:
        if getattr(state, "live_streams", None) is None:
            state.live_streams = LiveStreams(state.settings)
    streams: LiveStreams = state.live_streams
    return streams


@asynccontextmanager
async def lifespan(app: FastAPI) -> AsyncIterator[None]:
    yield
    # Shutting down ends every stream this process ingests, cleanly: its end is published and
    # the workers write its final files.
    streams: LiveStreams | None = getattr(app.state, "live_streams", None)
    if streams is not None:
        streams.close()


router = APIRouter(
    prefix="/v1/streams",
    tags=["streams"],
    dependencies=[Depends(require_token)],
    lifespan=lifespan,
)
Streams = Annotated[LiveStreams, Depends(live_streams)]


class StreamRequest(BaseModel):
    source: str = Field(
        description="udp://, rtp://, rtmp://, rtsp:// or http(s):// (HLS) URL whose scheme is "
        "in KAPTION_SOURCE_SCHEMES, or a file under KAPTION_MEDIA_ROOT (paced at playback speed)",
        min_length=1,
        max_length=4096,
    )
    name: str | None = Field(
        default=None,
        description="The stream id (default: derived from the source); also its file name",
        pattern=STREAM_ID.pattern,
    )
    languages: list[Annotated[str, Field(pattern=f"^{LANGUAGE.pattern}$")]] = Field(
        default=[],
        max_length=16,
        description="Live captions also in these languages (ISO 639 codes, e.g. es): finals "
        "translated by translate-live, served as ID.<language>.m3u8, .vtt and .srt",
    )
    speakers: bool = Field(
        default=False,
        description="Final captions labelled 'Speaker N' (WebVTT voice tags, SRT dashes at "
        "changes, LiveCue.speaker); the live workers need the 'speakers' extra, without it "
        "the captions go on unlabelled",
    )


class StreamStarted(BaseModel):
    stream_id: str


def checked_source(source: str, settings: KaptionSettings) -> str:
    """What the ingest opens, or 422 with the reason: the same policy as file jobs
    (streams/sources.py), and a local path only under a media root."""
    try:
        if not is_url(source) and settings.media_root is None:
            raise UnsafeSource("local paths need a media root (KAPTION_MEDIA_ROOT)")
        opened = check_source(source, SourcePolicy.from_settings(settings))
        if is_url(opened):
            check_live_url(opened)
        elif not is_file(opened):
            raise UnsafeSource(f"{source!r}: no such file under the media root")
    except (UnsafeSource, SourceUnusable) as exc:
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, str(exc)) from exc
    return opened


@router.post("", status_code=status.HTTP_201_CREATED, response_model=StreamStarted)
def start_stream(body: StreamRequest, request: Request, streams: Streams) -> StreamStarted:
    settings: KaptionSettings = request.app.state.settings
    source = checked_source(body.source, settings)
    stream_id = body.name or stream_name(body.source)
    if not STREAM_ID.match(stream_id):
        raise HTTPException(status.HTTP_422_UNPROCESSABLE_CONTENT, "give the stream a name")
    try:
        streams.start(stream_id, source, tuple(dict.fromkeys(body.languages)), body.speakers)
    except StreamRunning as exc:
        raise HTTPException(status.HTTP_409_CONFLICT, str(exc)) from exc
    return StreamStarted(stream_id=stream_id)


@router.get("")
def list_streams(streams: Streams) -> dict[str, list[dict[str, object]]]:
    return {"streams": list(streams.views().values())}


def known(streams: LiveStreams, stream_id: str) -> dict[str, object]:
    view = streams.view(stream_id) if STREAM_ID.match(stream_id) else None
    if view is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no stream {stream_id}")
    return view


@router.get("/{stream_id}")
def get_stream(stream_id: str, streams: Streams) -> dict[str, object]:
    return known(streams, stream_id)


@router.delete("/{stream_id}")
def stop_stream(stream_id: str, streams: Streams) -> dict[str, object]:
    """Stops the stream's ingest: its end is published, and the workers write its final files
    once they have captioned the rest (GET it until ENDED)."""
    known(streams, stream_id)
    if streams.stop(stream_id) is None:
        raise HTTPException(
            status.HTTP_409_CONFLICT, f"stream {stream_id} is not ingested by this API process"
        )
    return known(streams, stream_id)


# The files the subtitles-live stage writes for stream ID (agents/subtitles/live.py), and the
# same for each language it was asked to translate into: ID.es.m3u8, ID.es-N.vtt, ...
SEGMENT = re.compile(r"-(\d{1,9})\.vtt")
LANGUAGE = re.compile(r"[a-z]{2,3}")
IN_LANGUAGE = re.compile(rf"\.{LANGUAGE.pattern}(?=[.-])")
PLAYLIST = "application/vnd.apple.mpegurl"
VTT = "text/vtt; charset=utf-8"
SRT = "application/x-subrip; charset=utf-8"


def file_kind(stream_id: str, name: str) -> str:
    """What follows the stream's name (and a translation's language) in one of its files."""
    rest = name[len(stream_id) :]
    language = IN_LANGUAGE.match(rest)
    return rest[language.end() :] if language else rest


def media_type(stream_id: str, name: str) -> str | None:
    """The content type of one of the stream's files, None for any other name."""
    if not name.startswith(stream_id):
        return None
    rest = file_kind(stream_id, name)
    if rest == ".m3u8":
        return PLAYLIST
    if rest == ".vtt" or SEGMENT.fullmatch(rest):
        return VTT
    if rest == ".srt":
        return SRT
    return None


@router.get("/{stream_id}/{name}", response_class=FileResponse)
def stream_file(stream_id: str, name: str, request: Request) -> Response:
    """ID.m3u8 (also as index.m3u8) and the ID-N.vtt segments it lists (relative URIs that
    resolve here), the rolling ID.vtt and, once ended, the complete ID.srt and ID.vtt; the same
    as ID.<language>.* for each language of the stream's live translation."""
    out_dir: Path | None = request.app.state.settings.live_out_dir
    if name == "index.m3u8":
        name = f"{stream_id}.m3u8"
    kind = media_type(stream_id, name) if STREAM_ID.match(stream_id) else None
    if kind is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no file {name} of a stream")
    if out_dir is None:
        raise HTTPException(status.HTTP_404_NOT_FOUND, "this API has no KAPTION_LIVE_OUT_DIR")
    root = out_dir.resolve()
    path = (root / name).resolve()
    if not path.is_relative_to(root) or not is_file(str(path)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"no {name} (yet)")
    # Segments never change once listed; the playlist and the rolling WebVTT grow.
    cache = "max-age=3600" if SEGMENT.fullmatch(file_kind(stream_id, name)) else "no-cache"
    return FileResponse(path, media_type=kind, headers={"Cache-Control": cache})
