"""Jobs over HTTP: submit (upload, path under the media root, or URL), list, follow, fetch.

Contract (the web page and any client build on it; auth: ``Authorization: Bearer <token>``):

``POST /v1/jobs``
    multipart/form-data: file field ``media`` plus optional form fields ``name``, ``language``
    (ISO 639-1, or ``auto`` to detect it), ``language_detection`` (``job`` or ``segment``),
    ``languages`` (comma-separated or repeated), ``speakers`` (true/false), ``model`` (a
    declared model), ``webhook``; or JSON ``{"url": ...}`` / ``{"path": ...}`` (exactly one)
    with the same options (``languages`` a list, ``speakers`` a bool). 201
    ``{"job_id": "<hex>"}``. 422 for anything invalid (unknown fields, unsafe source, empty
    upload, and options this deployment cannot honour: ``languages`` without a translation pair,
    ``speakers: true``, an undeclared ``model``, a ``language`` the model cannot transcribe
    (e.g. ``de`` with the English-only tiny.en); a ``webhook`` without
    KAPTION_API_WEBHOOK_SECRET); 413 for an upload over KAPTION_API_MAX_UPLOAD_MB (or a JSON
    body over 64 KiB); 415 for other content types; 503 when the broker did not take the
    request within 20 s. A 422 is FastAPI's ``{"detail": [{"type", "loc", "msg"}, ...]}``
    (``type`` "unsafe_source" for refused sources, "not_available" for missing features);
    other errors are ``{"detail": "<message>"}``.

``GET /v1/jobs``
    ``{"jobs": [view, ...]}``, newest request first.

``GET /v1/jobs/{job_id}``
    one view; 404 ``{"detail": "..."}`` for an unknown job. A view has exactly these keys:

    - ``job_id``: str
    - ``name``: str (base name of the subtitle files)
    - ``state``: one of REQUESTED, DECODING, TRANSCRIBING, BUILDING_CUES, COMPLETED, PARTIAL,
      FAILED (REQUESTED: published, no worker has picked it up yet)
    - ``final``: bool (state is COMPLETED, PARTIAL or FAILED)
    - ``stage``: the running stage in lower case ("requested", "decoding", "transcribing",
      "building_cues"), null once final
    - ``progress``: float 0..1 (segments transcribed or given up on / planned so far; 1.0 when
      COMPLETED or PARTIAL), null while nothing is planned or when FAILED before any plan
    - ``segments_total``, ``segments_done``, ``segments_failed``: int, null before any status
    - ``audio_seconds_total``, ``audio_seconds_done``: float, null before any status
    - ``language``: spoken language (ISO 639-1; as detected once known, ``auto`` while a
      detection is pending) or null when unknown
    - ``model``: the model the job asked for, or null (the workers' own)
    - ``models``: list of the models (``name@version``) that transcribed it so far
    - ``languages``: list of subtitle languages available now (the spoken one once the
      subtitles are ready; [] before)
    - ``cue_count``: int cues in the source-language subtitles, null before they are ready
    - ``media``: bool, whether ``GET /v1/jobs/{id}/media`` serves the job's media (uploads
      and paths under the media root; false for URLs)
    - ``reason``: str or null (why it FAILED, or what a PARTIAL job is missing)
    - ``requested_at``, ``updated_at``: ISO 8601 datetimes with offset, or null when unknown

``GET /v1/jobs/{job_id}/events``
    ``text/event-stream``. At once, and then on every change of the view::

        event: status
        data: <view JSON, one line>

    The stream ends after the event whose view is final (for COMPLETED/PARTIAL, once its
    ``languages`` are known, or at most 10 s after the final state). Comment lines
    (``: keep-alive``) come every 15 s while nothing changes. 404 for an unknown job.

``GET /v1/jobs/{job_id}/subtitles.vtt`` and ``.srt`` (``?language=xx``, default the spoken
    language): ``text/vtt; charset=utf-8`` / ``application/x-subrip; charset=utf-8``.
    404 unknown job or language; 409 when the job has no subtitles yet (or FAILED).

``GET /v1/jobs/{job_id}/media``
    the uploaded or media-root file, with HTTP Range support (206, ``Accept-Ranges: bytes``).
    404 for URL jobs and for files gone from disk.

Webhooks (``webhook`` in the request): see clients/api/webhooks.py.
"""

from __future__ import annotations

import asyncio
import json
import mimetypes
import time
import uuid
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Annotated, Any

from fastapi import APIRouter, Depends, HTTPException, Query, Request, status
from fastapi import Path as PathParam
from fastapi.exceptions import RequestValidationError
from fastapi.responses import FileResponse, Response, StreamingResponse
from pydantic import BaseModel, ValidationError
from starlette.concurrency import run_in_threadpool
from starlette.requests import ClientDisconnect

