"""Silero speech probabilities for audio that arrives a piece at a time.

faster-whisper's Silero wrapper scores a whole recording in one call; a live stream comes in
chunks. The model scores 512-sample frames, each with the 64 samples before it as context and
an LSTM state carried from frame to frame: carrying the state, the context and the samples short
of a frame from one chunk to the next gives exactly the probabilities of the one-call version
(tests/unit/test_live_phrases.py). The state is 1 KB, so it travels in a Faust table.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from functools import cache
from typing import Any

import numpy as np
from faster_whisper.vad import SileroVADModel, get_vad_model

FRAME = 512  # samples per score: 32 ms at 16 kHz
CONTEXT = 64
STATE_SHAPE = (1, 1, 128)


@cache
def silero() -> SileroVADModel:
    """One ONNX session per process (one thread: it scores a chunk in a few milliseconds)."""
    return get_vad_model()


def _b64(array: np.ndarray) -> str:
    return base64.b64encode(array.astype(np.float32).tobytes()).decode()


def _array(text: str, shape: tuple[int, ...] | None = None) -> np.ndarray:
    array = np.frombuffer(base64.b64decode(text), dtype=np.float32).copy()
    return array.reshape(shape) if shape else array


@dataclass
class VadState:
    """What scoring the next samples needs from the ones before."""

    h: np.ndarray = field(default_factory=lambda: np.zeros(STATE_SHAPE, np.float32))
    c: np.ndarray = field(default_factory=lambda: np.zeros(STATE_SHAPE, np.float32))
    context: np.ndarray = field(default_factory=lambda: np.zeros(CONTEXT, np.float32))
    pending: np.ndarray = field(default_factory=lambda: np.zeros(0, np.float32))

    def to_dict(self) -> dict[str, Any]:
        return {
            "h": _b64(self.h),
            "c": _b64(self.c),
            "context": _b64(self.context),
            "pending": _b64(self.pending),
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> VadState:
        return cls(
            _array(data["h"], STATE_SHAPE),
            _array(data["c"], STATE_SHAPE),
            _array(data["context"]),
            _array(data["pending"]),
        )


def score(state: VadState, samples: np.ndarray) -> np.ndarray:
    """Speech probability of each whole frame now available (float32 samples in [-1, 1]);
    samples short of a frame wait in ``state.pending`` for the next call."""
    audio = np.concatenate([state.pending, samples.astype(np.float32)])
    whole = len(audio) // FRAME * FRAME
    state.pending = audio[whole:]
    if whole == 0:
        return np.zeros(0, np.float32)
    frames = audio[:whole].reshape(-1, FRAME)
    contexts = np.concatenate([state.context[None, :], frames[:-1, -CONTEXT:]], axis=0)
    batch = np.concatenate([contexts, frames], axis=1)
    out, state.h, state.c = silero().session.run(None, {"input": batch, "h": state.h, "c": state.c})
    state.context = frames[-1, -CONTEXT:].copy()
    return np.asarray(out, dtype=np.float32).reshape(-1)
