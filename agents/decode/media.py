"""Media decoding with PyAV: any container or codec FFmpeg reads, to 16 kHz mono int16 PCM in
windows cut at quiet points."""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

import av
import numpy as np

from agents.decode.errors import MediaError as MediaError  # re-exported: the stage's error
from agents.decode.sources import (
    SourceLimits,
    check_connect,
    ffmpeg_options,
    is_url,
    read_timed_out,
    redirect_of,
    stalled,
)
from streams.events.audio import SAMPLE_RATE
from streams.sources import SourcePolicy, check_source

DEFAULT_LIMITS = SourceLimits()
# The safe default: URLs only to public addresses over HTTP(S); paths anywhere (no media root).
STRICT = SourcePolicy()
# FFmpeg's own limit, which kaption applies now that it follows redirects itself.
MAX_REDIRECTS = 8
# Local files: PyAV's interrupt callback gives up on an open or a packet read after this long.
LOCAL_TIMEOUT_S = 30.0


class Abandoned(Exception):
    """The caller stopped waiting for this decode (``should_stop``): nobody reads the result."""


@dataclass(frozen=True)
class DecodedAudio:
    pcm: np.ndarray  # int16 mono
    sample_rate: int
    offset: float  # media time (s) of the first sample

    @property
    def duration(self) -> float:
        return len(self.pcm) / self.sample_rate


def _check_local(source: str) -> None:
    path = Path(source)
    if not path.exists():
        raise MediaError(f"file not found: {source}")
    if not path.is_file():
        raise MediaError(f"not a file: {source}")
    if path.stat().st_size == 0:
        raise MediaError(f"file is empty: {source}")


@dataclass
class ReadClock:
    """When the source last brought something we saw (the open began, a chunk of audio)."""

    last: float = field(default_factory=time.monotonic)

    def tick(self) -> None:
        self.last = time.monotonic()

    def waited(self) -> float:
        return time.monotonic() - self.last


def not_media(source: str, error: av.error.FFmpegError) -> MediaError:
    return MediaError(f"not a media file FFmpeg can read: {source} ({error.strerror})")


def past_deadline(source: str, limits: SourceLimits) -> MediaError:
    return MediaError(f"still reading {source} after {limits.deadline_s:g} s: gave up")


def _open(source: str, limits: SourceLimits, policy: SourcePolicy) -> av.container.InputContainer:
    if is_url(source):
        return _open_url(source, limits, policy)
    _check_local(source)
    try:
        return av.open(source, mode="r", timeout=LOCAL_TIMEOUT_S)
    except av.error.FFmpegError as exc:
        raise not_media(source, exc) from exc


def _open_url(
    source: str, limits: SourceLimits, policy: SourcePolicy
) -> av.container.InputContainer:
    """Opens ``source`` (already checked), following its HTTP redirects one by one: each
    Location is checked like a new source before anything connects to it."""
    opened = ReadClock()
    url = source
    for _ in range(MAX_REDIRECTS + 1):
        check_connect(url, limits, policy.allow_private)
        clock = ReadClock()
        try:
            # The deadline bounds the opening too (PyAV's interrupt callback, opening only): a
            # source can trickle for hours before its header is complete.
            timeout = (limits.deadline_s, None)
            return av.open(url, mode="r", options=ffmpeg_options(limits), timeout=timeout)
        except av.error.FFmpegError as exc:
            if limits.deadline_s is not None and opened.waited() >= limits.deadline_s:
                raise past_deadline(source, limits) from exc
            if stalled(exc, clock.waited(), limits):
                raise read_timed_out(source, limits) from exc
            location = redirect_of(url, exc, limits)
            if location is None:
                raise not_media(source, exc) from exc
        url = check_source(location, policy)
    raise MediaError(f"more than {MAX_REDIRECTS} redirects from {source}")


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


def bounded(
    chunks: Iterable[np.ndarray],
    source: str,
    limits: SourceLimits,
    started: float,
    should_stop: Callable[[], bool],
    clock: ReadClock,
) -> Iterator[np.ndarray]:
    """``chunks`` until ``limits.deadline_s`` after ``started`` (MediaError) or until
    ``should_stop`` (Abandoned), checked between chunks: a read in progress is bounded by the
    read timeout instead. Each chunk ticks ``clock``."""
    for chunk in chunks:
        clock.tick()
        if should_stop():
            raise Abandoned(source)
        if limits.deadline_s is not None and time.monotonic() - started > limits.deadline_s:
            raise past_deadline(source, limits)
        yield chunk


def decode_windows(
    source: str,
    window_s: float,
    search_s: float = 5.0,
    sample_rate: int = SAMPLE_RATE,
    limits: SourceLimits = DEFAULT_LIMITS,
    should_stop: Callable[[], bool] = lambda: False,
    policy: SourcePolicy = STRICT,
) -> Iterator[AudioWindow]:
    """Lazily decodes a media file or URL into windows (so long media never sits in one event,
    and speech detection can start before decoding ends). Raises UnsafeSource, before opening
    anything, for a source ``policy`` refuses; MediaError for input kaption cannot use: before
    the first window for unreadable input, later for a broken stream, a URL that stops sending
    (``limits``) or a decode that passes ``limits.deadline_s``; Abandoned once ``should_stop``
    says the caller has gone."""
    started = time.monotonic()
    source = check_source(source, policy)  # a path comes back resolved under the media root
    with _open(source, limits, policy) as container:
        offset = start_offset(container)  # also checks for an audio track
        clock = ReadClock()
        pcm = bounded(iter_pcm(container, sample_rate), source, limits, started, should_stop, clock)
        try:
            for window in windows(pcm, sample_rate, offset, window_s, search_s):
                yield window
                clock.tick()  # however long the caller held the window, the source did not wait
        except av.error.FFmpegError as exc:
            if is_url(source) and stalled(exc, clock.waited(), limits):
                raise read_timed_out(source, limits) from exc
            raise MediaError(f"audio of {source} cannot be decoded: {exc.strerror}") from exc


def decode_audio(source: str, sample_rate: int = SAMPLE_RATE) -> DecodedAudio:
    """The whole audio at once (one unbounded window)."""
    window = next(decode_windows(source, math.inf, sample_rate=sample_rate))
    return DecodedAudio(window.pcm.astype(np.int16, copy=False), sample_rate, window.offset)
