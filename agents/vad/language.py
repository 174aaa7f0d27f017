"""A job's spoken language, found once from its first speech: speech detection sees a job's
audio first and in order (its windows share a partition), so every segment it sends can carry
the language, and transcription never guesses it segment by segment unless the job asks."""

from __future__ import annotations

from collections.abc import Sequence
from functools import cache

import numpy as np
from faster_whisper import WhisperModel

from streams.events.audio import SAMPLE_RATE, pcm_from_bytes, pcm_to_float
from streams.events.model import AudioReady, SpeechSegment
from streams.job_options import AUTO
from streams.models.catalog import load_catalog, model_path
from streams.settings import KaptionSettings

DETECT_S = 30  # Whisper decides from one 30-s window: the first 30 s of speech


@cache
def detection_model(path: str, device: str, compute_type: str) -> WhisperModel:
    """Loaded on the first job that asks for detection (most jobs name their language); one
    thread: detection is one encoder pass per job, beside speech detection's own work."""
    return WhisperModel(path, device=device, compute_type=compute_type, cpu_threads=1)


def asked_language(audio: AudioReady, settings: KaptionSettings) -> str:
    """The language the job asks for: its own, else the deployment's ("auto" means detect)."""
    return audio.language or settings.language


def first_speech(segments: Sequence[SpeechSegment], seconds: float = DETECT_S) -> np.ndarray:
    """The first ``seconds`` of speech of the segments, joined (silence between them cut)."""
    pieces: list[np.ndarray] = []
    left = int(seconds * SAMPLE_RATE)
    for segment in segments:
        if left <= 0:
            break
        samples = pcm_to_float(pcm_from_bytes(segment.pcm))[:left]
        pieces.append(samples)
        left -= len(samples)
    return np.concatenate(pieces) if pieces else np.zeros(0, dtype=np.float32)


def job_language(
    audio: AudioReady,
    segments: Sequence[SpeechSegment],
    known: str | None,
    settings: KaptionSettings,
) -> str:
    """The job's language: as asked, as found in an earlier window (``known``), "en" for an
    English-only model, or detected from this window's first speech ("" while a window has
    no speech yet)."""
    asked = asked_language(audio, settings)
    if asked != AUTO:
        return asked
    if known:
        return known
    spec = load_catalog(settings).get(audio.model)
    if not spec.multilingual:
        return "en"
    speech = first_speech(segments)
    if len(speech) == 0:
        return ""
    model = detection_model(
        str(model_path(spec)),
        spec.device or settings.whisper_device,
        spec.compute_type or settings.whisper_compute_type,
    )
    language, _probability, _ = model.detect_language(audio=speech)
    return language
