"""Live ingest: reads a live source (or a file, optionally paced at playback speed) with PyAV and
yields 16 kHz mono int16 audio in fixed-length chunks on the stream's own media timeline, then
one ``End`` saying why the stream ended.

Timeline. Media time starts at 0 with the first sample and advances by the audio's duration. When
a network source drops (a read error, no data for ``read_timeout_s``, or the end of a source that
is not finite), ingest flushes the partial chunk at once, reconnects with exponential backoff, and
the wall time lost becomes ``gap_before`` of the next chunk (media time jumps by it), so captions
keep their wall-clock alignment. Two refinements use the source's timestamps: audio an HLS/DASH
source sends again after a reconnect (FFmpeg restarts a live playlist three segments back) is
dropped, so nothing is delivered twice; and a jump forward of 0.3-60 s within one connection
(lost packets, an outage shorter than ``read_timeout_s``) is a gap too. Every chunk holds
exactly ``chunk_s`` of audio except the last one before a gap or the end. A file, a source of
known duration, or an HLS playlist that carries ``#EXT-X-ENDLIST`` ends the stream ("source
ended"). ``idle_timeout_s`` without any data, across reconnect attempts, ends it too ("no data
for N s ..."). A source FFmpeg cannot use at all (unknown protocol, malformed URL, missing file,
not media, HTTP 4xx on the first attempt, no audio stream) ends it at once, with the reason.

Interruptibility. FFmpeg reads on a daemon thread of its own; the generator waits for it in steps
of ``POLL_S`` (0.1 s) and checks ``stop`` between them, so ``stop`` ends the stream within about
0.1 s (realtime pacing waits in the same steps). The reader thread is bounded by PyAV's interrupt
callback: an open gives up after ``connect_timeout_s``, a packet read after ``read_timeout_s``
(FFmpeg checks the callback about every 100 ms while blocked), so after ``stop`` the thread
closes the source at its next packet, or after ``read_timeout_s`` (``connect_timeout_s`` while
opening) at most; it is a daemon thread, so it never keeps a process alive. A short per-read
interrupt would stop it sooner but would cut HLS segment downloads (the demuxer skips a segment
it fails to read), so the read timeout stays the caller's. For the same reason ``read_timeout_s``
must exceed an HLS source's segment duration (the demuxer waits that long for a new segment).

Protocols of the FFmpeg bundled with PyAV 18.1 (FFmpeg 8, libavformat 62.12), input side, from
libavformat's ``avio_enum_protocols`` (PyAV has no ``protocols_available``): udp, udplite, rtp,
srtp, tcp, tls, dtls, unix, http, https, httpproxy, rtmp, rtmps, rtmpt, rtmpts, ffrtmphttp, mmsh,
mmst, ftp, gopher(s), ipfs, ipns, file, pipe, fd, data, async, cache, concat(f), crypto,
subfile. Demuxers (``av.formats_available``) include mpegts, hls, dash, rtsp, rtp, sdp, flv,
live_flv, matroska/webm, mov/mp4, aac, mp3 and wav; RTSP is a demuxer (``rtsp://`` URLs work).
SRT (``srt://``) is NOT available: the wheel is built without libsrt, so an ``srt://`` source
ends at once with "Protocol not found" (``"srt"`` in ``av.formats_available`` is the SubRip
subtitle format, not the protocol).

FFmpeg options. URLs get ``rw_timeout`` (protocol-neutral: no byte for that long fails the read);
UDP also ``timeout`` and ``overrun_nonfatal`` (a burst that overruns the receive buffer loses
packets, not the stream). Nothing else: on 127.0.0.1 with MP2 in MPEG-TS the first 0.5 s chunk
is yielded 0.48 s after the sender's first packet left, the same with ``fflags=nobuffer``
(0.50 s; it also drops the packets read while probing), ``analyzeduration=100000`` or
``probesize=2048``. Once open, each demuxed packet is decoded and handed on at once: the last
sample of a chunk is yielded about 1 ms after the packet carrying it left the sender.
"""

from __future__ import annotations

import queue
import threading
import time
import urllib.request
from collections.abc import Generator, Iterator
from dataclasses import dataclass, replace
from urllib.parse import urljoin, urlsplit

