"""Webhook signing, verification and delivery with retries (clients/api/webhooks.py), against
a real HTTP receiver on loopback."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import pytest

from clients.api.view import JobBoard
from clients.api.webhooks import (
    ATTEMPTS,
    Pinned,
    Webhooks,
    pin,
    sign,
    verify_signature,
)
from streams.sources import SourcePolicy, UnsafeSource

SECRET = "s"
BODY = b'{"job_id": "j", "state": "COMPLETED"}'


def test_a_signature_verifies_only_unchanged_and_fresh() -> None:
    signature = sign(SECRET, "1700000000", BODY)
    assert signature.startswith("sha256=") and len(signature) == 7 + 64
    assert verify_signature(SECRET, BODY, signature, "1700000000", now=1700000100)
    assert not verify_signature(SECRET, BODY, signature, "1700000000", now=1700000400)  # stale
    assert not verify_signature(SECRET, BODY, signature, "1700000001", now=1700000000)
    assert not verify_signature(SECRET, BODY + b" ", signature, "1700000000", now=1700000000)
    assert not verify_signature("t", BODY, signature, "1700000000", now=1700000000)
    assert not verify_signature(SECRET, BODY, None, "1700000000", now=1700000000)
    assert not verify_signature(SECRET, BODY, signature, "-5", now=1700000000)
    assert not verify_signature("", BODY, sign("", "1", BODY), "1", now=1)


class Answers(BaseHTTPRequestHandler):
    statuses: ClassVar[list[int]] = []
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Answers.received.append((dict(self.headers), body))
        self.send_response(Answers.statuses.pop(0) if Answers.statuses else 204)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.fixture
def receiver() -> Iterator[str]:
    Answers.statuses.clear()
    Answers.received.clear()
    server = ThreadingHTTPServer(("127.0.0.1", 0), Answers)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()


def webhooks(allow_private: bool = True) -> tuple[Webhooks, list[float]]:
    slept: list[float] = []
    policy = SourcePolicy(Path("/m"), frozenset({"http", "https", "rtmp"}), allow_private)
    return Webhooks(JobBoard(None), SECRET, policy, sleep=slept.append), slept


def test_a_failed_delivery_is_retried_with_backoff(receiver: str) -> None:
    hooks, slept = webhooks()
    Answers.statuses[:] = [500, 503]
    assert hooks.deliver(receiver, {"job_id": "j", "state": "FAILED"})
    assert len(Answers.received) == 3 and slept == [1.0, 4.0]
    deliveries = {headers["X-Kaption-Delivery"] for headers, _ in Answers.received}
    assert len(deliveries) == 1, "retries are one delivery"
    headers, body = Answers.received[-1]
    assert verify_signature(
        SECRET, body, headers["X-Kaption-Signature"], headers["X-Kaption-Timestamp"]
    )


def test_a_delivery_gives_up_after_its_attempts(receiver: str) -> None:
    hooks, slept = webhooks()
    Answers.statuses[:] = [500] * 10
    assert not hooks.deliver(receiver, {"job_id": "j"})
    assert len(Answers.received) == ATTEMPTS and len(slept) == ATTEMPTS - 1


def test_private_addresses_are_not_called_unless_allowed(receiver: str) -> None:
    hooks, _ = webhooks(allow_private=False)
    assert not hooks.deliver(receiver, {"job_id": "j"})
    assert Answers.received == []
    assert hooks.policy.schemes == frozenset({"http", "https"})


def fake_dns(*addresses: str) -> Any:
    def resolve(host: str, port: int | None, **_: Any) -> list[tuple[Any, ...]]:
        return [(2, 1, 6, "", (address, port or 0)) for address in addresses]

    return resolve


def test_a_call_is_aimed_at_the_address_that_was_checked() -> None:
    public = SourcePolicy(None, frozenset({"http", "https"}), allow_private=False)
    aimed = pin("https://user:pw@hooks.example.org/k?a=1", public, fake_dns("93.184.216.34"))
    assert aimed == Pinned(
        "https://user:pw@93.184.216.34:443/k?a=1", "hooks.example.org", "hooks.example.org"
    )
    v6 = pin("http://hooks.example.org:8080", public, fake_dns("2606:2800:220:1::1"))
    assert v6.url == "http://[2606:2800:220:1::1]:8080/" and v6.sni is None
    with pytest.raises(UnsafeSource, match="private"):
        pin("https://rebound.example.org/", public, fake_dns("93.184.216.34", "10.0.0.7"))
    with pytest.raises(UnsafeSource, match="scheme"):
        pin("ftp://example.org/", public, fake_dns("93.184.216.34"))
    private = SourcePolicy(None, frozenset({"http"}), allow_private=True)
    assert pin("http://box.lan/h", private, fake_dns("10.0.0.7")).url == "http://10.0.0.7:80/h"
