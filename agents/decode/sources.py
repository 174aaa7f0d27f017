"""Network sources: connect and read timeouts, and what a timeout is called in a job's reason.

FFmpeg has one socket timeout for TCP (its ``timeout`` option sets connecting *and* each read;
without it connecting is capped at a fixed 5 s), and the option is named ``timeout`` in other
protocols too, with other meanings (RTMP: how long to listen). So the read timeout is FFmpeg's
protocol-neutral ``rw_timeout`` (no byte for that long ends the read, whatever the protocol),
and the connect timeout is a TCP connect of our own to the host FFmpeg will connect to, just
before FFmpeg does. PyAV's own ``timeout`` (an interrupt callback) bounds the whole opening
and each packet, which would cut off a source that is merely slow: for URLs it only enforces
the overall deadline while opening. Measured against servers on 127.0.0.1 that never accept,
accept and never answer, send headers and stop, stop mid-media, and trickle
(tests/unit/test_sources.py).
"""

from __future__ import annotations

import errno
import os
import socket
import urllib.request
from dataclasses import dataclass
from urllib.parse import urlsplit

import av

from agents.decode.errors import MediaError

# Schemes FFmpeg reaches over one TCP connection, with their default ports.
TCP_PORTS = {
    "http": 80,
    "https": 443,
    "rtmp": 1935,
    "rtmps": 443,
    "rtsp": 554,
    "ftp": 21,
    "tcp": None,
    "tls": None,
}


@dataclass(frozen=True)
class SourceLimits:
    """How long a source may take: to connect, between two reads that bring data, in all."""

    connect_timeout_s: float = 10.0
    read_timeout_s: float = 30.0
    deadline_s: float | None = None  # None: no limit on the whole decode


def is_url(source: str) -> bool:
    return "://" in source


def ffmpeg_options(limits: SourceLimits) -> dict[str, str]:
    """Options for opening a URL: a read with no data for ``read_timeout_s`` fails (ETIMEDOUT);
    a source that keeps sending, however slowly, is never cut by it."""
    return {"rw_timeout": str(round(limits.read_timeout_s * 1_000_000))}


def read_timed_out(url: str, limits: SourceLimits) -> MediaError:
    return MediaError(f"timed out after {limits.read_timeout_s:g} s reading URL {url}")


def stalled(error: av.error.FFmpegError, waited_s: float, limits: SourceLimits) -> bool:
    """Whether a URL read that failed with ``error``, ``waited_s`` after it last brought data,
    ran into the read timeout. FFmpeg says ETIMEDOUT only where the stream cannot seek: over
    HTTP with ranges the timed-out read is "a premature end" (EIO), and a demuxer that was
    probing or seeking turns that into "invalid data". Those count as a timeout when the read
    had waited that long (a source that is merely slow brings data sooner)."""
    if isinstance(error, av.error.TimeoutError):
        return True
    lossy = isinstance(error, av.error.InvalidDataError | av.error.EOFError)
    return (lossy or error.errno == errno.EIO) and waited_s >= limits.read_timeout_s


def connect_address(url: str) -> tuple[str, int] | None:
    """Where FFmpeg opens its TCP connection for ``url`` (the HTTP proxy, if one applies), or
    None where it does not (other schemes, no host)."""
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in TCP_PORTS or not parts.hostname:
        return None
    port = parts.port or TCP_PORTS[scheme]
    if port is None:
        return None
    if scheme in ("http", "https"):  # FFmpeg's HTTP honours http_proxy (and no_proxy) for both
        proxy = os.environ.get("http_proxy", "")
        if proxy.startswith("http://") and not urllib.request.proxy_bypass(parts.hostname):
            proxied = urlsplit(proxy)
            if proxied.hostname:
                return proxied.hostname, proxied.port or 80
    return parts.hostname, port


def check_connect(url: str, limits: SourceLimits) -> None:
    """Connects to the source's host once, within ``connect_timeout_s``, so that a host that
    does not answer fails the job with a connect timeout (FFmpeg's own attempt that follows
    finds it answering). Name resolution is not bounded by it (getaddrinfo cannot be)."""
    address = connect_address(url)
    if address is None:
        return
    host, port = address
    seconds = limits.connect_timeout_s
    try:
        socket.create_connection((host, port), timeout=seconds).close()
    except TimeoutError as exc:
        raise MediaError(f"timed out after {seconds:g} s connecting to URL {url}") from exc
    except socket.gaierror as exc:
        raise MediaError(f"host {host} not found for URL {url} ({exc.strerror})") from exc
    except OSError as exc:  # refused, unreachable, reset
        reason = exc.strerror or type(exc).__name__
        raise MediaError(f"cannot connect to {host}:{port} for URL {url} ({reason})") from exc
