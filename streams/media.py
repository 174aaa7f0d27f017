"""Media decoding with PyAV: any container/codec FFmpeg reads, to 16 kHz mono int16 PCM."""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

SAMPLE_RATE = 16_000


class MediaError(ValueError):
    """Permanent bad input: the job fails with this message as its reason."""


@dataclass(frozen=True)
class DecodedAudio:
    pcm: np.ndarray  # int16 mono
    sample_rate: int
    offset: float  # media time (s) of the first sample

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate


def _check_local(source: str) -> None:
    if "://" in source:
        return  # a URL: FFmpeg reports problems itself
    path = Path(source)
    if not path.exists():
        raise MediaError(f"file not found: {source}")
    if not path.is_file():
        raise MediaError(f"not a file: {source}")
    if path.stat().st_size == 0:
        raise MediaError(f"file is empty: {source}")


def _open(source: str) -> av.container.InputContainer:
    _check_local(source)
    try:
        return av.open(source, mode="r", timeout=30.0)
    except av.error.FFmpegError as exc:
        raise MediaError(f"not a media file FFmpeg can read: {source} ({exc.strerror})") from exc


def audio_stream(container: av.container.InputContainer) -> av.audio.stream.AudioStream:
    """FFmpeg's own choice (av_find_best_stream): the default or most suitable audio track."""
    stream = container.streams.best("audio")
    if not isinstance(stream, av.audio.stream.AudioStream):
        raise MediaError(f"no audio track in {container.name}")
    return stream


def iter_pcm(
    container: av.container.InputContainer, sample_rate: int = SAMPLE_RATE
) -> Iterator[np.ndarray]:
    """Lazily decodes the chosen audio stream to int16 mono chunks at ``sample_rate``."""
    stream = audio_stream(container)
    resampler = av.AudioResampler(format="s16", layout="mono", rate=sample_rate)
    for packet in container.demux(stream):
        try:
            frames = packet.decode()
        except av.error.InvalidDataError:
            continue  # a corrupt packet costs its few milliseconds, not the job
        for frame in frames:
            for out in resampler.resample(frame):
                yield out.to_ndarray().reshape(-1)
    for out in resampler.resample(None):
        yield out.to_ndarray().reshape(-1)


def start_offset(container: av.container.InputContainer) -> float:
    """Where the audio starts on the player's clock (relative to the container start)."""
    stream = audio_stream(container)
    if stream.start_time is None or stream.time_base is None:
        return 0.0
    stream_start = float(stream.start_time * stream.time_base)
    container_start = (container.start_time or 0) / av.time_base
    return max(0.0, stream_start - container_start)


def decode_audio(source: str, sample_rate: int = SAMPLE_RATE) -> DecodedAudio:
    """Decodes a media file or URL; raises MediaError for input kaption cannot use."""
    with _open(source) as container:
        try:
            chunks = list(iter_pcm(container, sample_rate))
        except av.error.FFmpegError as exc:
            raise MediaError(f"audio of {source} cannot be decoded: {exc.strerror}") from exc
        offset = start_offset(container)
    pcm = np.concatenate(chunks) if chunks else np.zeros(0, dtype=np.int16)
    return DecodedAudio(pcm.astype(np.int16, copy=False), sample_rate, offset)


def pcm_to_float(pcm: np.ndarray) -> np.ndarray:
    return pcm.astype(np.float32) / 32768.0


def pcm_from_bytes(data: bytes) -> np.ndarray:
    if len(data) % 2:
        raise ValueError(f"PCM payload has an odd length ({len(data)} bytes)")
    return np.frombuffer(data, dtype="<i2")
