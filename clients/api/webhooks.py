"""Job-end webhooks: when a job that asked for one is settled (clients/api/view.py), its final
view (the same JSON as ``GET /v1/jobs/{id}``) is POSTed to the webhook URL.

Signature scheme (a receiver must check it before trusting the body):

- header ``X-Kaption-Timestamp``: the Unix time of the delivery attempt, in whole seconds;
- header ``X-Kaption-Signature``: ``sha256=`` + the lower-case hex HMAC-SHA256, keyed with
  KAPTION_API_WEBHOOK_SECRET (UTF-8), of the bytes ``<timestamp>`` + ``.`` + the raw body;
- header ``X-Kaption-Delivery``: an id that stays the same across retries (deduplicate on it);
  ``X-Kaption-Event: job.finished``.

The receiver recomputes the HMAC over the raw body it received (before any JSON parsing),
compares in constant time, and refuses timestamps more than five minutes from its clock
(replays): :func:`verify_signature` does all of it. A URL is checked like a job's URL source
(no private addresses unless KAPTION_ALLOW_PRIVATE_SOURCES) when the job is submitted and again
at each attempt, which then connects to the very address it checked (no DNS rebinding in
between; TLS still verifies the URL's host name); redirects are not followed. A failed attempt
(error or non-2xx answer) is retried (4 tries in all, after 1, 4 and 16 s), then logged;
deliveries run on threads of their own, never in a request. Pending webhooks live in the API
process: a restart forgets them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
import socket
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, replace
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import httpx

from clients.api.view import JobBoard
from streams.sources import Resolver, SourcePolicy, UnsafeSource, check_url, refused_address

log = logging.getLogger(__name__)
SIGNATURE_HEADER = "X-Kaption-Signature"
TIMESTAMP_HEADER = "X-Kaption-Timestamp"
TOLERANCE_S = 300.0
ATTEMPTS = 4
BACKOFF_S = (1.0, 4.0, 16.0)  # before the 2nd, 3rd and 4th attempt
TIMEOUT_S = 10.0
CHECK_S = 0.5  # how often settled jobs are looked for
WEBHOOK_SCHEMES = frozenset({"http", "https"})


def sign(secret: str, timestamp: str, body: bytes) -> str:
    """The ``X-Kaption-Signature`` value for ``body`` sent at ``timestamp``."""
    mac = hmac.new(secret.encode(), timestamp.encode() + b"." + body, hashlib.sha256)
    return "sha256=" + mac.hexdigest()


def verify_signature(
    secret: str,
    body: bytes,
    signature: str | None,
    timestamp: str | None,
    now: float | None = None,
    tolerance_s: float = TOLERANCE_S,
) -> bool:
    """Whether a delivery is authentic: ``signature`` and ``timestamp`` are the values of the
    X-Kaption-Signature and X-Kaption-Timestamp headers, ``body`` the raw request body."""
    if not secret or not signature or not timestamp or not timestamp.isdigit():
        return False
    current = time.time() if now is None else now
    if abs(current - int(timestamp)) > tolerance_s:
        return False
    return hmac.compare_digest(sign(secret, timestamp, body), signature)


def webhook_policy(policy: SourcePolicy) -> SourcePolicy:
    """A job source's URL policy, for webhooks: http(s) only."""
    return SourcePolicy(policy.media_root, WEBHOOK_SCHEMES, policy.allow_private)


@dataclass(frozen=True)
class Pinned:
    """A webhook call aimed at one checked address: the address checked is the address
    called, so DNS cannot answer a public address to the check and a private one to the call."""

    url: str  # the URL with its host replaced by the address
    host: str  # the Host header
    sni: str | None  # the TLS server name (https)