import av
import av.container

from streams.events.audio import SAMPLE_RATE

BYTES_PER_SAMPLE = 2  # int16
POLL_S = 0.1  # how often a waiting generator or reader looks at its stop flag
QUEUE_ITEMS = 256  # decoded pieces the reader may run ahead of the consumer (a few seconds)
HLS_CHECK_TIMEOUT_S = 3.0
MAX_REPLAY_S = 60.0  # a reconnected source may resend at most this much (HLS: 3 segments)
# Demuxers that start a live stream some way back (HLS: three segments before the end), so a
# reconnect resends audio we have; push sources (UDP, RTP, RTMP) never do.
REPEATING_FORMATS = {"hls", "dash"}
MIN_JUMP_S = 0.3  # a timestamp jump forward of more than this is audio the source skipped
# Schemes whose URL must name a port to be usable for receiving.
PORT_SCHEMES = {"udp", "udplite", "rtp", "srtp", "tcp"}


@dataclass(frozen=True)
class IngestOptions:
    chunk_s: float = 0.5  # audio per chunk; every chunk has exactly this, except before a gap/end
    realtime: bool = False  # pace at playback speed: no chunk before its media time has passed
    connect_timeout_s: float = 10.0  # an open (connect and probe) that takes longer fails
    read_timeout_s: float = 10.0  # no data for this long: the source dropped
    reconnect: bool = True
    reconnect_first_s: float = 0.5  # backoff: first wait, doubled after each failed attempt
    reconnect_max_s: float = 5.0
    idle_timeout_s: float = 30.0  # no data at all for this long, across reconnects: the end
    max_duration_s: float | None = None  # end after this much media


@dataclass(frozen=True)
class Chunk:
    seq: int
    media_time: float  # media seconds of the first sample, on the stream's timeline
    duration: float
    pcm: bytes  # 16 kHz mono little-endian int16
    capture_time: float  # time.time() when its last sample was read (or was due, realtime)
    source_offset: float  # source presentation time of media time 0 (this connection)
    gap_before: float  # media seconds lost just before this chunk (source dropped or skipped)
    gap_reason: str  # why, when the source was lost or skipped just before this chunk


@dataclass(frozen=True)
class End:
    seq: int
    media_time: float  # media seconds where the stream's audio ends
    reason: str


# What the reader thread tells the generator.
@dataclass(frozen=True)
class _Audio:
    pcm: bytes
    read_at: float  # time.time() when it was decoded
    source_time: float | None  # source presentation time of its first sample, if known
    may_repeat: bool = False  # from a source that resends recent audio when reconnected

    @property
    def duration(self) -> float:
        return len(self.pcm) / BYTES_PER_SAMPLE / SAMPLE_RATE


@dataclass(frozen=True)
class _Lost:
    error: str


@dataclass(frozen=True)
class _Skipped:
    seconds: float  # the source's timestamps jumped forward by this much


@dataclass(frozen=True)
class _Finished:
    reason: str


_Message = _Audio | _Lost | _Skipped | _Finished


class SourceUnusable(Exception):
    """A source that will not work however often we try: ends the stream at once."""


def is_url(source: str) -> bool:
    return "://" in source


def ffmpeg_options(source: str, options: IngestOptions) -> dict[str, str]:
    """FFmpeg options for reading ``source`` live (see the module docstring for why)."""
    if not is_url(source):
        return {}
    read_us = str(round(options.read_timeout_s * 1_000_000))
    settings = {"rw_timeout": read_us}
    if urlsplit(source).scheme.lower() in ("udp", "udplite"):
        settings |= {"timeout": read_us, "overrun_nonfatal": "1"}
    return settings


def check_source(source: str) -> None:
    """Raises SourceUnusable for a URL that is malformed in a way FFmpeg would not report
    clearly (it would listen on a random port, or wait for the open to time out)."""
    if not is_url(source):
        return
    parts = urlsplit(source)
    scheme = parts.scheme.lower()
    try:
        port = parts.port
    except ValueError as exc:
        raise SourceUnusable(f"malformed URL {source}: {exc}") from exc
    if scheme in PORT_SCHEMES and port is None:
        raise SourceUnusable(f"malformed URL {source}: {scheme} needs a port")


