"""Word error rate, the one normaliser for tests and benchmarks."""

from __future__ import annotations

import re

import jiwer


def normalise(text: str) -> str:
    """Lowercase words without punctuation; a hyphen separates words."""
    text = re.sub(r"[^\w\s]", "", text.lower().replace("-", " "))
    return " ".join(text.split())


def word_error_rate(reference: str, hypothesis: str) -> float:
    return float(jiwer.wer(normalise(reference), normalise(hypothesis)))