from clients.api.config import MiB
from clients.api.options import JobOptions, JobSubmission, default_name, form_options, unavailable
from clients.api.runtime import JobsRuntime, runtime_of
from clients.api.security import require_token
from clients.api.uploads import FILE_FIELD, MultipartUpload, Upload, UploadError, safe_filename
from clients.api.view import JobBoard
from clients.api.webhooks import webhook_policy
from streams.broker.admin import BrokerUnreachable
from streams.events.model import JobState
from streams.sources import UnsafeSource, check_path, check_source, check_url

JSON_LIMIT = 64 * 1024  # bytes of a JSON job request
FORM_SLACK = MiB  # what an upload's form fields and boundaries may add to the file's size
WRITE_CHUNK = MiB  # body bytes gathered before one write on a worker thread
SSE_POLL_S = 0.25
SSE_KEEPALIVE_S = 15.0
JobId = Annotated[str, PathParam(min_length=1, max_length=200, description="The job id")]

router = APIRouter(prefix="/v1/jobs", tags=["jobs"], dependencies=[Depends(require_token)])


class JobCreated(BaseModel):
    job_id: str


def invalid(field: str, message: str, kind: str = "value_error") -> RequestValidationError:
    """A 422 in FastAPI's own shape: {"detail": [{"type", "loc", "msg"}]}."""
    return RequestValidationError([{"type": kind, "loc": ("body", field), "msg": message}])


def invalid_model(error: ValidationError) -> RequestValidationError:
    errors = error.errors(include_url=False, include_context=False, include_input=False)
    return RequestValidationError([{**e, "loc": ("body", *e["loc"])} for e in errors])


def not_found(job_id: str) -> HTTPException:
    return HTTPException(status.HTTP_404_NOT_FOUND, f"no job {job_id!r}")


# --- submitting ---------------------------------------------------------------------------------

_OPTIONS = {
    "name": {"type": "string", "minLength": 1, "maxLength": 200},
    "language": {"type": "string", "pattern": "^([a-z]{2}|auto)$"},
    "language_detection": {"type": "string", "enum": ["job", "segment"]},
    "languages": {"type": "array", "items": {"type": "string", "pattern": "^[a-z]{2}$"}},
    "speakers": {"type": "boolean"},
    "model": {"type": "string", "minLength": 1, "maxLength": 200},
    "webhook": {"type": "string", "minLength": 1, "maxLength": 2048},
}
SUBMIT_BODY: dict[str, Any] = {
    "requestBody": {
        "required": True,
        "content": {
            "application/json": {"schema": JobSubmission.model_json_schema()},
            "multipart/form-data": {
                "schema": {
                    "type": "object",
                    "required": [FILE_FIELD],
                    "additionalProperties": False,
                    "properties": {FILE_FIELD: {"type": "string", "format": "binary"}, **_OPTIONS},
                }
            },
        },
    }
}
ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"description": "No or wrong bearer token"},
    404: {"description": "No such job"},
}


@router.post(
    "",
    status_code=status.HTTP_201_CREATED,
    openapi_extra=SUBMIT_BODY,
    responses={
        401: ERRORS[401],
        413: {"description": "Upload or request too large"},
        415: {"description": "Neither JSON nor multipart/form-data"},
        503: {"description": "The broker did not take the request"},
    },
)
async def submit_job(request: Request) -> JobCreated:
    """Submit a job: upload a file (multipart field ``media``) or name a URL or a path under
    the media root (JSON)."""
    runtime = runtime_of(request)
    kind = request.headers.get("content-type", "").split(";")[0].strip().lower()
    job_id = uuid.uuid4().hex
    if kind == "multipart/form-data":
        return await submit_upload(request, runtime, job_id)
    if kind == "application/json" or kind.endswith("+json"):
        body = await read_limited(request, JSON_LIMIT)
        try:
            submission = JobSubmission.model_validate_json(body)
        except ValidationError as exc:
            raise invalid_model(exc) from exc
        field = "url" if submission.url is not None else "path"
        return await accept(runtime, job_id, submission.source, field, submission)
    raise HTTPException(
        status.HTTP_415_UNSUPPORTED_MEDIA_TYPE,
        "send application/json ({'url': ...} or {'path': ...}) or multipart/form-data "
        f"with the file in field {FILE_FIELD!r}",
    )


async def read_limited(request: Request, limit: int) -> bytes:
    body = bytearray()
    async for chunk in request.stream():
        body += chunk
        if len(body) > limit:
            raise too_large(f"the request body is over {limit} bytes")
    return bytes(body)


def too_large(message: str) -> HTTPException:
    # The rest of the body is not read: the server closes the connection after answering.
    return HTTPException(
        status.HTTP_413_CONTENT_TOO_LARGE, message, headers={"Connection": "close"}
    )


