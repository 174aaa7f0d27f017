"""Live sources on 127.0.0.1 for tests and benchmarks: MPEG-TS over UDP paced at real time (with
pauses, to drop the source), and an HLS playlist served over HTTP that grows like a live one.
Both are real (PyAV encodes and muxes, http.server serves), run on threads of their own and stop
by themselves when their context exits."""

from __future__ import annotations

import math
import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from fractions import Fraction
from functools import partial
from http.server import SimpleHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

import av
import numpy as np

UDP_RATE = 48_000  # MP2's usual rate, and not the 16 kHz ingest resamples to
TS_PACKETS_PER_DATAGRAM = 7  # 7 x 188 = 1316 bytes, the usual MPEG-TS over UDP payload
EXTINF = re.compile(r"#EXTINF:([0-9.]+)")


def free_udp_port() -> int:
    """A UDP port on 127.0.0.1 that nothing is bound to (at the time of asking)."""
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def decode_mono(source_media: Path, rate: int) -> np.ndarray:
    """The media's first audio track as int16 mono at ``rate``."""
    resampler = av.AudioResampler(format="s16", layout="mono", rate=rate)
    parts = []
    with av.open(str(source_media)) as container:
        for frame in container.decode(audio=0):
            parts += [out.to_ndarray().reshape(-1) for out in resampler.resample(frame)]
    parts += [out.to_ndarray().reshape(-1) for out in resampler.resample(None)]
    return np.concatenate(parts).astype(np.int16)


def encode(stream: av.AudioStream, samples: np.ndarray, rate: int) -> list[av.Packet]:
    """Encodes int16 mono ``samples`` at ``rate`` with ``stream``'s encoder, timestamps counting
    samples from 0."""
    ctx = stream.codec_context
    source = av.AudioFrame.from_ndarray(samples[np.newaxis, :], format="s16", layout="mono")
    source.sample_rate = rate
    resampler = av.AudioResampler(
        format=ctx.format.name, layout="mono", rate=rate, frame_size=ctx.frame_size or 1024
    )
    packets: list[av.Packet] = []
    pts = 0
    for frame in [*resampler.resample(source), *resampler.resample(None)]:
        frame.pts, frame.time_base = pts, Fraction(1, rate)
        pts += frame.samples
        packets += stream.encode(frame)
    return packets + stream.encode(None)


@dataclass(frozen=True)
class Sent:
    """One packet on its way: its audio's end in the media (s) and when it left (time.time())."""

    media_end: float
    sent_at: float


class UdpSender:
    """Sends a media file's audio as MP2 in MPEG-TS to ``udp://127.0.0.1:PORT``, each packet once
    its audio has played (``realtime``, ``speed`` times as fast), the way a live encoder does;
    ``sent`` says when each left. ``pause(seconds)`` drops
    the audio of the next ``seconds`` (the encoder runs on, nothing is sent: a network outage).
    Stops at the media's end, after ``stop_after_s`` of media, or at ``stop()``."""

    def __init__(
        self,
        source_media: Path,
        port: int,
        realtime: bool = True,
        stop_after_s: float | None = None,
        speed: float = 1.0,
    ) -> None:
        self.source_media, self.port = source_media, port
        self.realtime, self.stop_after_s, self.speed = realtime, stop_after_s, speed
        self.sent: list[Sent] = []
        self.dropped: list[Sent] = []
        self.done = threading.Event()
        self._halt = threading.Event()
        self._pause_until = 0.0
        self._lock = threading.Lock()
        self._thread = threading.Thread(target=self._run, name=f"udp sender {port}", daemon=True)

    @property
    def url(self) -> str:
        """What a receiver opens."""
        return f"udp://127.0.0.1:{self.port}"

    def start(self) -> None:
        self._thread.start()

    def pause(self, seconds: float) -> None:
        with self._lock:
            self._pause_until = time.monotonic() + seconds

    def stop(self) -> None:
        self._halt.set()
        if self._thread.is_alive():
            self._thread.join(timeout=5)

    def _paused(self) -> bool:
        with self._lock:
            return time.monotonic() < self._pause_until

    def _run(self) -> None:
        try:
            self._send()
        finally:
            self.done.set()

    def _send(self) -> None:
        samples = decode_mono(self.source_media, UDP_RATE)
        url = f"udp://127.0.0.1:{self.port}?pkt_size={188 * TS_PACKETS_PER_DATAGRAM}"
        # flush_packets: every packet leaves at once rather than when 1316 bytes have gathered;
        # a small PES payload stops the muxer from holding ~0.4 s of audio per PES.
        options = {"pes_payload_size": "0", "flush_packets": "1"}
        with av.open(url, mode="w", format="mpegts", options=options) as output:
            stream = output.add_stream("mp2", rate=UDP_RATE, layout="mono")
            stream.bit_rate = 64_000
            packets = encode(stream, samples, UDP_RATE)
            started = time.monotonic()
            for packet in packets:
                if packet.pts is None or packet.time_base is None:
                    continue
                media_end = float((packet.pts + (packet.duration or 0)) * packet.time_base)
                if self.stop_after_s is not None and media_end > self.stop_after_s:
                    break
                due = started + media_end / self.speed
                if self.realtime and self._halt.wait(max(0.0, due - time.monotonic())):
                    break
                if self._halt.is_set():
                    break
                if self._paused():
                    self.dropped.append(Sent(media_end, time.time()))
                    continue
                output.mux(packet)
                self.sent.append(Sent(media_end, time.time()))


