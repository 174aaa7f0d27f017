"""The HTTP API as tests use it: create_app on a real uvicorn server on a free loopback port,
in a thread of the test process, stopped (lifespan shutdown included) when the context exits."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager

import uvicorn

from clients.api.app import create_app
from clients.api.config import ApiSettings
from streams.runtime.processes import free_port
from streams.settings import KaptionSettings

START_S = 30.0


@contextmanager
def api_server(settings: KaptionSettings, api: ApiSettings) -> Iterator[str]:
    """The server's base URL (http://127.0.0.1:PORT) while it runs."""
    port = free_port()
    config = uvicorn.Config(
        create_app(settings, api), host="127.0.0.1", port=port, log_level="warning"
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name="api server", daemon=True)
    thread.start()
    deadline = time.monotonic() + START_S
    while not server.started:
        assert thread.is_alive(), "the API server did not start"
        assert time.monotonic() < deadline, f"the API server did not start in {START_S:.0f} s"
        time.sleep(0.05)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=30)