def pin(url: str, policy: SourcePolicy, resolve: Resolver = socket.getaddrinfo) -> Pinned:
    """Checks the URL (scheme, host, every address it resolves to unless private ones are
    allowed) and aims it at the first address (UnsafeSource otherwise)."""
    check_url(url, replace(policy, allow_private=True), resolve)  # scheme and host only
    parts = urlsplit(url)
    host, port = parts.hostname or "", parts.port or (443 if parts.scheme == "https" else 80)
    try:
        infos = resolve(host, port, type=socket.SOCK_STREAM)
    except (OSError, UnicodeError) as exc:
        raise UnsafeSource(f"cannot resolve host {host!r}: {exc}") from exc
    addresses = [str(info[4][0]) for info in infos]
    if not addresses:
        raise UnsafeSource(f"host {host!r} has no address")
    for address in addresses if not policy.allow_private else ():
        kind = refused_address(address)
        if kind is not None:
            raise UnsafeSource(f"{host!r} resolves to {address}, a {kind} address: refused")
    address = addresses[0].split("%", 1)[0]
    literal = f"[{address}]" if ":" in address else address
    userinfo = parts.netloc.rpartition("@")[0]
    netloc = f"{userinfo + '@' if userinfo else ''}{literal}:{port}"
    aimed = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    shown_host = parts.netloc.rpartition("@")[2]
    return Pinned(aimed, shown_host, host if parts.scheme == "https" else None)


class Webhooks:
    """Pending webhooks by job id; a thread hands each settled job's to a small pool."""

    def __init__(
        self,
        board: JobBoard,
        secret: str,
        policy: SourcePolicy,
        sleep: Callable[[float], Any] | None = None,
    ) -> None:
        self.board = board
        self.secret = secret
        self.policy = webhook_policy(policy)
        self.lock = threading.Lock()
        self.pending: dict[str, str] = {}
        self.stopping = threading.Event()
        self.sleep = sleep or self.stopping.wait  # a stop cuts a backoff short
        self.pool = ThreadPoolExecutor(max_workers=4, thread_name_prefix="kaption-webhook")
        self.thread = threading.Thread(target=self._watch, name="kaption-webhooks", daemon=True)

    def start(self) -> None:
        self.thread.start()

    def stop(self) -> None:
        self.stopping.set()
        self.thread.join()
        self.pool.shutdown(wait=False, cancel_futures=True)

    def add(self, job_id: str, url: str) -> None:
        with self.lock:
            self.pending[job_id] = url

    def _watch(self) -> None:
        while not self.stopping.wait(CHECK_S):
            with self.lock:
                due = [(j, u) for j, u in self.pending.items() if self.board.settled(j)]
                for job_id, _ in due:
                    del self.pending[job_id]
            for job_id, url in due:
                view = self.board.view(job_id)
                if view is not None:
                    self.pool.submit(self.deliver, url, view)

    def deliver(self, url: str, view: dict[str, Any]) -> bool:
        """POSTs the view, retrying with backoff; True once a 2xx answer came."""
        body = json.dumps(view).encode()
        delivery = uuid.uuid4().hex
        problem = ""
        for attempt in range(ATTEMPTS):
            if attempt:
                self.sleep(BACKOFF_S[min(attempt - 1, len(BACKOFF_S) - 1)])
            if self.stopping.is_set():
                problem = f"the API stopped ({problem or 'before the first attempt'})"
                break
            try:
                aimed = pin(url, self.policy)  # again at each try: DNS may answer otherwise
                timestamp = str(int(time.time()))
                headers = {
                    "Host": aimed.host,
                    "Content-Type": "application/json",
                    "X-Kaption-Event": "job.finished",
                    "X-Kaption-Delivery": delivery,
                    TIMESTAMP_HEADER: timestamp,
                    SIGNATURE_HEADER: sign(self.secret, timestamp, body),
                }
                with httpx.Client(timeout=TIMEOUT_S) as client:
                    call = client.build_request(
                        "POST",
                        aimed.url,
                        content=body,
                        headers=headers,
                        extensions={"sni_hostname": aimed.sni} if aimed.sni else None,
                    )
                    answer = client.send(call)
            except (httpx.HTTPError, ValueError) as exc:
                problem = f"{type(exc).__name__}: {exc}"
                continue
            if answer.is_success:
                log.info("webhook for job %s delivered to %s", view["job_id"], url)
                return True
            problem = f"HTTP {answer.status_code}"
        log.warning(
            "webhook for job %s to %s not delivered: %s",
            view["job_id"],
            url,
            problem,
        )
        return False