def fatal_open_error(error: av.error.FFmpegError) -> bool:
    """Errors that retrying cannot fix: the source is wrong, not away."""
    return isinstance(
        error,
        av.error.ProtocolNotFoundError
        | av.error.DemuxerNotFoundError
        | av.error.FileNotFoundError
        | av.error.IsADirectoryError
        | av.error.PermissionError
        | av.error.InvalidDataError
        | av.error.HTTPClientError
        | av.error.OptionNotFoundError,
    )


def describe(error: BaseException, waited_s: float) -> str:
    """The error in a reason; ``waited_s``: the timeout of the operation that failed."""
    if isinstance(error, av.error.ExitError | av.error.TimeoutError):
        return f"no data for {waited_s:.3g} s"
    if isinstance(error, av.error.ProtocolNotFoundError):
        return "protocol not found (this FFmpeg build cannot read it)"
    if isinstance(error, av.error.FFmpegError) and error.strerror:
        return str(error.strerror)
    return str(error) or type(error).__name__


def hls_playlist_ended(url: str) -> bool:
    """Whether the HLS playlist at ``url`` (or the first variant of a master playlist) carries
    #EXT-X-ENDLIST: FFmpeg reports its end and a failed reload alike (end of file)."""
    for _ in range(2):  # the playlist itself, then at most one level of variants
        try:
            with urllib.request.urlopen(url, timeout=HLS_CHECK_TIMEOUT_S) as response:
                text = response.read().decode("utf-8", "replace")
        except (OSError, ValueError):
            return False
        if "#EXT-X-ENDLIST" in text:
            return True
        if "#EXT-X-STREAM-INF" not in text:
            return False
        lines = text.splitlines()
        variants = [
            lines[i + 1].strip()
            for i, line in enumerate(lines[:-1])
            if line.startswith("#EXT-X-STREAM-INF")
        ]
        if not variants:
            return False
        url = urljoin(url, variants[0])
    return False


def source_finished(container: av.container.InputContainer, source: str) -> bool:
    """Whether the end of the data is the end of the stream (not a drop to reconnect after)."""
    if not is_url(source) or container.duration is not None:
        return True
    return container.format.name == "hls" and hls_playlist_ended(source)


