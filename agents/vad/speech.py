"""Speech detection (Silero VAD, the ONNX model inside faster-whisper) and segment planning."""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
from faster_whisper.vad import VadOptions, get_speech_timestamps

from streams.events.audio import pcm_to_float


@dataclass(frozen=True, slots=True)
class Span:
    start: float  # seconds from the first sample
    end: float

    @property
    def length(self) -> float:
        return self.end - self.start


def detect_speech(pcm: np.ndarray, sample_rate: int, options: VadOptions) -> list[Span]:
    if len(pcm) == 0:
        return []
    found = get_speech_timestamps(pcm_to_float(pcm), options, sampling_rate=sample_rate)
    return [Span(c["start"] / sample_rate, c["end"] / sample_rate) for c in found]


def split_long(span: Span, max_len: float) -> list[Span]:
    """Cuts a span longer than max_len into equal parts (VAD normally avoids this)."""
    parts = max(1, math.ceil(span.length / max_len - 1e-9))
    step = span.length / parts
    return [Span(span.start + i * step, span.start + (i + 1) * step) for i in range(parts)]


def merge_spans(spans: Sequence[Span], max_len: float, max_gap: float) -> list[Span]:
    """Joins neighbouring speech spans into segments of at most ``max_len`` seconds.

    Whisper transcribes fewer, longer windows faster and with more context; a pause longer than
    ``max_gap`` still separates segments so long silences are not transcribed.
    """
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        for piece in split_long(span, max_len):
            last = merged[-1] if merged else None
            if (
                last is not None
                and piece.start - last.end <= max_gap
                and piece.end - last.start <= max_len
            ):
                merged[-1] = Span(last.start, max(last.end, piece.end))
            else:
                merged.append(piece)
    return merged


def cut(pcm: np.ndarray, sample_rate: int, span: Span) -> np.ndarray:
    return pcm[round(span.start * sample_rate) : round(span.end * sample_rate)]
