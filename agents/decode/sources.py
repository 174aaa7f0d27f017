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

Safety (streams/sources.py checks the source's name first): the connect probe also refuses a
peer address the source policy refuses, so a name that resolved to a public address for the
check and to a private one now (DNS rebinding) is caught here. FFmpeg follows no HTTP redirect
itself (``max_redirects`` 0): kaption reads the Location and checks it like a new source
(:func:`redirect_of`). What stays open: FFmpeg resolves the name once more after the probe (a
rebinding that fast is not seen), and URLs inside a playlist (HLS, DASH) are FFmpeg's to open.
"""

from __future__ import annotations

import errno
import os
import socket
import urllib.error
import urllib.request
from dataclasses import dataclass
from urllib.parse import urljoin, urlsplit

import av

from agents.decode.errors import MediaError
from streams.sources import UnsafeSource, refused_address

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
    a source that keeps sending, however slowly, is never cut by it. No redirect is followed
    by FFmpeg: :func:`redirect_of` checks where it leads first."""
    return {"rw_timeout": str(round(limits.read_timeout_s * 1_000_000)), "max_redirects": "0"}


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
    target = connect_target(url)
    return None if target is None else (target[0], target[1])


def connect_target(url: str) -> tuple[str, int, bool] | None:
    """:func:`connect_address`, and whether that is an HTTP proxy."""
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
                return proxied.hostname, proxied.port or 80, True
    return parts.hostname, port, False


def check_connect(url: str, limits: SourceLimits, allow_private: bool = False) -> None:
    """Connects to the source's host once, within ``connect_timeout_s``, so that a host that
    does not answer fails the job with a connect timeout (FFmpeg's own attempt that follows
    finds it answering). Name resolution is not bounded by it (getaddrinfo cannot be). Unless
    ``allow_private``, UnsafeSource when the host answered from an address the source policy
    refuses (an HTTP proxy is the operator's choice: its address is not judged)."""
    target = connect_target(url)
    if target is None:
        return
    host, port, proxied = target
    seconds = limits.connect_timeout_s
    try:
        with socket.create_connection((host, port), timeout=seconds) as probe:
            peer = str(probe.getpeername()[0])
    except TimeoutError as exc:
        raise MediaError(f"timed out after {seconds:g} s connecting to URL {url}") from exc
    except socket.gaierror as exc:
        raise MediaError(f"host {host} not found for URL {url} ({exc.strerror})") from exc
    except OSError as exc:  # refused, unreachable, reset
        reason = exc.strerror or type(exc).__name__
        raise MediaError(f"cannot connect to {host}:{port} for URL {url} ({reason})") from exc
    kind = None if allow_private or proxied else refused_address(peer)
    if kind is not None:
        raise UnsafeSource(
            f"{host!r} answered from {peer}, a {kind} address: refused "
            "(KAPTION_ALLOW_PRIVATE_SOURCES=1 allows such sources)"
        )


class _NoRedirect(urllib.request.HTTPRedirectHandler):
    def redirect_request(self, *args: object, **kwargs: object) -> None:
        return None  # urllib then raises HTTPError with the 3xx and its Location


def redirect_of(url: str, error: av.error.FFmpegError, limits: SourceLimits) -> str | None:
    """Where an HTTP(S) ``url`` redirects to (absolute), when FFmpeg's open failed with
    ``error`` because it follows no redirect (an I/O error); None for any other failure. One
    GET of our own, headers only, within the read timeout."""
    if error.errno != errno.EIO or urlsplit(url).scheme.lower() not in ("http", "https"):
        return None
    opener = urllib.request.build_opener(_NoRedirect)
    try:
        opener.open(url, timeout=limits.read_timeout_s).close()
    except urllib.error.HTTPError as reply:
        location = reply.headers.get("Location") if 300 <= reply.code < 400 else None
        reply.close()
        return urljoin(url, location) if location else None
    except (OSError, ValueError):
        return None
    return None
