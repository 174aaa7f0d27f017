"""Data types and timing rules for subtitle cues built from faster-whisper word timestamps.

`Word` is one timed word as the recogniser gives it, `Cue` one subtitle on screen, and `CueRules`
the broadcast rules (line length, line count, reading speed, durations, gaps; the platform's,
streams/cue_rules.py, since the translate stage applies them too) that the other modules of
this package apply and check. Everything in the package is pure: no I/O, no model, no
Kafka. Times are absolute media seconds and are passed through untouched; only cue *ends* move
(extended into silence for reading time, or trimmed so that cues never overlap).
"""

from __future__ import annotations

from dataclasses import dataclass

from streams.cue_rules import DEFAULT_RULES, CueRules, extension_limit

__all__ = ["DEFAULT_RULES", "Cue", "CueRules", "Word", "extension_limit"]


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # as faster-whisper gives it, usually with a leading space, e.g. " Hello,"
    start: float  # absolute media seconds
    end: float
    probability: float = 1.0
    speaker: str = ""  # "Speaker 1" when the job asked for labels; a change starts a new cue
    language: str = ""  # its segment's spoken language ("" the job's); a cue takes its majority


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]  # 1..max_lines lines
    # () unlabelled; one speaker for the whole cue; or one per line for a two-line dialogue
    # cue, whose lines then start with "- " (the broadcast convention).
    speakers: tuple[str, ...] = ()
    # The language of most of its words ("" the job's, and a gap marker's): what the translate
    # stage translates it from.
    language: str = ""

    @property
    def text(self) -> str:
        return "\n".join(self.lines)

    @property
    def speaker(self) -> str:
        """The speakers as event records carry them: newline-joined, like the text."""
        return "\n".join(self.speakers)

    @classmethod
    def from_text(cls, start: float, end: float, text: str, speaker: str = "") -> Cue:
        """A cue from newline-joined text, as event records carry it (the inverse of `text`)."""
        return cls(
            start, end, tuple(text.split("\n")), tuple(speaker.split("\n")) if speaker else ()
        )
