"""streams/events/cloudevents.py: a CloudEvent (structured JSON mode) becomes the JobRequested
kaption's own clients publish; every other record is refused with a reason naming what is
wrong, and options the pipeline cannot honour yet are refused, not dropped."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import Any

import pytest

from streams.events.cloudevents import InvalidJobRequest, job_request
from streams.events.codec import DecodeError
from streams.events.model import JobRequested
from streams.job_options import Capabilities

NOW = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)


# What a deployment with the two built-in models can do (no translation, no speaker labels).
CAPS = Capabilities(
    models={"tiny.en": False, "base": True},
    default_model="tiny.en",
    pairs=frozenset({("en", "es")}),
)


def event(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "specversion": "1.0",
        "type": "kaption.job.requested",
        "source": "urn:example:uploader",
        "id": "5f0c9a34-8a42-4a8e-9a55-1b0b8f3e0a11",
        "time": "2026-12-04T11:59:58Z",
        "datacontenttype": "application/json",
        "data": {"source": "/media/talks/keynote.mp4"},
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def request(body: dict[str, Any] | bytes) -> JobRequested:
    value = body if isinstance(body, bytes) else json.dumps(body).encode()
    return job_request(value, CAPS, "en", NOW)


def refused(body: dict[str, Any] | bytes) -> str:
    with pytest.raises(InvalidJobRequest) as failure:
        request(body)
    return str(failure.value)


def test_a_minimal_event_becomes_a_job_request_with_the_event_id_as_job_id() -> None:
    assert request(event()) == JobRequested(
        job_id="5f0c9a34-8a42-4a8e-9a55-1b0b8f3e0a11",
        source="/media/talks/keynote.mp4",
        name="keynote",
        language="en",
        requested_at=NOW,
    )


def test_every_data_field_is_taken() -> None:
    data = {
        "source": "https://cdn.example/v/intro.mp4?sig=1",
        "job_id": "intro-42",
        "name": "Intro (final)",
        "language": "en",
        "languages": ["en"],  # the spoken language itself: nothing to translate
        "speakers": False,
    }
    got = request(event(data=data, time=None, datacontenttype=None))
    assert (got.job_id, got.source, got.name, got.language) == (
        "intro-42",
        "https://cdn.example/v/intro.mp4?sig=1",
        "Intro (final)",
        "en",
    )
    assert request(event(data={"source": "https://cdn.example/v/intro.mp4"})).name == "intro"


def test_target_languages_are_taken_once_each() -> None:
    data = {"source": "a.mp4", "language": "en", "languages": ["es", "en", "es"]}
    assert request(event(data=data)).languages == ("es", "en")


def test_a_multilingual_model_and_language_detection_can_be_asked_for() -> None:
    data = {"source": "a.mp4", "model": "base", "language": "de"}
    got = request(event(data=data))
    assert (got.model, got.language, got.language_detection) == ("base", "de", "job")
    data = {"source": "a.mp4", "model": "base", "language": "auto", "language_detection": "segment"}
    got = request(event(data=data))
    assert (got.model, got.language, got.language_detection) == ("base", "auto", "segment")


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"{not json", "not JSON: "),
        (b"\xff\xfe", "not JSON: "),
        (b"", "empty record"),
        (b"[1, 2]", "expected a JSON object"),
        (event(specversion="0.3"), "specversion '0.3' is not supported: expected '1.0'"),
        (event(specversion=None), "specversion None is not supported"),
        (event(type="com.example.other"), "type 'com.example.other' is not 'kaption.job."),
        (event(id=None), "id must be a non-empty string"),
        (event(id=""), "id must be a non-empty string"),
        (event(source=None), "source must be a non-empty string"),
        (event(datacontenttype="text/xml"), "datacontenttype 'text/xml' is not 'application/json'"),
        (event(data=None, data_base64="e30="), "data_base64 is not accepted"),
        (event(time="yesterday"), "time 'yesterday' is not an RFC 3339 timestamp"),
        (event(data="/media/a.mp4"), "data must be a JSON object"),
        (event(data={}), "data.source must be a non-empty string"),
        (event(data={"source": 7}), "data.source must be a non-empty string"),
        (event(data={"source": "a.mp4", "langauge": "en"}), "unknown data field(s) langauge"),
        (event(data={"source": "a.mp4", "job_id": "a/b"}), "job id 'a/b' (data.job_id"),
        (event(id="../../x", data={"source": "a.mp4"}), "job id '../../x'"),
        (event(data={"source": "a.mp4", "name": "../x"}), "data.name '../x' is not a file base"),
        (event(data={"source": "a.mp4", "name": ".."}), "data.name '..' is not a file base"),
        (event(data={"source": "a.mp4", "language": "english"}), "not an ISO 639-1 code"),
        (event(data={"source": "a.mp4", "language": "xx"}), "'xx' is neither 'auto' nor"),
        (
            event(data={"source": "a.mp4", "language": "de"}),
            "data.language: model 'tiny.en' transcribes English only",
        ),
        (
            event(data={"source": "a.mp4", "model": "large-v9"}),
            "data.model: unknown model 'large-v9': the declared models are base, tiny.en",
        ),
        (
            event(data={"source": "a.mp4", "language_detection": "word"}),
            "data.language_detection: 'word' is not one of job, segment",
        ),
        (
            event(data={"source": "a.mp4", "language": "en", "languages": ["fr", "de"]}),
            "data.languages: no translation from en into fr, de is configured",
        ),
        (event(data={"source": "a.mp4", "languages": "fr"}), "data.languages must be a list"),
        (
            event(data={"source": "a.mp4", "speakers": True}),
            "data.speakers: speaker labels are not available yet",
        ),
        (event(data={"source": "a.mp4", "speakers": "yes"}), "data.speakers must be true or false"),
    ],
)  # fmt: skip
def test_each_kind_of_bad_event_is_refused_with_its_reason(
    body: dict[str, Any] | bytes, reason: str
) -> None:
    assert reason in refused(body)


def test_a_refusal_is_a_decode_error_so_the_stage_runner_dead_letters_it() -> None:
    assert issubclass(InvalidJobRequest, DecodeError)


def test_extension_attributes_are_allowed_and_the_content_type_may_carry_parameters() -> None:
    body = event(traceparent="00-abc-def-01", datacontenttype="application/json; charset=utf-8")
    assert request(body).source == "/media/talks/keynote.mp4"
