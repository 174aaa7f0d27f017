"""Job requests from any language: a CloudEvents 1.0 event in structured JSON mode, checked and
turned into the JobRequested that kaption's own clients publish (docs/events.md).

Pure and strict: everything a producer can get wrong is refused with a reason that names the
attribute (the stage runner dead-letters it), and options this deployment cannot honour
(streams/job_options.py: an unknown model, a language its model cannot transcribe, translation,
speaker labels) are refused, never silently dropped.
Here, not in a stage, because it is the platform's public contract: a stage and the HTTP API
can both take it.
"""

from __future__ import annotations

import json
import re
from datetime import UTC, datetime
from pathlib import PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from streams.events.codec import DecodeError
from streams.events.model import JobRequested
from streams.job_options import AUTO, DETECTIONS, Capabilities, refusals

SPECVERSION = "1.0"
TYPE = "kaption.job.requested"
CONTENT_TYPE = "application/json"
DATA_FIELDS = frozenset(
    {"source", "job_id", "name", "language", "language_detection", "model", "languages", "speakers"}
)
# Job ids become Kafka keys, segment ids and log fields: a UUID, a hex id or a slug.
JOB_ID = re.compile(r"^[A-Za-z0-9][A-Za-z0-9._-]{0,127}$")
LANGUAGE = re.compile(r"^[a-z]{2}$")  # ISO 639-1, as JobRequested.language
# A subtitle file's base name: no path separators or control characters (clients write
# <name>.srt into their output folder).
NAME = re.compile(r"^[^/\\\x00-\x1f\x7f]{1,200}$")
MAX_SOURCE_CHARS = 4096


class InvalidJobRequest(DecodeError):
    """A record on the CloudEvents topic that is no valid job request; the reason says why."""


def job_request(
    value: bytes | None,
    caps: Capabilities,
    default_language: str = AUTO,
    now: datetime | None = None,
) -> JobRequested:
    """The JobRequested a CloudEvent asks for; InvalidJobRequest with the reason otherwise.
    ``caps`` is what this deployment can do, ``default_language`` the language of a request
    that names none; ``now`` the request time (default: the current time)."""
    event = parse(value)
    check_attributes(event)
    data = event.get("data")
    if not isinstance(data, dict):
        raise InvalidJobRequest("data must be a JSON object with the job request's fields")
    unknown = sorted(set(data) - DATA_FIELDS)
    if unknown:
        allowed = ", ".join(sorted(DATA_FIELDS))
        raise InvalidJobRequest(f"unknown data field(s) {', '.join(unknown)} (allowed: {allowed})")
    source = _string(data, "source", required=True, limit=MAX_SOURCE_CHARS)
    job_id = _string(data, "job_id") or event["id"]
    if not JOB_ID.match(job_id):
        raise InvalidJobRequest(
            f"job id {job_id!r} (data.job_id, or the event's id) must be 1-128 letters, digits, "
            "'.', '_' or '-', starting with a letter or digit"
        )
    name = _string(data, "name") or default_name(source, job_id)
    if not NAME.match(name) or not name.strip("."):
        raise InvalidJobRequest(f"data.name {name!r} is not a file base name")
    language = _string(data, "language") or default_language
    model = _string(data, "model", limit=200)
    detection = _string(data, "language_detection") or DETECTIONS[0]
    check_options(data, caps, language, model, detection)
    return JobRequested(
        job_id=job_id,
        source=source,
        name=name,
        language=language,
        requested_at=now or datetime.now(UTC),
        model=model,
        language_detection=detection,
        languages=tuple(dict.fromkeys(data.get("languages", []))),
        speakers=data.get("speakers", False) is True,
    )


def parse(value: bytes | None) -> dict[str, Any]:
    if not value:
        raise InvalidJobRequest("empty record: expected a CloudEvent in structured JSON mode")
    try:
        event = json.loads(value)
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise InvalidJobRequest(f"not JSON: {exc}") from exc
    if not isinstance(event, dict):
        raise InvalidJobRequest("expected a JSON object (a CloudEvent in structured JSON mode)")
    return event


def check_attributes(event: dict[str, Any]) -> None:
    """CloudEvents 1.0 required attributes, kaption's type, JSON data."""
    if event.get("specversion") != SPECVERSION:
        raise InvalidJobRequest(
            f"specversion {event.get('specversion')!r} is not supported: expected {SPECVERSION!r}"
        )
    if event.get("type") != TYPE:
        raise InvalidJobRequest(f"type {event.get('type')!r} is not {TYPE!r}")
    for attribute in ("id", "source"):
        _string(event, attribute, required=True, where="")
    content_type = event.get("datacontenttype", CONTENT_TYPE)
    if not isinstance(content_type, str) or content_type.split(";")[0].strip() != CONTENT_TYPE:
        raise InvalidJobRequest(f"datacontenttype {content_type!r} is not {CONTENT_TYPE!r}")
    if "data_base64" in event:
        raise InvalidJobRequest("data_base64 is not accepted: send data as a JSON object")
    if "time" in event:
        time = event["time"]
        try:  # RFC 3339; informative only: the job's clock starts when kaption accepts it
            datetime.fromisoformat(str(time).replace("Z", "+00:00"))
        except ValueError as exc:
            raise InvalidJobRequest(f"time {time!r} is not an RFC 3339 timestamp") from exc


def check_options(
    data: dict[str, Any], caps: Capabilities, language: str, model: str, detection: str
) -> None:
    """Refuses what this deployment cannot do, with the reason (the first one found)."""
    if language != AUTO and not LANGUAGE.match(language):
        raise InvalidJobRequest(f"data.language {language!r} is not an ISO 639-1 code or 'auto'")
    languages = data.get("languages", [])
    if not isinstance(languages, list) or not all(isinstance(x, str) for x in languages):
        raise InvalidJobRequest("data.languages must be a list of ISO 639-1 codes")
    speakers = data.get("speakers", False)
    if not isinstance(speakers, bool):
        raise InvalidJobRequest("data.speakers must be true or false")
    problems = refusals(caps, language, model, detection, languages, speakers)
    if problems:
        option, why = problems[0]
        raise InvalidJobRequest(f"data.{option}: {why}")


def default_name(source: str, job_id: str) -> str:
    """The source's file stem (a URL's path's), as `kaption submit` names files."""
    path = urlsplit(source).path if "://" in source else source
    stem = PurePosixPath(path).stem
    return stem if stem and NAME.match(stem) and stem.strip(".") else job_id


def _string(
    fields: dict[str, Any],
    key: str,
    required: bool = False,
    limit: int = 1024,
    where: str = "data.",
) -> str:
    value = fields.get(key)
    if value is None and not required:
        return ""
    if not isinstance(value, str) or not value.strip():
        raise InvalidJobRequest(f"{where}{key} must be a non-empty string")
    if len(value) > limit:
        raise InvalidJobRequest(f"{where}{key} is longer than {limit} characters")
    return value
