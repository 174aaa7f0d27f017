"""What a job request may ask for (pydantic models, unknown fields refused) and which of it
this deployment can honour (streams/job_options.py, as every other way in checks it): what it
cannot do is refused with the reason, never silently dropped."""

from __future__ import annotations

from pathlib import PurePosixPath
from typing import Annotated, Any, Literal, Self
from urllib.parse import urlsplit

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from clients.api.uploads import safe_filename
from streams.job_options import capabilities, refusals
from streams.settings import KaptionSettings

Language = Annotated[str, Field(pattern=r"^[a-z]{2}$", description="ISO 639-1 code")]
SpokenLanguage = Annotated[
    str, Field(pattern=r"^([a-z]{2}|auto)$", description="ISO 639-1 code, or 'auto' (detect)")
]


def _not_dots(name: str) -> str:
    if name.strip(".") == "":
        raise ValueError("a name of dots only is not a file name")
    return name


# A subtitle file's base name: no path separators, no control characters, not a dot name.
Name = Annotated[
    str,
    Field(min_length=1, max_length=200, pattern=r"^[^/\\\x00-\x1f\x7f]+$"),
    AfterValidator(_not_dots),
]


class JobOptions(BaseModel):
    """Options of a job, the same in a JSON request and an upload's form fields."""

    model_config = ConfigDict(extra="forbid", frozen=True)

    name: Name | None = Field(default=None, description="Base name of the subtitle files.")
    language: SpokenLanguage | None = Field(
        default=None, description="Spoken language (ISO 639-1), or 'auto' to detect it."
    )
    language_detection: Literal["job", "segment"] = Field(
        default="job",
        description="With 'auto': detect once from the first speech (job) or in every "
        "segment (speech that switches language).",
    )
    languages: list[Language] = Field(
        default_factory=list, max_length=20, description="Subtitle (translation) languages."
    )
    speakers: bool = Field(default=False, description="Label the speakers.")
    model: str | None = Field(
        default=None,
        min_length=1,
        max_length=200,
        description="A declared model (e.g. tiny.en, base); default: the workers' own.",
    )
    webhook: str | None = Field(
        default=None,
        min_length=1,
        max_length=2048,
        description="URL that gets the job when it ends.",
    )


class JobSubmission(JobOptions):
    """A job on a URL or on a path under the media root (exactly one of them)."""

    url: str | None = Field(default=None, min_length=1, max_length=4096)
    path: str | None = Field(default=None, min_length=1, max_length=4096)

    @model_validator(mode="after")
    def one_source(self) -> Self:
        if (self.url is None) == (self.path is None):
            raise ValueError("give exactly one of 'url' and 'path' (or upload a file)")
        return self

    @property
    def source(self) -> str:
        source = self.url if self.url is not None else self.path
        assert source is not None
        return source


def form_options(fields: dict[str, list[str]]) -> dict[str, Any]:
    """An upload's form fields as JobOptions input: ``languages`` may repeat and hold commas,
    every other field appears once."""
    options: dict[str, Any] = {}
    for key, values in fields.items():
        if key == "languages":
            options[key] = [v.strip() for value in values for v in value.split(",") if v.strip()]
        elif len(values) == 1:
            options[key] = values[0]
        else:
            options[key] = values  # a list where a single value belongs: pydantic says so
    return options


def unavailable(options: JobOptions, settings: KaptionSettings) -> list[tuple[str, str]]:
    """(field, reason) for each option this deployment cannot honour."""
    return refusals(
        capabilities(settings),
        options.language or settings.language,
        options.model or "",
        options.language_detection,
        options.languages,
        options.speakers,
    )


def default_name(source: str, fallback: str) -> str:
    """The subtitle files' base name when the request gives none: the file's stem."""
    path = urlsplit(source).path if "://" in source else source
    stem = PurePosixPath(path.replace("\\", "/")).stem
    return safe_filename(stem) if stem.strip(". ") else fallback