@contextmanager
def udp_mpegts(
    source_media: Path,
    port: int,
    realtime: bool = True,
    stop_after_s: float | None = None,
    start: bool = True,
    speed: float = 1.0,
) -> Iterator[UdpSender]:
    """A running ``UdpSender`` (``start=False``: call ``.start()`` once the receiver listens;
    datagrams sent before that are lost, as on a real network)."""
    sender = UdpSender(source_media, port, realtime, stop_after_s, speed)
    if start:
        sender.start()
    try:
        yield sender
    finally:
        sender.stop()


@dataclass(frozen=True)
class Segment:
    name: str
    start: float  # media seconds
    duration: float


def write_hls_segments(
    source_media: Path, directory: Path, segment_s: float, max_s: float | None = None
) -> list[Segment]:
    """Cuts the media's audio (AAC; the first ``max_s`` seconds) into MPEG-TS segments with
    FFmpeg's HLS muxer."""
    directory.mkdir(parents=True, exist_ok=True)
    samples = decode_mono(source_media, UDP_RATE)
    if max_s is not None:
        samples = samples[: round(max_s * UDP_RATE)]
    options = {
        "hls_time": f"{segment_s:g}",
        "hls_list_size": "0",
        "hls_segment_filename": str(directory / "segment%03d.ts"),
    }
    with av.open(str(directory / "full.m3u8"), mode="w", format="hls", options=options) as out:
        stream = out.add_stream("aac", rate=UDP_RATE, layout="mono")
        stream.bit_rate = 64_000
        for packet in encode(stream, samples, UDP_RATE):
            out.mux(packet)
    segments, start, duration = [], 0.0, 0.0
    for line in (directory / "full.m3u8").read_text().splitlines():
        if match := EXTINF.match(line):
            duration = float(match.group(1))
        elif line and not line.startswith("#"):
            segments.append(Segment(line.strip(), start, duration))
            start += duration
    return segments


def live_playlist(segments: list[Segment], visible: int) -> str:
    """An HLS media playlist of the first ``visible`` segments; ENDLIST once all are."""
    target = max(math.ceil(s.duration) for s in segments)
    lines = ["#EXTM3U", "#EXT-X-VERSION:3", f"#EXT-X-TARGETDURATION:{target}"]
    lines.append("#EXT-X-MEDIA-SEQUENCE:0")
    for segment in segments[:visible]:
        lines += [f"#EXTINF:{segment.duration:.3f},", segment.name]
    if visible >= len(segments):
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


class HlsHandler(SimpleHTTPRequestHandler):
    """Serves the segment files, and ``/live.m3u8`` as the playlist of the segments revealed so
    far: segment i once its start has passed since the server started (the first at once).
    During an outage every request gets 503."""

    server: HlsServer

    def do_GET(self) -> None:
        if self.server.out():
            self.send_error(503, "outage")
            return
        if self.path.split("?")[0] != "/live.m3u8":
            super().do_GET()
            return
        body = self.server.playlist().encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/vnd.apple.mpegurl")
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def log_message(self, format: str, *args: Any) -> None:
        pass  # quiet tests


class HlsServer(ThreadingHTTPServer):
    daemon_threads = True

    def __init__(self, directory: Path, segments: list[Segment], live: bool) -> None:
        super().__init__(("127.0.0.1", 0), partial(HlsHandler, directory=str(directory)))
        self.segments, self.live = segments, live
        self.started = time.monotonic()
        self.outage_until = 0.0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/live.m3u8"

    def pause(self, seconds: float) -> None:
        """Answers 503 for the next ``seconds`` (the live playlist keeps growing meanwhile)."""
        self.outage_until = time.monotonic() + seconds

    def out(self) -> bool:
        return time.monotonic() < self.outage_until

    def playlist(self) -> str:
        if not self.live:
            return live_playlist(self.segments, len(self.segments))
        elapsed = time.monotonic() - self.started
        visible = sum(1 for s in self.segments if s.start <= elapsed)
        return live_playlist(self.segments, max(1, visible))


@contextmanager
def hls_stream(
    source_media: Path,
    dir: Path,
    segment_s: float = 2.0,
    live: bool = True,
    max_s: float | None = None,
) -> Iterator[HlsServer]:
    """A running HlsServer of the media's audio (its first ``max_s`` s) on 127.0.0.1 (an
    ephemeral port): with ``live``, segments appear at real-time pace and ENDLIST comes with the
    last one. ``.url`` is the playlist, ``.pause(seconds)`` an outage."""
    segments = write_hls_segments(source_media, dir, segment_s, max_s)
    server = HlsServer(dir, segments, live)
    thread = threading.Thread(target=server.serve_forever, name="hls server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


@contextmanager
def hls_server(
    source_media: Path, dir: Path, segment_s: float = 2.0, live: bool = True
) -> Iterator[str]:
    """The playlist URL of ``hls_stream``."""
    with hls_stream(source_media, dir, segment_s, live) as server:
        yield server.url
