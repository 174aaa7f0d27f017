"""The broadcast cue rules (line length, line count, reading speed, durations, gaps): the
platform's, because every stage that writes cues applies them: the cue stage building cues from
words, the live lane, and the translate stage laying translations out in the source's times."""

from __future__ import annotations

from dataclasses import dataclass

# Broadcast style for two speakers: a dash leads the line of each speaker of a two-line dialogue
# cue (the file lane's cue stage), and in SRT, which has no voice markup, the first line of a
# live cue whose speaker is not the previous cue's (agents/subtitles/render.py).
DIALOGUE_DASH = "- "


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


def extended_end(
    start: float, end: float, n_chars: int, next_start: float, rules: CueRules
) -> float:
    """Lengthen a cue to min_duration and to its reading time, as far as the next cue allows."""
    wanted = start + max(rules.min_duration, n_chars / rules.max_chars_per_second)
    if wanted <= end:
        return end
    return max(end, min(wanted, extension_limit(start, next_start, rules)))
