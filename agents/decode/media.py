"""Media decoding with PyAV: any container or codec FFmpeg reads, to 16 kHz mono int16 PCM in
windows cut at quiet points."""

from __future__ import annotations

import math
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path

import av
import numpy as np

from streams.audio import SAMPLE_RATE


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


@dataclass(frozen=True)
class AudioWindow:
    """A stretch of a job's audio; windows are contiguous and cut where it is quietest."""

    index: int
    pcm: np.ndarray  # int16 mono
    offset: float  # media time (s) of the first sample
    last: bool


def quietest_cut(pcm: np.ndarray, sample_rate: int, low_s: float, high_s: float) -> int:
    """Sample index in the middle of the quietest 100 ms between ``low_s`` and ``high_s``."""
    frame = sample_rate // 10
    first, stop = int(low_s * sample_rate), min(len(pcm), int(high_s * sample_rate))
    frames = (stop - first) // frame
    if frames < 1:
        return min(len(pcm), int(high_s * sample_rate))
    region = pcm[first : first + frames * frame].astype(np.float32).reshape(frames, frame)
    quietest = int(np.argmin(np.sqrt(np.mean(region**2, axis=1))))
    return first + quietest * frame + frame // 2


def windows(
    chunks: Iterable[np.ndarray], sample_rate: int, offset: float, window_s: float, search_s: float
) -> Iterator[AudioWindow]:
    """Groups decoded chunks into windows of about ``window_s`` seconds, each cut at the
    quietest point within ``search_s`` of the mark so speech is rarely split. Always yields at
    least one (possibly empty) window, the last one flagged."""
    pending: list[np.ndarray] = []
    pending_samples, index = 0, 0
    for chunk in chunks:
        pending.append(chunk)
        pending_samples += len(chunk)
        if pending_samples >= (window_s + search_s) * sample_rate:
            pcm = np.concatenate(pending)
            cut = quietest_cut(pcm, sample_rate, window_s - search_s, window_s + search_s)
            yield AudioWindow(index, pcm[:cut], offset, last=False)
            offset, index = offset + cut / sample_rate, index + 1
            pending, pending_samples = [pcm[cut:]], len(pcm) - cut
    rest = np.concatenate(pending) if pending else np.zeros(0, dtype=np.int16)
    yield AudioWindow(index, rest, offset, last=True)


def decode_windows(
    source: str, window_s: float, search_s: float = 5.0, sample_rate: int = SAMPLE_RATE
) -> Iterator[AudioWindow]:
    """Lazily decodes a media file or URL into windows (so long media never sits in one event,
    and speech detection can start before decoding ends). Raises MediaError for input kaption
    cannot use: before the first window for unreadable input, later for a broken stream."""
    with _open(source) as container:
        offset = start_offset(container)  # also checks for an audio track
        try:
            yield from windows(
                iter_pcm(container, sample_rate), sample_rate, offset, window_s, search_s
            )
        except av.error.FFmpegError as exc:
            raise MediaError(f"audio of {source} cannot be decoded: {exc.strerror}") from exc


def decode_audio(source: str, sample_rate: int = SAMPLE_RATE) -> DecodedAudio:
    """The whole audio at once (one unbounded window)."""
    window = next(decode_windows(source, math.inf, sample_rate=sample_rate))
    return DecodedAudio(window.pcm.astype(np.int16, copy=False), sample_rate, window.offset)
