"""What a job may ask for, checked the same way wherever a request comes in (the CLI, the HTTP
API, CloudEvents, and the orchestrator for any producer's JobRequested): a pure function of the
request and this deployment's capabilities, so an option nobody can honour is refused with the
reason instead of failing half-way or being silently dropped."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from functools import cache, lru_cache
from pathlib import Path

import yaml

from streams.settings import KaptionSettings

AUTO = "auto"  # detect the spoken language
DETECTIONS = ("job", "segment")  # once from the first speech, or in every segment


@cache
def whisper_languages() -> frozenset[str]:
    """The languages Whisper knows. Imported when a request is checked, not with this module:
    every command and stage imports it, and faster-whisper loads CTranslate2 and ONNX Runtime
    (native threads a process that never transcribes should not start)."""
    from faster_whisper.tokenizer import _LANGUAGE_CODES

    return frozenset(_LANGUAGE_CODES)


@dataclass(frozen=True)
class Capabilities:
    """The declared models (name -> multilingual), the configured translation pairs
    ((source, target) languages), the sources whose English Whisper translates and the stages
    this deployment runs."""

    models: Mapping[str, bool] = field(default_factory=dict)
    default_model: str = ""
    pairs: frozenset[tuple[str, str]] = frozenset()
    speakers: bool = False
    whisper: frozenset[str] = frozenset()  # see whisper_sources


@dataclass(frozen=True)
class SpeakerOptions:
    """Speaker labels as a job asks for them: on or off, and how many speakers (0: not said)."""

    on: bool = False
    num: int = 0
    min: int = 0
    max: int = 0

    def problem(self) -> str | None:
        """Why the counts make no sense, or None."""
        if min(self.num, self.min, self.max) < 0:
            return "speaker counts cannot be negative"
        if self.min and self.max and self.min > self.max:
            return f"at least {self.min} and at most {self.max} speakers cannot both hold"
        return None


NO_SPEAKERS = SpeakerOptions()

PAIR = re.compile(r"^([a-z]{2,3})-([a-z]{2,3})$")
WHISPER = "whisper"  # translation.yaml's backend for Whisper's own translate task
ANY = "*"  # translation.yaml's "*-en": every source language
WHISPER_PAIR = re.compile(r"^([a-z]{2,3}|\*)-en$")


def _pair_entries(path: Path) -> dict[str, object]:
    """translation.yaml's pairs as written; none when the file is missing or says none."""
    try:
        document = yaml.safe_load(path.read_text(encoding="utf-8")) or {}
    except (OSError, yaml.YAMLError):
        return {}
    pairs = document.get("pairs") if isinstance(document, dict) else None
    return {str(key): body for key, body in pairs.items()} if isinstance(pairs, dict) else {}


def translation_pairs(path: Path) -> frozenset[tuple[str, str]]:
    """The language pairs translation.yaml configures for the translate stage (which checks
    the rest of each entry when it loads one)."""
    return _configured(path, _stamp(path))[0]


def whisper_sources(path: Path) -> frozenset[str]:
    """The source languages whose English comes from Whisper's translate task in the
    transcription stage (translation.yaml: ``<source>-en`` or ``*-en`` with backend whisper;
    ``*`` stands for any source)."""
    return _configured(path, _stamp(path))[1]


def _stamp(path: Path) -> int:
    try:
        return path.stat().st_mtime_ns
    except OSError:
        return -1


@lru_cache(maxsize=8)
def _configured(path: Path, stamp: int) -> tuple[frozenset[tuple[str, str]], frozenset[str]]:
    """translation.yaml read once per version of the file (``stamp``, its modification time):
    every API request and CloudEvent checks its options against it."""
    entries = _pair_entries(path)
    pairs = (PAIR.match(key) for key, body in entries.items() if not _is_whisper(body))
    whisper = (WHISPER_PAIR.match(key) for key, body in entries.items() if _is_whisper(body))
    return frozenset((m[1], m[2]) for m in pairs if m), frozenset(m[1] for m in whisper if m)


def _is_whisper(body: object) -> bool:
    return isinstance(body, dict) and body.get("backend") == WHISPER


