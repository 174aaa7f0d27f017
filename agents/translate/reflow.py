"""Translated text laid out as cues: a translation keeps its source cue's timing, its lines are
wrapped to the cue rules' width, and a translation longer than a cue's lines becomes several
cues sharing the source cue's time by their length (a translation is often longer than its
source: Spanish runs about a fifth longer than English). Then, as the cue stage does for the
transcript, each cue's end is extended for its reading time into the silence before the next
source cue: a longer translation needs longer on screen."""

from __future__ import annotations

import math
import textwrap
from collections.abc import Sequence

from streams.cue_rules import DEFAULT_RULES, CueRules, extended_end
from streams.events.model import CueRecord, SourceCue


def reflow(
    sources: Sequence[SourceCue],
    texts: Sequence[str],
    rules: CueRules = DEFAULT_RULES,
) -> list[CueRecord]:
    """One or more cues per source cue, in order; a cue whose translation is blank is left
    out (nothing to show)."""
    parts: list[list[CueRecord]] = []
    for source, text in zip(sources, texts, strict=True):
        parts.append(_split(source, text, rules))
    cues: list[CueRecord] = []
    for index, group in enumerate(parts):
        # Only the last part of a source cue may extend, up to the next source cue's start.
        following = (p[0].start for p in parts[index + 1 :] if p)
        next_start = next(following, math.inf)
        for cue in group[:-1]:
            cues.append(cue)
        if group:
            last = group[-1]
            end = extended_end(last.start, last.end, len(last.text), next_start, rules)
            cues.append(CueRecord(start=last.start, end=end, text=last.text))
    return cues


def _split(source: SourceCue, text: str, rules: CueRules) -> list[CueRecord]:
    """The translation of one source cue as cues of at most max_lines lines, sharing the
    source cue's time by length."""
    words = " ".join(text.split())
    wrapped = textwrap.wrap(words, width=rules.max_line_chars, break_long_words=False)
    lines = rules.max_lines
    groups = [wrapped[i : i + lines] for i in range(0, len(wrapped), lines)]
    total = sum(len(line) for group in groups for line in group)
    cues: list[CueRecord] = []
    start = source.start
    for index, group in enumerate(groups):
        share = sum(len(line) for line in group) / total
        last = index == len(groups) - 1
        end = source.end if last else start + share * (source.end - source.start)
        cues.append(CueRecord(start=start, end=end, text="\n".join(group)))
        start = end
    return cues
