"""Audio as it travels in events: 16 kHz mono signed 16-bit little-endian PCM."""

from __future__ import annotations

import numpy as np

SAMPLE_RATE = 16_000


def pcm_to_bytes(pcm: np.ndarray) -> bytes:
    return pcm.astype("<i2").tobytes()


class CorruptAudioError(ValueError):
    """Audio bytes that are no 16-bit PCM: permanent, trying again gives the same."""


def pcm_from_bytes(data: bytes) -> np.ndarray:
    if len(data) % 2:
        raise CorruptAudioError(f"PCM payload has an odd length ({len(data)} bytes)")
    return np.frombuffer(data, dtype="<i2")


def pcm_to_float(pcm: np.ndarray) -> np.ndarray:
    """The float32 samples in [-1, 1) that Silero and Whisper take."""
    return pcm.astype(np.float32) / 32768.0
