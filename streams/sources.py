"""Which job sources kaption opens. Any producer can publish a job, so the HTTP API (before it
accepts one) and the decode stage (before it opens one) make the same check:

- a local path must lie under the media root when one is set (``..`` and symlinks that lead
  out are refused, judged on the resolved path);
- a URL must use an allowed scheme, and every address its host resolves to must be a global
  one: loopback, private, link-local (cloud metadata at 169.254.169.254), shared, multicast and
  reserved addresses are refused unless explicitly allowed;
- ``stream:<id>`` names a live stream whose audio the live.audio topic keeps (a replay through
  the file lane): the id is a Kafka key, never a path, and only a plain one is accepted.
"""

from __future__ import annotations

import ipaddress
import re
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from streams.settings import KaptionSettings

Resolver = Callable[..., Sequence[tuple[Any, ...]]]
# FFmpeg reads "proto:rest" as a protocol (concat:, subfile:, pipe:, ...): never a plain path.
PROTOCOL_PREFIX = re.compile(r"^[A-Za-z][A-Za-z0-9+.-]*:")
STREAM_PREFIX = "stream:"
# The ids a replay accepts: no slash, no whitespace, no leading dot or dash (nothing a path,
# an option or a URL could be made of), at most 200 characters.
STREAM_ID = re.compile(r"[A-Za-z0-9][A-Za-z0-9._:-]{0,199}")


class UnsafeSource(ValueError):
    """A source kaption will not open; the message is the reason a user sees."""


@dataclass(frozen=True)
class SourcePolicy:
    media_root: Path | None = None
    schemes: frozenset[str] = frozenset({"http", "https"})
    allow_private: bool = False

    @classmethod
    def from_settings(cls, settings: KaptionSettings) -> SourcePolicy:
        schemes = {s.strip().lower() for s in settings.source_schemes.split(",") if s.strip()}
        return cls(settings.media_root, frozenset(schemes), settings.allow_private_sources)


def is_url(source: str) -> bool:
    return "://" in source


def stream_source(stream_id: str) -> str:
    """The job source that replays stream ``stream_id`` from the live.audio topic."""
    if not STREAM_ID.fullmatch(stream_id):
        raise UnsafeSource(
            f"stream id {stream_id!r} cannot be replayed: letters, digits, '.', '_', ':' and "
            "'-' only (no leading '.' or '-'), at most 200 characters"
        )
    return STREAM_PREFIX + stream_id


def stream_of(source: str) -> str | None:
    """The stream id of a ``stream:`` source (checked), else None."""
    if not source.startswith(STREAM_PREFIX):
        return None
    stream_id = source.removeprefix(STREAM_PREFIX)
    stream_source(stream_id)  # raises UnsafeSource for an id it would not make
    return stream_id


def check_source(source: str, policy: SourcePolicy, resolve: Resolver = socket.getaddrinfo) -> str:
    """The source to open (a path made absolute and resolved under the media root; a stream
    source as it is), or UnsafeSource saying why not."""
    if not source.strip():
        raise UnsafeSource("the source is empty")
    if "\x00" in source:  # no path or URL holds one; the OS refuses it with a ValueError
        raise UnsafeSource("the source contains a NUL character")
    if stream_of(source) is not None:
        return source
    if is_url(source):
        return check_url(source, policy, resolve)
    if PROTOCOL_PREFIX.match(source):
        raise UnsafeSource(f"{source!r}: FFmpeg protocol sources are not allowed")
    return check_path(source, policy.media_root)


def check_path(source: str, media_root: Path | None) -> str:
    if media_root is None:
        return source
    path = Path(source)
    if ".." in path.parts:
        raise UnsafeSource(f"{source!r}: '..' is not allowed in a path")
    root = media_root.resolve()
    resolved = (root / path).resolve()  # an absolute ``path`` replaces root here
    if not resolved.is_relative_to(root):
        raise UnsafeSource(f"{source!r} is outside the media root")
    return str(resolved)


def refused_address(address: str) -> str | None:
    """Why an address may not be reached (None: a global address, fine)."""
    ip = ipaddress.ip_address(address.split("%", 1)[0])
    if isinstance(ip, ipaddress.IPv6Address) and ip.ipv4_mapped is not None:
        ip = ip.ipv4_mapped
    for kind, test in (
        ("loopback", ip.is_loopback),
        ("link-local (cloud metadata)", ip.is_link_local),
        ("private", ip.is_private),
        ("multicast", ip.is_multicast),
        ("unspecified", ip.is_unspecified),
        ("reserved", ip.is_reserved),
        ("non-global", not ip.is_global),
    ):
        if test:
            return kind
    return None


def check_url(url: str, policy: SourcePolicy, resolve: Resolver = socket.getaddrinfo) -> str:
    parts = urlsplit(url)
    scheme = parts.scheme.lower()
    if scheme not in policy.schemes:
        allowed = ", ".join(sorted(policy.schemes)) or "none"
        raise UnsafeSource(f"URL scheme {scheme!r} is not allowed (allowed: {allowed})")
    try:
        host, port = parts.hostname, parts.port
    except ValueError as exc:
        raise UnsafeSource(f"{url!r} is not a valid URL: {exc}") from exc
    if not host:
        raise UnsafeSource(f"{url!r} names no host")
    if policy.allow_private:
        return url
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (socket.gaierror, UnicodeError) as exc:
        raise UnsafeSource(f"cannot resolve host {host!r}: {exc}") from exc
    for info in infos:
        address = str(info[4][0])
        kind = refused_address(address)
        if kind is not None:
            raise UnsafeSource(
                f"{host!r} resolves to {address}, a {kind} address: refused "
                "(KAPTION_ALLOW_PRIVATE_SOURCES=1 allows such sources)"
            )
    return url