async def submit_upload(request: Request, runtime: JobsRuntime, job_id: str) -> JobCreated:
    limit = runtime.api.max_upload_bytes
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit + FORM_SLACK:
        raise too_large(
            f"the upload is over the limit of {limit} bytes (KAPTION_API_MAX_UPLOAD_MB)"
        )
    directory = runtime.media_root / "uploads" / job_id
    try:
        upload = MultipartUpload(request.headers["content-type"], directory, limit)
    except UploadError as exc:
        raise invalid(FILE_FIELD, str(exc)) from exc
    try:
        received = await receive(request, upload)
        try:
            options = JobOptions.model_validate(form_options(received.fields))
        except ValidationError as exc:
            raise invalid_model(exc) from exc
        assert received.path is not None
        return await accept(runtime, job_id, str(received.path), FILE_FIELD, options)
    except BaseException:
        upload.discard()  # refused or failed: nothing of it stays on disk
        raise


async def receive(request: Request, upload: MultipartUpload) -> Upload:
    """Streams the body into the upload, a worker thread writing each MiB gathered."""
    pending = bytearray()
    try:
        async for chunk in request.stream():
            pending += chunk
            if len(pending) >= WRITE_CHUNK:
                await run_in_threadpool(upload.write, bytes(pending))
                pending.clear()
        await run_in_threadpool(upload.write, bytes(pending))
        return await run_in_threadpool(upload.finish)
    except UploadError as exc:
        if exc.status == status.HTTP_413_CONTENT_TOO_LARGE:
            raise too_large(str(exc)) from exc
        raise invalid(FILE_FIELD, str(exc)) from exc
    except ClientDisconnect as exc:
        raise HTTPException(status.HTTP_400_BAD_REQUEST, "the upload was interrupted") from exc


def is_file(path: str) -> bool:
    try:
        return Path(path).is_file()
    except OSError:  # a name too long, a component that is a file, ...
        return False


async def accept(
    runtime: JobsRuntime, job_id: str, source: str, field: str, options: JobOptions
) -> JobCreated:
    """Checks the options and the source, publishes the request, remembers its webhook."""
    settings = runtime.settings
    problems = unavailable(options, settings)
    if problems:
        raise RequestValidationError(
            [{"type": "not_available", "loc": ("body", f), "msg": m} for f, m in problems]
        )
    if options.webhook is not None:
        if not runtime.api.webhook_secret:
            raise invalid("webhook", "webhooks are off: KAPTION_API_WEBHOOK_SECRET is not set")
        try:
            await run_in_threadpool(check_url, options.webhook, webhook_policy(runtime.policy))
        except UnsafeSource as exc:
            raise invalid("webhook", str(exc), "unsafe_source") from exc
    try:
        checked = await run_in_threadpool(check_source, source, runtime.policy)
    except UnsafeSource as exc:
        raise invalid(field, str(exc), "unsafe_source") from exc
    if field == "path" and not await run_in_threadpool(is_file, checked):
        raise invalid(field, f"no file {source!r} under the media root", "not_found")
    name = options.name or default_name(source, job_id)
    language = options.language or settings.language
    if runtime.publisher is None:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, "the API is not started")
    try:
        published = await run_in_threadpool(
            runtime.publisher.publish,
            job_id,
            checked,
            name,
            language,
            options.model or "",
            options.language_detection,
            tuple(dict.fromkeys(options.languages)),
            options.speakers,
        )
    except BrokerUnreachable as exc:
        raise HTTPException(status.HTTP_503_SERVICE_UNAVAILABLE, str(exc)) from exc
    runtime.board.apply(published)  # readable at once, before the reader meets it
    if options.webhook is not None:
        runtime.webhooks.add(job_id, options.webhook)
    return JobCreated(job_id=job_id)


# --- reading ------------------------------------------------------------------------------------


@router.get("", responses={401: ERRORS[401]})
def list_jobs(request: Request) -> dict[str, list[dict[str, Any]]]:
    """Every job, newest request first."""
    return {"jobs": runtime_of(request).board.views()}


@router.get("/{job_id}", responses=ERRORS)
def get_job(job_id: JobId, request: Request) -> dict[str, Any]:
    view = runtime_of(request).board.view(job_id)
    if view is None:
        raise not_found(job_id)
    return view


def sse(view: dict[str, Any]) -> str:
    return f"event: status\ndata: {json.dumps(view)}\n\n"


