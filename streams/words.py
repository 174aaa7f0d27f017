"""Words as the live stages compare transcripts of the same speech: the ordering stage aligns
hypotheses with stable words, the transcription stage a call's words with the text said
before its phrase."""

from __future__ import annotations

from collections.abc import Sequence
from difflib import SequenceMatcher


def normalise(text: str) -> str:
    """A word as hypotheses are compared: lowercase, punctuation stripped."""
    return "".join(ch for ch in text.lower() if ch.isalnum())


def alignment(a: Sequence[str], b: Sequence[str]) -> dict[int, int]:
    """Index in `b` -> index in `a` of the words that difflib aligns."""
    matcher = SequenceMatcher(None, a, b, autojunk=False)
    return {j + k: i + k for i, j, size in matcher.get_matching_blocks() for k in range(size)}