class _Reader:
    """The reader thread: opens the source, decodes and resamples its first audio stream, and
    reconnects with backoff. Talks to the generator only through ``messages``."""

    def __init__(self, source: str, options: IngestOptions) -> None:
        self.source, self.options = source, options
        self.halt = threading.Event()
        self.messages: queue.Queue[_Message] = queue.Queue(maxsize=QUEUE_ITEMS)
        self.last_data = time.monotonic()
        self.received = False
        self.thread = threading.Thread(target=self._run, name=f"ingest {source}", daemon=True)

    def _put(self, message: _Message) -> bool:
        while not self.halt.is_set():
            try:
                self.messages.put(message, timeout=POLL_S)
                return True
            except queue.Full:
                continue
        return False

    def _run(self) -> None:
        try:
            reason = self._read()
        except Exception as exc:  # a bug or an error nobody foresaw still ends the stream
            reason = f"ingest failed: {type(exc).__name__}: {exc}"
        if reason is not None:
            self._put(_Finished(reason))

    def _read(self) -> str | None:
        """Reads until the stream ends (its reason) or the generator halts it (None)."""
        options, source = self.options, self.source
        try:
            check_source(source)
        except SourceUnusable as exc:
            return str(exc)
        delay, first, error = options.reconnect_first_s, True, ""
        while not self.halt.is_set():
            idle = time.monotonic() - self.last_data
            if idle >= options.idle_timeout_s:
                return self._no_data(error)
            try:
                timeout_s = min(options.connect_timeout_s, options.idle_timeout_s - idle)
                container = self._open(timeout_s)
            except av.error.FFmpegError as exc:
                error = f"cannot open {source}: {describe(exc, timeout_s)}"
                if (first and fatal_open_error(exc)) or not is_url(source) or not options.reconnect:
                    return error
                first = False
                self._back_off(delay)
                delay = min(delay * 2, options.reconnect_max_s)
                continue
            first = False
            with container:
                if not container.streams.audio:
                    return f"no audio stream in {source}"
                before = self.last_data
                outcome = self._pump(container)
            if outcome is None or isinstance(outcome, _Finished):
                return None if outcome is None else outcome.reason
            if not options.reconnect:
                return f"source lost: {outcome.error}"
            error = outcome.error
            if self.last_data != before:  # it brought data: the next drop starts the backoff over
                delay = options.reconnect_first_s
            if not self._put(outcome):
                return None
            self._back_off(delay)
            delay = min(delay * 2, options.reconnect_max_s)
        return None

    def _back_off(self, delay: float) -> None:
        """Waits ``delay`` before the next attempt, no longer than the idle timeout allows."""
        idle_left = self.options.idle_timeout_s - (time.monotonic() - self.last_data)
        self.halt.wait(max(0.0, min(delay, idle_left)))

    def _no_data(self, error: str) -> str:
        seconds = f"no data for {self.options.idle_timeout_s:g} s"
        if not error:
            return seconds
        return f"{seconds}: {error}" if not self.received else f"{seconds} (last: {error})"

    def _open(self, timeout_s: float) -> av.container.InputContainer:
        return av.open(
            self.source,
            mode="r",
            options=ffmpeg_options(self.source, self.options),
            timeout=(max(timeout_s, POLL_S), self.options.read_timeout_s),
        )

    def _pump(self, container: av.container.InputContainer) -> _Lost | _Finished | None:
        """Decodes one connection: None when halted, _Finished when the source ended (or a file
        broke), _Lost when a network source dropped."""
        stream = container.streams.audio[0]
        may_repeat = container.format.name in REPEATING_FORMATS
        resampler = new_resampler()
        source_time: float | None = None  # to send with the next piece: a new timeline anchor
        expected: float | None = None  # source time of the next sample, by the audio so far
        read_at = time.time()

        def send(frames: list[av.AudioFrame], flushing: bool = False) -> bool:
            """Hands the frames on; ``flushing``: the resampler's last samples, read when the
            last packet was (not now, when the source is found gone)."""
            nonlocal source_time, read_at
            for out in frames:
                pcm = out.to_ndarray().astype("<i2", copy=False).tobytes()
                if not pcm:
                    continue
                if not flushing:
                    self.last_data, self.received, read_at = time.monotonic(), True, time.time()
                audio, source_time = _Audio(pcm, read_at, source_time, may_repeat), None
                if not self._put(audio):
                    return False
            return True

        try:
            for packet in container.demux(stream):
                if self.halt.is_set():
                    return None
                try:
                    frames = packet.decode()
                except av.error.InvalidDataError:
                    continue  # a corrupt packet costs its few milliseconds, not the stream
                for frame in frames:
                    at = None if frame.time is None else float(frame.time)
                    if skipped := timestamp_jump(expected, at):
                        if not send(resampler.resample(None)) or not self._put(_Skipped(skipped)):
                            return None
                        resampler = new_resampler()
                    if at is not None and (expected is None or skipped):
                        source_time = at  # the first audio of a timeline anchors it
                    if at is not None:
                        expected = at
                    if expected is not None:
                        expected += frame.samples / frame.sample_rate
                    if not send(resampler.resample(frame)):
                        return None
        except av.error.FFmpegError as exc:
            send(resampler.resample(None), flushing=True)
            if not is_url(self.source):
                reason = describe(exc, self.options.read_timeout_s)
                return _Finished(f"cannot decode {self.source}: {reason}")
            return _Lost(describe(exc, self.options.read_timeout_s))
        if not send(resampler.resample(None), flushing=True):
            return None
        if source_finished(container, self.source):
            return _Finished("source ended")
        return _Lost("the source ended its stream")


def new_resampler() -> av.AudioResampler:
    return av.AudioResampler(format="s16", layout="mono", rate=SAMPLE_RATE)


def timestamp_jump(expected: float | None, actual: float | None) -> float:
    """Seconds of audio a source skipped (lost packets, a short outage), judged by timestamps:
    0 when there is no jump forward, or one so large that it is a new timeline."""
    if expected is None or actual is None:
        return 0.0
    jump = actual - expected
    return jump if MIN_JUMP_S < jump <= MAX_REPLAY_S else 0.0


