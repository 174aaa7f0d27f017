"""Validation of subtitle cues against the broadcast rules.

`check_cues` returns human-readable rule violations (blank text, too many or too long lines,
durations out of range, overlaps, unsorted cues, reading speed) for any list of cues, whether
built by `agents.cues.build` or read back from a subtitle file; an empty list means the cues
are fine. Times are compared with a millisecond tolerance because SRT/VTT round them.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

from agents.cues.layout import chars
from agents.cues.model import DEFAULT_RULES, Cue, CueRules, extension_limit

# Tolerance for comparisons in check_cues: SRT/VTT round times to whole milliseconds.
_EPS = 1e-3


def check_cues(cues: Sequence[Cue], rules: CueRules = DEFAULT_RULES) -> list[str]:
    """Human-readable rule violations; an empty list means the cues are fine.

    Short or fast cues are only reported when they could have been extended, i.e. they end
    before both start + max_duration and the next cue's start - min_gap.
    """
    problems: list[str] = []
    for i, cue in enumerate(cues):
        following = cues[i + 1] if i + 1 < len(cues) else None
        problems.extend(
            f"cue {i} ({cue.start:.3f}-{cue.end:.3f}): {p}"
            for p in _cue_problems(cue, following, rules)
        )
        if following is not None and following.start < cue.start - _EPS:
            problems.append(f"cue {i + 1} starts before cue {i}: cues are not sorted")
    return problems


def _cue_problems(cue: Cue, following: Cue | None, rules: CueRules) -> list[str]:
    return [
        *_text_problems(cue, rules),
        *_duration_problems(cue, following, rules),
    ]


def _text_problems(cue: Cue, rules: CueRules) -> list[str]:
    problems: list[str] = []
    if not any(line.strip() for line in cue.lines):
        problems.append("no text")
    if len(cue.lines) > rules.max_lines:
        problems.append(f"{len(cue.lines)} lines, max {rules.max_lines}")
    problems.extend(
        f"line {n} is {len(line)} chars, max {rules.max_line_chars}"
        for n, line in enumerate(cue.lines, 1)
        if len(line) > rules.max_line_chars
    )
    return problems


def _duration_problems(cue: Cue, following: Cue | None, rules: CueRules) -> list[str]:
    duration = cue.end - cue.start
    if duration < -_EPS:
        return ["ends before it starts"]
    problems: list[str] = []
    if duration > rules.max_duration + _EPS:
        problems.append(f"duration {duration:.3f}s above max {rules.max_duration}s")
    if following is not None and cue.end > following.start + _EPS:
        problems.append(f"overlaps the next cue, which starts at {following.start:.3f}")
    next_start = following.start if following is not None else math.inf
    if cue.end >= extension_limit(cue.start, next_start, rules) - _EPS:
        return problems  # no room to extend: shortness and speed are unavoidable
    if duration + _EPS < rules.min_duration:
        problems.append(f"duration {duration:.3f}s below min {rules.min_duration}s")
    reading_time = chars(cue.lines) / rules.max_chars_per_second
    if duration + _EPS < reading_time:
        speed = chars(cue.lines) / duration if duration > 0 else math.inf
        problems.append(f"reading speed {speed:.1f} chars/s above {rules.max_chars_per_second}")
    return problems
