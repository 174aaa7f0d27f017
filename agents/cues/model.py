"""Data types and timing rules for subtitle cues built from faster-whisper word timestamps.

`Word` is one timed word as the recogniser gives it, `Cue` one subtitle on screen, and `CueRules`
the broadcast rules (line length, line count, reading speed, durations, gaps) that the other
modules of this package apply and check. Everything in the package is pure: no I/O, no model, no
Kafka. Times are absolute media seconds and are passed through untouched; only cue *ends* move
(extended into silence for reading time, or trimmed so that cues never overlap).
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True, slots=True)
class Word:
    text: str  # as faster-whisper gives it, usually with a leading space, e.g. " Hello,"
    start: float  # absolute media seconds
    end: float
    probability: float = 1.0
    speaker: str = ""  # "Speaker 1" when the job asked for labels; a change starts a new cue


@dataclass(frozen=True, slots=True)
class Cue:
    start: float
    end: float
    lines: tuple[str, ...]  # 1..max_lines lines
    # () unlabelled; one speaker for the whole cue; or one per line for a two-line dialogue
    # cue, whose lines then start with "- " (the broadcast convention).
    speakers: tuple[str, ...] = ()

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


@dataclass(frozen=True, slots=True)
class CueRules:
    max_line_chars: int = 42
    max_lines: int = 2
    max_chars_per_second: float = 17.0  # reading speed (broadcast practice, e.g. Netflix adult 17)
    min_duration: float = 0.833  # 5/6 s
    max_duration: float = 7.0
    min_gap: float = 0.083  # ~2 frames between cues
    max_pause: float = 1.0  # a silence longer than this between words starts a new cue
    gap_text: str = "[no transcription]"  # marker text for untranscribed spans

    def __post_init__(self) -> None:
        if self.max_line_chars < 1 or self.max_lines < 1:
            raise ValueError("max_line_chars and max_lines must be at least 1")
        if self.max_chars_per_second <= 0 or self.max_duration <= 0:
            raise ValueError("max_chars_per_second and max_duration must be positive")
        if not 0 <= self.min_duration <= self.max_duration:
            raise ValueError("min_duration must be between 0 and max_duration")
        if self.min_gap < 0 or self.max_pause < 0:
            raise ValueError("min_gap and max_pause must not be negative")
        if not self.gap_text.strip():
            raise ValueError("gap_text must not be blank")


# A module constant rather than a call in each signature (ruff B008); CueRules is immutable.
DEFAULT_RULES = CueRules()


def extension_limit(start: float, next_start: float, rules: CueRules) -> float:
    """The latest end the rules allow a cue starting at `start`, given the next cue's start.

    Shared by cue building (how far an end may be extended) and validation (whether a short or
    fast cue had room to be extended).
    """
    return min(start + rules.max_duration, next_start - rules.min_gap)