class _Chunker:
    """Cuts decoded audio into chunks of exactly ``chunk_s`` on the stream's media timeline."""

    def __init__(self, chunk_s: float) -> None:
        self.chunk_bytes = max(1, round(chunk_s * SAMPLE_RATE)) * BYTES_PER_SAMPLE
        self.pending = bytearray()
        self.start = 0.0  # media time of pending's first sample
        self.seq = 0
        self.source_offset = 0.0
        self.source_known = False  # whether this connection's audio came with timestamps
        self.gap, self.gap_reason = 0.0, ""

    @property
    def end(self) -> float:
        """Media time after the last sample received."""
        return self.start + len(self.pending) / BYTES_PER_SAMPLE / SAMPLE_RATE

    def add(self, audio: _Audio) -> list[Chunk]:
        if audio.source_time is not None:
            self.source_offset = audio.source_time - self.end
            self.source_known = True
        self.pending += audio.pcm
        chunks = []
        while len(self.pending) >= self.chunk_bytes:
            chunks.append(self._cut(self.chunk_bytes, audio.read_at))
        return chunks

    def flush(self, read_at: float) -> Chunk | None:
        return self._cut(len(self.pending), read_at) if self.pending else None

    def skip(self, seconds: float, reason: str) -> None:
        """A gap of ``seconds`` (after a flush): the next chunk starts that much later."""
        self.start += seconds
        self.gap += seconds
        self.gap_reason = reason
        self.source_known = False

    def source_end(self) -> float | None:
        """The source's presentation time after the last sample received, where known."""
        return self.source_offset + self.end if self.source_known else None

    def _cut(self, size: int, read_at: float) -> Chunk:
        pcm = bytes(self.pending[:size])
        del self.pending[:size]
        duration = len(pcm) / BYTES_PER_SAMPLE / SAMPLE_RATE
        chunk = Chunk(
            self.seq, self.start, duration, pcm, read_at, self.source_offset, self.gap,
            self.gap_reason,
        )  # fmt: skip
        self.seq += 1
        self.start += duration
        self.gap, self.gap_reason = 0.0, ""
        return chunk


def capped(chunk: Chunk, media_end: float) -> Chunk | None:
    """The part of ``chunk`` before ``media_end`` (None if nothing is)."""
    samples = max(0, round((media_end - chunk.media_time) * SAMPLE_RATE))
    pcm = chunk.pcm[: samples * BYTES_PER_SAMPLE]
    if not pcm:
        return None
    return replace(chunk, pcm=pcm, duration=len(pcm) / BYTES_PER_SAMPLE / SAMPLE_RATE)


def replayed_s(source_end: float | None, resumed: _Audio) -> float:
    """How much of a reconnected source's first audio we already have. A source that keeps its
    timeline across the drop may send some again: FFmpeg restarts a live HLS playlist three
    segments before its end. A timeline that went back further (or forward), or a push source
    whose timestamps went back (a restarted encoder), is a new one."""
    if source_end is None or resumed.source_time is None or not resumed.may_repeat:
        return 0.0
    overlap = source_end - resumed.source_time
    return overlap if 0 < overlap <= MAX_REPLAY_S else 0.0


def without_replay(audio: _Audio, skip_bytes: int) -> _Audio:
    cut = min(skip_bytes, len(audio.pcm))
    source_time = audio.source_time
    if source_time is not None:
        source_time += cut / BYTES_PER_SAMPLE / SAMPLE_RATE
    return replace(audio, pcm=audio.pcm[cut:], source_time=source_time)


def gap_after_loss(last_read_at: float, resumed: _Audio) -> float:
    """Wall time lost between the last sample before a drop and the first one after it (which
    was produced about its duration before it was decoded, on a source read live)."""
    return max(0.0, resumed.read_at - resumed.duration - last_read_at)