async def follow(board: JobBoard, job_id: str) -> AsyncIterator[str]:
    """The job's view at once and on each change, until it is settled (final, and its
    subtitles read or given up on)."""
    seen: int | None = None
    sent = ""
    last_sent = time.monotonic()
    while True:
        settled = board.settled(job_id)  # before the snapshot: the last view sent shows it
        snapshot = board.snapshot(job_id)
        if snapshot is None:
            return  # forgotten (a tombstone)
        version, view = snapshot
        event = sse(view) if version != seen else sent
        seen = version
        if event != sent:  # a status sent again changes nothing: no event
            yield event
            sent, last_sent = event, time.monotonic()
        elif time.monotonic() - last_sent >= SSE_KEEPALIVE_S:
            yield ": keep-alive\n\n"
            last_sent = time.monotonic()
        if settled:
            return
        await asyncio.sleep(SSE_POLL_S)


@router.get(
    "/{job_id}/events",
    response_class=StreamingResponse,
    responses={**ERRORS, 200: {"content": {"text/event-stream": {"schema": {"type": "string"}}}}},
)
def job_events(job_id: JobId, request: Request) -> StreamingResponse:
    """Server-sent events: ``event: status`` with the job's view at once and on every change,
    until the job is final."""
    board = runtime_of(request).board
    if board.version(job_id) is None:
        raise not_found(job_id)
    return StreamingResponse(
        follow(board, job_id),
        media_type="text/event-stream",
        headers={"Cache-Control": "no-cache", "X-Accel-Buffering": "no"},
    )


FORMATS = {"srt": "application/x-subrip; charset=utf-8", "vtt": "text/vtt; charset=utf-8"}
LanguageQuery = Annotated[
    str | None,
    Query(pattern=r"^[a-z]{2}$", description="Subtitle language (default: the spoken one)"),
]
SUBTITLE_ERRORS: dict[int | str, dict[str, Any]] = {
    **ERRORS,
    409: {"description": "No subtitles yet (or the job failed)"},
}


def subtitles(request: Request, job_id: str, language: str | None, fmt: str) -> Response:
    found = runtime_of(request).board.subtitles(job_id)
    if found is None:
        raise not_found(job_id)
    record, by_language = found
    if not by_language:
        state = record.status.state if record.status is not None else JobState.REQUESTED
        if state == JobState.FAILED:
            reason = record.status.reason if record.status is not None else None
            message = f"job {job_id} FAILED ({reason}): it has no subtitles"
        else:
            message = f"the subtitles of job {job_id} are not ready yet (it is {state.value})"
        raise HTTPException(status.HTTP_409_CONFLICT, message)
    wanted = language or record.language() or next(iter(by_language))
    ready = by_language.get(wanted)
    if ready is None:
        available = ", ".join(sorted(by_language))
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"job {job_id} has no {wanted!r} subtitles (available: {available})",
        )
    text = ready.srt if fmt == "srt" else ready.vtt
    filename = safe_filename(f"{ready.name}.{wanted}.{fmt}")
    return Response(
        text,
        media_type=FORMATS[fmt],
        headers={"Content-Disposition": f'inline; filename="{filename}"'},
    )


@router.get(
    "/{job_id}/subtitles.vtt",
    response_class=Response,
    responses={**SUBTITLE_ERRORS, 200: {"content": {"text/vtt": {}}}},
)
def subtitles_vtt(job_id: JobId, request: Request, language: LanguageQuery = None) -> Response:
    """The job's WebVTT subtitles."""
    return subtitles(request, job_id, language, "vtt")


@router.get(
    "/{job_id}/subtitles.srt",
    response_class=Response,
    responses={**SUBTITLE_ERRORS, 200: {"content": {"application/x-subrip": {}}}},
)
def subtitles_srt(job_id: JobId, request: Request, language: LanguageQuery = None) -> Response:
    """The job's SRT subtitles."""
    return subtitles(request, job_id, language, "srt")


@router.get(
    "/{job_id}/media",
    response_class=FileResponse,
    responses={
        **ERRORS,
        200: {"content": {"application/octet-stream": {}}},
        206: {"description": "The range asked for"},
        416: {"description": "Range not satisfiable"},
    },
)
def job_media(job_id: JobId, request: Request) -> FileResponse:
    """The job's media file (uploads and files under the media root), with Range support."""
    runtime = runtime_of(request)
    source = runtime.board.source(job_id)
    if source is None:
        raise not_found(job_id)
    view = runtime.board.view(job_id)
    if view is None or not view["media"]:
        raise HTTPException(
            status.HTTP_404_NOT_FOUND,
            f"job {job_id}'s media is not a file the API serves (only uploads and files "
            "under the media root)",
        )
    try:
        path = Path(check_path(source, runtime.media_root))
    except UnsafeSource as exc:
        raise HTTPException(status.HTTP_404_NOT_FOUND, str(exc)) from exc
    if not is_file(str(path)):
        raise HTTPException(status.HTTP_404_NOT_FOUND, f"job {job_id}'s media file is gone")
    media_type = mimetypes.guess_type(path.name)[0] or "application/octet-stream"
    return FileResponse(
        path, media_type=media_type, filename=path.name, content_disposition_type="inline"
    )
