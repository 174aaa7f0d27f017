"""Translated text laid out as cues: a translation keeps its source cue's timing, its lines are
wrapped to the cue rules' width, and a translation longer than a cue's lines becomes several
cues sharing the source cue's time by their length (a translation is often longer than its
source: Spanish runs about a fifth longer than English)."""

from __future__ import annotations

import textwrap
from collections.abc import Sequence

from streams.events.model import CueRecord, SourceCue

MAX_LINE_CHARS = 42
MAX_LINES = 2


def reflow(
    sources: Sequence[SourceCue],
    texts: Sequence[str],
    width: int = MAX_LINE_CHARS,
    lines: int = MAX_LINES,
) -> list[CueRecord]:
    """One or more cues per source cue, in order; a cue whose translation is blank is left
    out (nothing to show)."""
    cues: list[CueRecord] = []
    for source, text in zip(sources, texts, strict=True):
        wrapped = textwrap.wrap(" ".join(text.split()), width=width, break_long_words=False)
        groups = [wrapped[i : i + lines] for i in range(0, len(wrapped), lines)]
        total = sum(len(line) for group in groups for line in group)
        start = source.start
        for index, group in enumerate(groups):
            share = sum(len(line) for line in group) / total
            end = (
                source.end
                if index == len(groups) - 1
                else start + share * (source.end - source.start)
            )
            cues.append(CueRecord(start=start, end=end, text="\n".join(group)))
            start = end
    return cues