def read_live(
    source: str, options: IngestOptions | None = None, stop: threading.Event | None = None
) -> Generator[Chunk | End, None, None]:
    """Lazily reads ``source`` (a URL FFmpeg reads, or a file) into ``Chunk``s and one final
    ``End``. Setting ``stop`` ends it within ~0.1 s: the audio held (in realtime mode, the part
    of it whose time has come) goes out, then End("stopped"). Closing the generator stops the
    reader too."""
    options = options or IngestOptions()
    reader = _Reader(source, options)
    reader.thread.start()
    try:
        yield from _stream(reader, options, stop or threading.Event())
    finally:
        reader.halt.set()
        reader.thread.join(timeout=POLL_S * 5)  # it may be blocked in FFmpeg: see the docstring


def _stream(
    reader: _Reader, options: IngestOptions, stop: threading.Event
) -> Iterator[Chunk | End]:
    chunker = _Chunker(options.chunk_s)
    limit = options.max_duration_s
    started: float | None = None  # wall time when media time 0 was read (realtime pacing)
    last_read_at = time.time()
    lost: str | None = None
    lost_source_end: float | None = None  # source time where the audio stopped at the drop
    replay_bytes = 0  # of the reconnected source's audio, already delivered before the drop

    def deliver(chunk: Chunk) -> Generator[Chunk | End, None, bool]:
        """Yields ``chunk`` once it is due (realtime), or the part of it before the maximum
        duration or a stop, followed by End; returns whether the stream ended."""
        reason, cut = None, chunk.media_time + chunk.duration
        if limit is not None and limit <= cut:
            reason, cut = f"reached the maximum duration ({limit:g} s)", limit
        if options.realtime and started is not None:
            due = started + cut
            while (wait := due - time.time()) > 0:
                if stop.wait(min(wait, POLL_S)):
                    reason, cut = "stopped", time.time() - started
                    break
            # its last sample counts as read when it was due (a stop: now), not when decoded
            chunk = replace(chunk, capture_time=max(chunk.capture_time, started + cut))
        if reason is None:
            yield chunk
            return False
        part = capped(chunk, cut)
        if part is None:
            yield End(chunk.seq, chunk.media_time, reason)
        else:
            yield part
            yield End(part.seq + 1, part.media_time + part.duration, reason)
        return True

    def finish(reason: str) -> Iterator[Chunk | End]:
        rest = chunker.flush(last_read_at)
        if rest is not None and (yield from deliver(rest)):
            return
        yield End(chunker.seq, chunker.end, reason)

    while True:
        if stop.is_set():
            yield from finish("stopped")
            return
        try:
            message = reader.messages.get(timeout=POLL_S)
        except queue.Empty:
            continue
        if isinstance(message, _Finished):
            yield from finish(message.reason)
            return
        if isinstance(message, _Lost):  # what we hold goes out now, not after the reconnect
            rest = chunker.flush(last_read_at)
            if rest is not None and (yield from deliver(rest)):
                return
            lost, lost_source_end = message.error, chunker.source_end()
            continue
        if isinstance(message, _Skipped):
            rest = chunker.flush(last_read_at)
            if rest is not None and (yield from deliver(rest)):
                return
            chunker.skip(message.seconds, f"source skipped {message.seconds:.1f} s of audio")
            continue
        if started is None:
            started = message.read_at
        if lost is not None:
            if replayed := replayed_s(lost_source_end, message):
                replay_bytes = round(replayed * SAMPLE_RATE) * BYTES_PER_SAMPLE
                chunker.gap_reason = f"source lost ({lost}); reconnected, {replayed:.1f} s resent"
            else:
                gap = gap_after_loss(last_read_at, message)
                chunker.skip(gap, f"source lost ({lost}); reconnected, {gap:.1f} s missing")
            lost = None
        if replay_bytes:
            cut = min(replay_bytes, len(message.pcm))
            replay_bytes -= cut
            message = without_replay(message, cut)
            if not message.pcm:
                continue
        last_read_at = message.read_at
        for chunk in chunker.add(message):
            if (yield from deliver(chunk)):
                return
        if limit is not None and chunker.end >= limit:  # no need to wait for a whole chunk
            rest = chunker.flush(last_read_at)
            if rest is not None:
                yield from deliver(rest)  # cut at the limit, then End
            return


__all__ = ["Chunk", "End", "IngestOptions", "read_live"]
