"""Live translation of one stream, as pure functions (agents/translate/live_agent.py runs them).

A stream asks for target languages when it starts (LiveStreamStarted). Each FINAL of its live
cues is translated as it comes, one batched backend call per final (its cue lines): the
translation keeps the source cues' times, is re-flowed to the cue rules as a file job's is
(reflow.py), and is placed after the language's cues already written, as cues-live places the
source's (`placed`): a written cue never changes, so a new one gives way. Interims are not
translated (they change every second; a translated stream shows finals only). Silence, gap and
end marks go to each language as they are, so its files advance and end with the source's.

Each final is translated from the language it was spoken in (``LiveCue.source_language``); one
already in the target language is kept as transcribed. A failed translation leaves a GAP in that
language with the reason, never in the source: a language whose pair or model is unusable from
the stream's expected language stops there (its files end with the stream), any other error
costs that phrase alone.
"""

from __future__ import annotations

import math
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import Any

from agents.translate.reflow import reflow
from streams.cue_rules import DEFAULT_RULES, CueRules, extended_end
from streams.events.model import (
    CueRecord,
    LiveCue,
    LiveCueLine,
    LiveKind,
    LiveStreamStarted,
    LiveWord,
    SourceCue,
)

# How far the ingest's clock (a start's time) may run ahead of cues-live's (a cue's).
CLOCK_SKEW_S = 1.0


@dataclass(slots=True)
class StreamLanguages:
    """What translate-live keeps per stream: its target languages, the ones that stopped (with
    why, until the next final shows it), and where each language's written cues end."""

    languages: tuple[str, ...] = ()
    failed: dict[str, str] = field(default_factory=dict)
    shown: set[str] = field(default_factory=set)  # failed languages whose gap went out
    cue_end: dict[str, float] = field(default_factory=dict)

    def live(self) -> list[str]:
        """The languages still translated."""
        return [language for language in self.languages if language not in self.failed]

    def to_dict(self) -> dict[str, Any]:
        return {
            "languages": list(self.languages),
            "failed": self.failed,
            "shown": sorted(self.shown),
            "cue_end": self.cue_end,
        }

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> StreamLanguages:
        return cls(
            languages=tuple(data["languages"]),
            failed=dict(data["failed"]),
            shown=set(data["shown"]),
            cue_end=dict(data["cue_end"]),
        )


def started(event: LiveStreamStarted) -> StreamLanguages:
    """The stream's state: its languages, each once (none: the stream is known, untranslated)."""
    return StreamLanguages(languages=tuple(dict.fromkeys(x for x in event.languages if x)))


@dataclass(slots=True)
class Early:
    """Cues of streams whose start has not been read yet: live.streams and live.cues are read
    side by side, so a worker catching up a backlog may meet a stream's first finals before its
    start. They wait here (in memory: a restart translates none of them) for the start, which
    takes those published since it; a stream that never starts (an older ingest) keeps only its
    newest ``per_stream``, and only the newest ``streams`` streams are kept."""

    per_stream: int = 64
    streams: int = 256
    held: dict[str, deque[LiveCue]] = field(default_factory=dict)

    def hold(self, cue: LiveCue) -> None:
        queue = self.held.pop(cue.stream_id, None) or deque(maxlen=self.per_stream)
        queue.append(cue)
        self.held[cue.stream_id] = queue  # newest last: the first is the stalest stream
        while len(self.held) > self.streams:
            del self.held[next(iter(self.held))]

    def claim(self, event: LiveStreamStarted) -> list[LiveCue]:
        """The stream's held cues of this run (published after its start; an earlier run of the
        same id is older), in order."""
        held = self.held.pop(event.stream_id, ())
        return [c for c in held if c.published_at >= event.started_at - CLOCK_SKEW_S]


def source_texts(cue: LiveCue) -> list[str]:
    """What one backend call translates for a final: its cue lines' texts, in order."""
    return [line.text for line in cue.cues]


def placed(
    cues: Sequence[CueRecord], floor: float, rules: CueRules = DEFAULT_RULES
) -> list[CueRecord]:
    """Cues placed after ``floor`` (the end of the language's written cues) and timed by the
    rules as far as that allows: a cue that starts earlier starts at the floor and keeps
    min_duration even past the next cue's start (which then gives way in turn); each is
    extended for its reading time up to the next cue's start. Whole milliseconds, as the files
    write them, so rounding cannot create an overlap."""
    out: list[CueRecord] = []
    for i, cue in enumerate(cues):
        start = max(_ms(cue.start), _ms(floor))
        next_start = _ms(cues[i + 1].start) if i + 1 < len(cues) else math.inf
        if start > _ms(cue.start):  # gave way: room for min_duration at least
            next_start = max(next_start, start + rules.min_duration + rules.min_gap)
        end = min(max(_ms(cue.end), start), start + rules.max_duration)
        reading = len(cue.text.replace("\n", " "))
        end = extended_end(start, end, reading, next_start, rules)
        out.append(CueRecord(start=start, end=_ms(end), text=cue.text))
        floor = out[-1].end
    return out


def word_latency(cue: LiveCue, word: LiveWord, now: float) -> float:
    """From the capture of the audio that ends ``word`` to ``now`` (the translation's
    publication), on the capture clock of the phrase's transcript (its capture at ``end``,
    media time running with wall time), as cues-live measures the source. Without it (cues of
    an older cues-live): the word's source latency plus the time since the source's publication."""
    if cue.capture_end > 0:
        return now - (cue.capture_end - (cue.end - min(word.end, cue.end)))
    return word.final_latency_s + now - cue.published_at


def translated_final(
    cue: LiveCue,
    language: str,
    texts: Sequence[str],
    floor: float,
    now: float,
    rules: CueRules = DEFAULT_RULES,
) -> LiveCue:
    """The final in ``language``: ``texts`` (one per source cue line) as cues after ``floor``;
    its words are the source's, each with its latency to this publication (first = final:
    interims are not translated). It keeps the source's speaker label (``replace``)."""
    sources = [SourceCue(start=c.start, end=c.end, text=c.text) for c in cue.cues]
    records = placed(reflow(sources, texts, rules), floor, rules)
    words = tuple(
        replace(w, first_latency_s=latency, final_latency_s=latency)
        for w in cue.words
        for latency in [word_latency(cue, w, now)]
    )
    return replace(
        cue,
        cues=tuple(LiveCueLine(start=c.start, end=c.end, text=c.text) for c in records),
        words=words,
        published_at=now,
        language=language,
    )


def passed_on(state: StreamLanguages, cue: LiveCue, now: float) -> list[LiveCue]:
    """A silence, gap or end mark of the stream for each language still translated; the end
    for the stopped ones too, saying why they stopped if no gap has said it yet, so that every
    language's files are complete."""
    out = [replace(cue, language=language, published_at=now) for language in state.live()]
    if cue.kind is LiveKind.END:
        for language, why in state.failed.items():
            told = language in state.shown
            reason = cue.reason if told else f"translation into {language} failed: {why}"
            out.append(replace(cue, language=language, published_at=now, reason=reason))
    return out


def failed_gap(cue: LiveCue, language: str, reason: str, now: float) -> LiveCue:
    """A final that could not be translated, as a GAP in that language saying why."""
    return replace(
        cue,
        kind=LiveKind.GAP,
        cues=(),
        words=(),
        gap_s=max(0.0, cue.end - cue.start),
        reason=f"translation into {language} failed: {reason}",
        published_at=now,
        language=language,
        speaker="",  # a gap has no voice
    )


def _ms(seconds: float) -> float:
    return round(seconds, 3)
