"""`kaption models compare`: the primary model's transcripts beside a shadow model's, over the
segments (or live phrases) both transcribed.

Pure functions over decoded events: word error rate between the two (the primary as the
reference: how much the shadow would change users' text), against reference texts when given,
speed (processing seconds per audio second) and confidence (mean word probability).
"""

from __future__ import annotations

import re
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

import jiwer

from streams.events.model import LiveKind, LiveTranscript, SegmentTranscribed

Transcribed = SegmentTranscribed | LiveTranscript


def normalise(text: str) -> str:
    """Lowercase words without punctuation; a hyphen separates words."""
    text = re.sub(r"[^\w\s]", "", text.lower().replace("-", " "))
    return " ".join(text.split())


def error_rate(references: Sequence[str], hypotheses: Sequence[str]) -> float | None:
    """Corpus word error rate (errors over all reference words); None with no reference
    words."""
    pairs = [(normalise(r), normalise(h)) for r, h in zip(references, hypotheses, strict=True)]
    pairs = [(r, h) for r, h in pairs if r]
    if not pairs:
        return None
    return float(jiwer.wer([r for r, _ in pairs], [h for _, h in pairs]))


def label(event: Transcribed) -> str:
    return f"{event.model}@{event.model_version}"


def unit(event: Transcribed) -> str:
    """What is compared: a segment of a job, or a live phrase (stream and sequence number)."""
    if isinstance(event, SegmentTranscribed):
        return event.segment_id
    return f"{event.stream_id}#{event.seq}"


def group(event: Transcribed) -> str:
    return event.job_id if isinstance(event, SegmentTranscribed) else event.stream_id


def order(event: Transcribed) -> float:
    return float(event.index) if isinstance(event, SegmentTranscribed) else float(event.seq)


def latest_by_unit(events: Iterable[Transcribed]) -> dict[str, Transcribed]:
    """One result per segment or phrase (the last: a retried or replayed one repeats it); live:
    finals only."""
    found: dict[str, Transcribed] = {}
    for event in events:
        if isinstance(event, LiveTranscript) and event.kind != LiveKind.FINAL:
            continue
        found[unit(event)] = event
    return found


@dataclass(frozen=True)
class Side:
    """One side's results over the compared segments."""

    models: tuple[str, ...]
    segments: int
    audio_seconds: float
    processing_seconds: float
    confidence: float | None
    wer_vs_references: float | None

    @property
    def speed(self) -> float | None:
        """Processing seconds per second of audio (below 1: faster than real time)."""
        return self.processing_seconds / self.audio_seconds if self.audio_seconds > 0 else None

    def as_dict(self) -> dict[str, object]:
        return {
            "models": list(self.models),
            "segments": self.segments,
            "audio_seconds": round(self.audio_seconds, 3),
            "processing_seconds": round(self.processing_seconds, 3),
            "speed": None if self.speed is None else round(self.speed, 4),
            "confidence": None if self.confidence is None else round(self.confidence, 4),
            "wer_vs_references": rounded(self.wer_vs_references),
        }


@dataclass(frozen=True)
class Comparison:
    shadow: str  # the shadow model's label
    groups: tuple[str, ...]  # jobs (or streams) both saw
    wer_vs_primary: float | None
    primary: Side
    candidate: Side
    references: int  # groups with a reference text

    def as_dict(self) -> dict[str, object]:
        return {
            "shadow": self.shadow,
            "jobs": list(self.groups),
            "segments": self.primary.segments,
            "wer_vs_primary": rounded(self.wer_vs_primary),
            "references": self.references,
            "primary": self.primary.as_dict(),
            "candidate": self.candidate.as_dict(),
        }


def rounded(value: float | None) -> float | None:
    return None if value is None else round(value, 4)


def texts(events: Sequence[Transcribed]) -> str:
    return " ".join(e.text for e in sorted(events, key=order) if e.text)


def side(
    events: Sequence[Transcribed],
    by_group: Mapping[str, Sequence[Transcribed]],
    references: Mapping[str, str],
) -> Side:
    words = [w.probability for e in events for w in e.words]
    referenced = sorted(g for g in by_group if g in references)
    return Side(
        models=tuple(sorted({label(e) for e in events})),
        segments=len(events),
        audio_seconds=sum(e.end - e.start for e in events),
        processing_seconds=sum(e.processing_seconds for e in events),
        confidence=sum(words) / len(words) if words else None,
        wer_vs_references=error_rate(
            [references[g] for g in referenced], [texts(by_group[g]) for g in referenced]
        ),
    )


def compare(
    primary: Iterable[Transcribed],
    shadow: Iterable[Transcribed],
    only: Sequence[str] = (),
    references: Mapping[str, str] | None = None,
) -> list[Comparison]:
    """One comparison per shadow model, over the segments both it and the primary path
    transcribed, in the jobs (or streams) both saw (``only``: those jobs). ``references``
    maps a job id to its reference text (the WER against it is over that job's compared
    segments)."""
    references = references or {}
    primaries = latest_by_unit(primary)
    by_model: dict[str, list[Transcribed]] = defaultdict(list)
    for event in shadow:
        by_model[label(event)].append(event)
    comparisons = []
    for model, events in sorted(by_model.items()):
        shadows = {
            key: event
            for key, event in latest_by_unit(events).items()
            if key in primaries and (not only or group(event) in only)
        }
        if not shadows:
            continue
        keys = sorted(shadows)
        ours = [primaries[k] for k in keys]
        theirs = [shadows[k] for k in keys]
        ours_by: dict[str, list[Transcribed]] = defaultdict(list)
        theirs_by: dict[str, list[Transcribed]] = defaultdict(list)
        for a, b in zip(ours, theirs, strict=True):
            ours_by[group(a)].append(a)
            theirs_by[group(b)].append(b)
        groups = tuple(sorted(ours_by))
        comparisons.append(
            Comparison(
                shadow=model,
                groups=groups,
                wer_vs_primary=error_rate(
                    [texts(ours_by[g]) for g in groups], [texts(theirs_by[g]) for g in groups]
                ),
                primary=side(ours, ours_by, references),
                candidate=side(theirs, theirs_by, references),
                references=sum(1 for g in groups if g in references),
            )
        )
    return comparisons
