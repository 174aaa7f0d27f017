"""Misbehaving media sources on 127.0.0.1, for unit and integration tests: a host that never
accepts, a server that accepts and never answers, one that stalls after some bytes, one that
serves real media slowly, and one that only redirects. Each is a context manager yielding a URL;
leaving it releases every waiting connection, so nothing outlives the test."""

from __future__ import annotations

import re
import socket
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

CHUNK_BYTES = 1024
RANGE = re.compile(r"bytes=(\d+)-(\d*)")


@contextmanager
def unreachable_host() -> Iterator[str]:
    """A port whose listen queue is full: the kernel drops new connection attempts (SYNs), so a
    connect hangs as it does to a host that is down behind a firewall."""
    listener = socket.socket()
    listener.bind(("127.0.0.1", 0))
    listener.listen(0)
    port = listener.getsockname()[1]
    fillers = []
    for _ in range(3):  # fill the queue; the last attempts stay pending themselves
        filler = socket.socket()
        filler.setblocking(False)
        filler.connect_ex(("127.0.0.1", port))
        fillers.append(filler)
    time.sleep(0.2)
    try:
        yield f"http://127.0.0.1:{port}/media.mp4"
    finally:
        for sock in [*fillers, listener]:
            sock.close()


class MediaServer(ThreadingHTTPServer):
    """Serves ``data`` with HTTP range support, ``bytes_per_s`` at most, and stops sending for
    good at byte ``stall_at`` (0: after the headers; None: never). ``silent``: accepts
    connections and never answers."""

    daemon_threads = True

    def __init__(
        self,
        data: bytes,
        bytes_per_s: float | None = None,
        stall_at: int | None = None,
        silent: bool = False,
    ) -> None:
        super().__init__(("127.0.0.1", 0), MediaHandler)
        self.data, self.bytes_per_s, self.stall_at, self.silent = (
            data,
            bytes_per_s,
            stall_at,
            silent,
        )
        self.closing = threading.Event()
        self.requests = 0

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server_address[1]}/media.mp4"


class MediaHandler(BaseHTTPRequestHandler):
    server: MediaServer

    def handle(self) -> None:
        self.server.requests += 1
        if self.server.silent:
            self.server.closing.wait()  # connected, never a byte
            return
        super().handle()

    def do_GET(self) -> None:
        server, data = self.server, self.server.data
        start, end = 0, len(data)
        wanted = RANGE.fullmatch(self.headers.get("Range", ""))
        if wanted:
            start, end = int(wanted[1]), int(wanted[2] or len(data) - 1) + 1
            self.send_response(206)
            self.send_header("Content-Range", f"bytes {start}-{end - 1}/{len(data)}")
        else:
            self.send_response(200)
        self.send_header("Content-Type", "video/mp4")
        self.send_header("Accept-Ranges", "bytes")
        self.send_header("Content-Length", str(end - start))
        self.end_headers()
        self.wfile.flush()
        position = start
        while position < end:
            if server.stall_at is not None and position >= server.stall_at:
                server.closing.wait()  # stops sending, keeps the connection open
                return
            stop = min(end, position + CHUNK_BYTES)
            if server.stall_at is not None and position < server.stall_at:
                stop = min(stop, server.stall_at)
            try:
                self.wfile.write(data[position:stop])
                self.wfile.flush()
            except OSError:  # the client went away (it seeks with a new request)
                return
            if server.bytes_per_s and server.closing.wait((stop - position) / server.bytes_per_s):
                return
            position = stop

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def media_server(
    data: bytes, bytes_per_s: float | None = None, stall_at: int | None = None, silent: bool = False
) -> Iterator[MediaServer]:
    server = MediaServer(data, bytes_per_s, stall_at, silent)
    thread = threading.Thread(target=server.serve_forever, name="media-server", daemon=True)
    thread.start()
    try:
        yield server
    finally:
        server.closing.set()
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)


class RedirectHandler(BaseHTTPRequestHandler):
    def do_GET(self) -> None:
        location = self.server.location  # type: ignore[attr-defined]
        self.send_response(302)
        self.send_header("Location", location.replace("{self}", self.path))
        self.send_header("Content-Length", "0")
        self.end_headers()

    def log_message(self, format: str, *args: object) -> None:
        pass


@contextmanager
def redirect_server(location: str) -> Iterator[str]:
    """A URL on 127.0.0.1 that answers every GET with a 302 to ``location`` (``{self}``: the
    requested path, so a relative Location can loop)."""
    server = ThreadingHTTPServer(("127.0.0.1", 0), RedirectHandler)
    server.daemon_threads = True
    server.location = location  # type: ignore[attr-defined]
    thread = threading.Thread(target=server.serve_forever, name="redirect-server", daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{server.server_address[1]}/media.mp4"
    finally:
        server.shutdown()
        server.server_close()
        thread.join(timeout=5)
