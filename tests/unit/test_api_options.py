"""Job request validation and what this deployment can honour (clients/api/options.py)."""

from __future__ import annotations

from pathlib import Path

import pytest
from pydantic import ValidationError

from clients.api.options import (
    JobOptions,
    JobSubmission,
    default_name,
    form_options,
    unavailable,
)
from streams.settings import KaptionSettings


def settings(**overrides: object) -> KaptionSettings:
    return KaptionSettings(data_dir=Path("/tmp/unused"), **overrides)  # type: ignore[arg-type]


def test_options_the_pipeline_lacks_are_named_with_their_reason() -> None:
    asked = JobOptions(languages=["en", "fr"], speakers=True, model="large-v3", language="de")
    problems = dict(unavailable(asked, settings()))
    assert set(problems) == {"languages", "model"}  # speaker labels: the diarize stage
    # Into English is Whisper's own task (the shipped translation.yaml's *-en).
    assert "no translation from de into fr is configured" in problems["languages"]
    assert "pairs: en-es" in problems["languages"]  # the repository's translation.yaml
    # English speech into Spanish is configured; into itself needs no pair.
    assert unavailable(JobOptions(language="en", languages=["es", "en"]), settings()) == []
    # A detected language is not known yet: any target may run (and fail alone).
    assert unavailable(JobOptions(language="auto", languages=["fr"]), settings()) == []
    bad = dict(unavailable(JobOptions(language="en", languages=["xx"]), settings()))
    assert "xx: not a language code Whisper knows" in bad["languages"]
    assert "unknown model 'large-v3': the declared models are base, tiny.en" in problems["model"]
    english_only = dict(unavailable(JobOptions(language="de"), settings()))
    assert "model 'tiny.en' transcribes English only" in english_only["language"]
    assert "'base'" not in str(unavailable(JobOptions(language="de", model="base"), settings()))


def test_what_the_deployment_does_is_accepted() -> None:
    assert unavailable(JobOptions(), settings()) == []
    same = JobOptions(language="en", languages=["en"], model="tiny.en", speakers=False)
    assert unavailable(same, settings()) == []
    configured = settings(whisper_model="base", language="de")
    assert unavailable(JobOptions(model="base", language="de"), configured) == []
    assert unavailable(JobOptions(language="auto", language_detection="segment"), configured) == []
    # A deployment on base still takes a job that asks for tiny.en, in English.
    assert unavailable(JobOptions(model="tiny.en", language="en"), configured) == []
    assert [f for f, _ in unavailable(JobOptions(model="tiny.en"), configured)] == ["language"]


@pytest.mark.parametrize(
    "fields",
    [
        {"path": "a.mp4", "extra": 1},
        {"path": "a.mp4", "url": "https://x.org/a.mp4"},
        {},
        {"path": "a.mp4", "language": "EN"},
        {"path": "a.mp4", "languages": ["english"]},
        {"path": "a.mp4", "name": "a/b"},
        {"path": "a.mp4", "name": ".."},
        {"path": "a.mp4", "name": "tab\there"},
        {"path": ""},
        {"path": "a.mp4", "speakers": "perhaps"},
    ],
)
def test_invalid_submissions_are_refused(fields: dict[str, object]) -> None:
    with pytest.raises(ValidationError):
        JobSubmission.model_validate(fields)


def test_a_submission_has_one_source() -> None:
    assert JobSubmission(url="https://x.org/a.mp4").source == "https://x.org/a.mp4"
    assert JobSubmission(path="sub/a.mp4", speakers=False).source == "sub/a.mp4"


def test_form_fields_become_options() -> None:
    fields = {"languages": ["en, fr", "de"], "speakers": ["true"], "name": ["x"]}
    options = JobOptions.model_validate(form_options(fields))
    assert options.languages == ["en", "fr", "de"] and options.speakers and options.name == "x"
    with pytest.raises(ValidationError):
        JobOptions.model_validate(form_options({"name": ["a", "b"]}))


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("/media/talks/Keynote 2024.mp4", "Keynote_2024"),
        ("https://example.org/v/clip.webm?token=1", "clip"),
        ("https://example.org/", "job1"),
        ("..", "job1"),
    ],
)
def test_default_names_come_from_the_source(source: str, name: str) -> None:
    assert default_name(source, "job1") == name
