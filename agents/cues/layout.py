"""Line layout for subtitle cues: wrapping word texts into lines, and measuring them.

Wraps a cue's words on word boundaries into at most `max_lines` lines of at most
`max_line_chars` characters, balancing the lines, and counts characters the way reading speed is
measured. Works on plain strings; timing is the business of `agents.cues.build`.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence

from agents.cues.model import CueRules


def wrap(texts: Sequence[str], width: int) -> list[str] | None:
    """Greedy wrap on word boundaries; None when a single word is wider than `width`."""
    lines: list[str] = []
    for text in texts:
        if len(text) > width:
            return None
        if lines and len(lines[-1]) + 1 + len(text) <= width:
            lines[-1] += " " + text
        else:
            lines.append(text)
    return lines


def layout(texts: Sequence[str], rules: CueRules) -> tuple[str, ...] | None:
    """Lines for a cue, or None if the words do not fit in max_lines lines.

    Uses as few lines as possible, then the narrowest width that keeps that line count, which
    balances the lines (a long top line over a one-word bottom line reads badly).
    """
    lines = wrap(texts, rules.max_line_chars)
    if lines is None or len(lines) > rules.max_lines:
        return None
    if len(lines) == 1:
        return tuple(lines)
    for width in range(max(len(t) for t in texts), rules.max_line_chars):
        narrow = wrap(texts, width)
        if narrow is not None and len(narrow) <= len(lines):
            return tuple(narrow)
    return tuple(lines)


def chars(lines: Iterable[str]) -> int:
    """Reading-speed character count: every character, line breaks counted as one space."""
    return len(" ".join(lines))