def whisper_english(
    sources: frozenset[str], spoken: str | None, pairs: frozenset[tuple[str, str]] = frozenset()
) -> bool:
    """Whether a job's English comes from Whisper: its spoken language's whisper pair, or
    ``*-en`` where no other backend has that language's pair into English (``pairs``); with
    the spoken language unknown yet ("auto") or English itself, any whisper pair (other speech
    in the file is translated, English kept as transcribed)."""
    if spoken is None or spoken == "en":
        return bool(sources)
    return spoken in sources or (ANY in sources and (spoken, "en") not in pairs)


def capabilities(settings: KaptionSettings) -> Capabilities:
    from streams.models.catalog import (
        UnknownModelError,
        load_catalog,  # reads the models file: not at import
    )

    catalog = load_catalog(settings)
    try:
        default = catalog.get("").name
    except UnknownModelError:  # the workers' model is missing: transcription says so per job
        default = settings.whisper_model
    return Capabilities(
        models={spec.name: spec.multilingual for spec in catalog.specs()},
        default_model=default,
        pairs=translation_pairs(settings.translation_file),
        whisper=whisper_sources(settings.translation_file),
        # The diarize stage is part of the pipeline; where its extra or weights are missing a
        # job still completes, PARTIAL, and says so (agents/diarize).
        speakers=True,
    )


def refusals(
    caps: Capabilities,
    language: str = "",
    model: str = "",
    detection: str = "job",
    languages: Sequence[str] = (),
    speakers: bool = False,
) -> list[tuple[str, str]]:
    """(option, reason) for each thing the request asks that this deployment cannot do; empty:
    the request can run. ``language`` empty means the deployment's default."""
    problems: list[tuple[str, str]] = []
    name = model or caps.default_model
    multilingual = caps.models.get(name)
    if model and model not in caps.models:
        known = ", ".join(sorted(caps.models)) or "none"
        problems.append(("model", f"unknown model {model!r}: the declared models are {known}"))
    if language and language != AUTO and language not in whisper_languages():
        problems.append(
            ("language", f"{language!r} is neither 'auto' nor a language Whisper knows")
        )
    elif language not in ("", AUTO, "en") and multilingual is False:
        problems.append(
            (
                "language",
                f"model {name!r} transcribes English only: ask for a multilingual model "
                "(e.g. --model base) to transcribe "
                f"{language!r}",
            )
        )
    if detection not in DETECTIONS:
        problems.append(
            ("language_detection", f"{detection!r} is not one of {', '.join(DETECTIONS)}")
        )
    spoken = language if language not in ("", AUTO) else None
    bad = [x for x in languages if x not in whisper_languages()]
    if bad:
        problems.append(("languages", f"{', '.join(bad)}: not a language code Whisper knows"))
    # With the spoken language known, each target needs its pair; with "auto" it is not known
    # yet: a target without a pair fails alone unless it turns out to be the spoken language.
    unpaired = [
        x
        for x in languages
        if spoken is not None
        and x != spoken
        and x not in bad
        and (spoken, x) not in caps.pairs
        and not (x == "en" and whisper_english(caps.whisper, spoken, caps.pairs))
    ]
    if unpaired:
        named = [f"{a}-{b}" for a, b in sorted(caps.pairs)]
        named += [f"{a}-en (whisper)" for a in sorted(caps.whisper)]
        configured = ", ".join(named) or "none"
        problems.append(
            (
                "languages",
                f"no translation from {spoken} into {', '.join(unpaired)} is configured "
                f"(translation.yaml pairs: {configured})",
            )
        )
    whispered = "en" in languages and whisper_english(caps.whisper, spoken, caps.pairs)
    if whispered and spoken != "en" and multilingual is False:
        problems.append(
            (
                "languages",
                f"model {name!r} is English-only and cannot translate speech into English "
                "(translation.yaml: Whisper's translate task): ask for a multilingual model "
                "(e.g. --model base), or --language en for English speech",
            )
        )
    if speakers and not caps.speakers:
        problems.append(("speakers", "speaker labels are not available yet"))
    return problems


def refusal_text(problems: Sequence[tuple[str, str]]) -> str:
    return "; ".join(f"{option}: {why}" for option, why in problems)


def translation_name(name: str, language: str) -> str:
    """The base name of a job's subtitles in a target language: NAME.<language>.srt beside
    the transcript's NAME.srt."""
    return f"{name}.{language}"
