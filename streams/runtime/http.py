"""The HTTP endpoint of every process: ``/metrics`` (Prometheus), ``/healthz`` (alive) and
``/readyz`` (ready: 200 with the checks that passed, 503 with those that did not)."""

from __future__ import annotations

import json
import logging
import threading
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from typing import Any
from wsgiref.simple_server import WSGIRequestHandler, WSGIServer, make_server

from prometheus_client import REGISTRY, CollectorRegistry, make_wsgi_app

log = logging.getLogger(__name__)
Checks = Callable[[], Mapping[str, bool]]
StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class _QuietHandler(WSGIRequestHandler):
    def log_message(self, format: str, *args: Any) -> None:  # scrapes are not news
        pass


class _ThreadingServer(WSGIServer):
    daemon_threads = True


def _app(registry: CollectorRegistry, checks: Checks) -> Callable[..., Iterable[bytes]]:
    metrics = make_wsgi_app(registry)

    def reply(start: StartResponse, status: str, body: dict[str, Any]) -> list[bytes]:
        data = json.dumps(body).encode()
        start(status, [("Content-Type", "application/json"), ("Content-Length", str(len(data)))])
        return [data]

    def app(environ: dict[str, Any], start: StartResponse) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "/")
        if path == "/healthz":
            return reply(start, "200 OK", {"status": "alive"})
        if path == "/readyz":
            results = dict(checks())
            ready = all(results.values())
            return reply(start, "200 OK" if ready else "503 Service Unavailable", results)
        return metrics(environ, start)

    return app


@dataclass
class Endpoint:
    server: WSGIServer
    thread: threading.Thread

    @property
    def port(self) -> int:
        return int(self.server.server_address[1])

    def stop(self) -> None:
        self.server.shutdown()
        self.server.server_close()


def serve(
    port: int,
    checks: Checks = lambda: {},
    host: str = "0.0.0.0",
    registry: CollectorRegistry = REGISTRY,
) -> Endpoint:
    """Serves the endpoint from a daemon thread; port 0 picks a free one (logged)."""
    server = make_server(
        host, port, _app(registry, checks), _ThreadingServer, handler_class=_QuietHandler
    )
    thread = threading.Thread(target=server.serve_forever, name="kaption-http", daemon=True)
    thread.start()
    endpoint = Endpoint(server, thread)
    log.warning("metrics on http://%s:%d/metrics (also /healthz, /readyz)", host, endpoint.port)
    return endpoint
