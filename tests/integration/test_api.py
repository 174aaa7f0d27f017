"""The HTTP API end to end: a real uvicorn server in front of a real broker and a real
`kaption worker --role all` (the module's cluster), spoken to over HTTP with httpx."""

from __future__ import annotations

import json
import socket
import threading
import time
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, ClassVar

import httpx
import pytest

from agents.subtitles.render import parse_cues
from clients.api.config import ApiSettings
from clients.api.webhooks import SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_signature
from streams.runtime.processes import free_port
from streams.settings import KaptionSettings
from tests.integration.api_server import api_server
from tests.integration.conftest import Cluster
from tests.paths import MEDIA
from tests.wer import word_error_rate

pytestmark = pytest.mark.integration
TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SECRET = "webhook-secret"
REFERENCE = json.loads((MEDIA / "speech.json").read_text())["text"]
MAX_WER = 0.35  # as tests/integration/test_pipeline.py: espeak-ng voice, tiny.en
JOB_S = 150.0
FINAL = {"COMPLETED", "PARTIAL", "FAILED"}
VIEW_KEYS = {
    "job_id", "name", "state", "final", "stage", "progress", "segments_total", "segments_done",
    "segments_failed", "audio_seconds_total", "audio_seconds_done", "language", "languages",
    "model", "models", "cue_count", "media", "reason", "requested_at", "updated_at",
}  # fmt: skip


def api_settings(**overrides: Any) -> ApiSettings:
    return ApiSettings(tokens=f"other,{TOKEN}", max_upload_mb=1, **overrides)


def wait_ready(base: str, timeout_s: float = 60.0) -> None:
    deadline = time.monotonic() + timeout_s
    while True:
        answer = httpx.get(f"{base}/readyz", timeout=10)
        if answer.status_code == 200:
            return
        assert time.monotonic() < deadline, answer.text
        time.sleep(0.2)


@pytest.fixture(scope="module")
def media_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("media")


@pytest.fixture(scope="module")
def base(cluster: Cluster, media_root: Path) -> Iterator[str]:
    settings = cluster.settings.model_copy(update={"media_root": media_root})
    with api_server(settings, api_settings(webhook_secret=SECRET)) as url:
        wait_ready(url)
        yield url


@pytest.fixture
def http(base: str) -> Iterator[httpx.Client]:
    with httpx.Client(base_url=base, headers=AUTH, timeout=30) as client:
        yield client


def upload(http: httpx.Client, path: Path, **fields: str) -> httpx.Response:
    with path.open("rb") as media:
        return http.post("/v1/jobs", files={"media": (path.name, media)}, data=fields)


def events(http: httpx.Client, job_id: str, timeout_s: float = JOB_S) -> list[dict[str, Any]]:
    """Every `status` event of the job's stream, until the server ends it."""
    seen: list[dict[str, Any]] = []
    deadline = time.monotonic() + timeout_s
    with http.stream("GET", f"/v1/jobs/{job_id}/events", timeout=60) as answer:
        assert answer.status_code == 200, answer.read()
        assert answer.headers["content-type"].startswith("text/event-stream")
        kind = None
        for line in answer.iter_lines():
            assert time.monotonic() < deadline, f"no final state in {timeout_s} s: {seen[-1:]}"
            if line.startswith("event: "):
                kind = line.removeprefix("event: ")
            elif line.startswith("data: "):
                assert kind == "status", line
                seen.append(json.loads(line.removeprefix("data: ")))
    return seen


def submitted(answer: httpx.Response) -> str:
    assert answer.status_code == 201, answer.text
    assert set(answer.json()) == {"job_id"}
    job_id: str = answer.json()["job_id"]
    return job_id


def test_an_upload_is_followed_to_its_subtitles(http: httpx.Client, media_root: Path) -> None:
    job_id = submitted(upload(http, MEDIA / "speech.mp4", name="talk"))
    stored = list((media_root / "uploads" / job_id).iterdir())
    assert [p.name for p in stored] == ["speech.mp4"]
    assert stored[0].read_bytes() == (MEDIA / "speech.mp4").read_bytes()

    seen = events(http, job_id)
    assert all(set(view) == VIEW_KEYS for view in seen)
    assert seen[-1]["state"] == "COMPLETED", seen[-1]
    assert [v for v in seen if v["final"]] == seen[-1:], "the stream ends at the final state"
    assert seen[-1]["languages"] == ["en"] and seen[-1]["progress"] == 1.0
    assert len({json.dumps(v) for v in seen}) == len(seen), "an event per change, no repeats"

    view = http.get(f"/v1/jobs/{job_id}").json()
    assert view == seen[-1]
    assert (view["name"], view["language"], view["media"], view["stage"]) == (
        "talk",
        "en",
        True,
        None,
    )
    assert view["cue_count"] > 0 and view["segments_done"] == view["segments_total"] > 0
    assert view["model"] is None and [m.split("@")[0] for m in view["models"]] == ["tiny.en"]
    listed = http.get("/v1/jobs").json()["jobs"]
    assert view in listed

    vtt = http.get(f"/v1/jobs/{job_id}/subtitles.vtt")
    assert vtt.status_code == 200 and vtt.headers["content-type"] == "text/vtt; charset=utf-8"
    assert vtt.text.startswith("WEBVTT")
    text = " ".join(cue.text for cue in parse_cues(vtt.text, "vtt"))
    assert word_error_rate(REFERENCE, text) <= MAX_WER, text
    srt = http.get(f"/v1/jobs/{job_id}/subtitles.srt", params={"language": "en"})
    assert srt.status_code == 200
    assert srt.headers["content-type"] == "application/x-subrip; charset=utf-8"
    assert " ".join(cue.text for cue in parse_cues(srt.text, "srt")) == text
    missing = http.get(f"/v1/jobs/{job_id}/subtitles.vtt", params={"language": "fr"})
    assert missing.status_code == 404 and "fr" in missing.json()["detail"]

    whole = http.get(f"/v1/jobs/{job_id}/media")
    assert whole.status_code == 200 and whole.content == (MEDIA / "speech.mp4").read_bytes()
    assert whole.headers["accept-ranges"] == "bytes"
    part = http.get(f"/v1/jobs/{job_id}/media", headers={"Range": "bytes=100-199"})
    assert part.status_code == 206 and part.content == whole.content[100:200]
    assert part.headers["content-range"] == f"bytes 100-199/{len(whole.content)}"


def test_a_path_under_the_media_root_is_a_job(http: httpx.Client, media_root: Path) -> None:
    (media_root / "library").mkdir()
    (media_root / "library" / "quiet.mp4").write_bytes((MEDIA / "silence.mp4").read_bytes())
    job_id = submitted(http.post("/v1/jobs", json={"path": "library/quiet.mp4"}))
    early = http.get(f"/v1/jobs/{job_id}")  # readable at once, before any worker saw it
    assert early.status_code == 200 and early.json()["name"] == "quiet"
    final = events(http, job_id)[-1]
    assert (final["state"], final["cue_count"], final["media"]) == ("COMPLETED", 0, True)
    assert http.get(f"/v1/jobs/{job_id}/media").content == (MEDIA / "silence.mp4").read_bytes()


def test_undecodable_media_fails_with_the_reason(http: httpx.Client) -> None:
    job_id = submitted(upload(http, MEDIA / "not_media.mp4"))
    final = events(http, job_id)[-1]
    assert final["state"] == "FAILED" and final["languages"] == []
    view = http.get(f"/v1/jobs/{job_id}").json()
    assert view["state"] == "FAILED" and "not a media file" in view["reason"], view
    refused = http.get(f"/v1/jobs/{job_id}/subtitles.vtt")
    assert refused.status_code == 409 and "FAILED" in refused.json()["detail"]


def detail(answer: httpx.Response) -> str:
    assert answer.status_code == 422, (answer.status_code, answer.text)
    return json.dumps(answer.json()["detail"])


def test_sources_outside_the_media_root_are_refused(
    http: httpx.Client, media_root: Path, tmp_path: Path
) -> None:
    outside = tmp_path / "secret.mp4"
    outside.write_bytes((MEDIA / "speech.mp4").read_bytes())
    (media_root / "escape").symlink_to(tmp_path, target_is_directory=True)
    (media_root / "linked.mp4").symlink_to(outside)
    for path in ("../secret.mp4", str(outside), "escape/secret.mp4", "linked.mp4", "/etc/passwd"):
        reason = detail(http.post("/v1/jobs", json={"path": path}))
        assert "not allowed" in reason or "outside the media root" in reason, (path, reason)
    assert "no file" in detail(http.post("/v1/jobs", json={"path": "nothing-here.mp4"}))
    for url in (
        "http://127.0.0.1/video.mp4",
        "http://169.254.169.254/latest/meta-data",
        "http://[::1]:8080/x",
        "http://10.1.2.3/x.mp4",
    ):
        assert "KAPTION_ALLOW_PRIVATE_SOURCES" in detail(http.post("/v1/jobs", json={"url": url}))
    assert "scheme" in detail(http.post("/v1/jobs", json={"url": "file:///etc/passwd"}))
    assert "FFmpeg protocol" in detail(http.post("/v1/jobs", json={"path": "concat:a|b"}))
    hook = {"path": "library/quiet.mp4", "webhook": "http://127.0.0.1:9/hook"}
    assert "KAPTION_ALLOW_PRIVATE_SOURCES" in detail(http.post("/v1/jobs", json=hook))


def test_requests_the_pipeline_cannot_honour_are_refused(http: httpx.Client) -> None:
    path = {"path": "library/quiet.mp4"}
    for option, words in (
        ({"language": "en", "languages": ["fr", "de"]}, "no translation from en into fr, de"),
        ({"model": "large-v3"}, "unknown model 'large-v3': the declared models are"),
        ({"language": "de"}, "model 'tiny.en' transcribes English only"),
    ):
        assert words in detail(http.post("/v1/jobs", json=path | option)), option
        assert words in detail(upload(http, MEDIA / "silence.mp4", **{
            k: ",".join(v) if isinstance(v, list) else str(v).lower() for k, v in option.items()
        }))  # fmt: skip
    for bad in (
        {"path": "a.mp4", "colour": "blue"},  # unknown field
        {"path": "a.mp4", "url": "https://example.org/a.mp4"},  # two sources
        {"name": "x"},  # no source
        {"path": "a.mp4", "language": "english"},
        {"path": "a.mp4", "name": "../evil"},
    ):
        detail(http.post("/v1/jobs", json=bad))
    detail(
        http.post("/v1/jobs", content=b"{not json", headers={"Content-Type": "application/json"})
    )
    assert "empty" in detail(http.post("/v1/jobs", files={"media": ("e.mp4", b"")}))
    assert "media" in detail(http.post("/v1/jobs", files={"video": ("e.mp4", b"x")}))
    assert "colour" in detail(upload(http, MEDIA / "silence.mp4", colour="blue"))
    plain = http.post("/v1/jobs", content=b"x", headers={"Content-Type": "text/plain"})
    assert plain.status_code == 415


def test_no_refused_upload_leaves_a_file(http: httpx.Client, media_root: Path) -> None:
    uploads = media_root / "uploads"
    before = set(uploads.iterdir()) if uploads.exists() else set()
    detail(upload(http, MEDIA / "silence.mp4", model="large-v3"))
    detail(http.post("/v1/jobs", files={"media": ("e.mp4", b"")}))
    after = set(uploads.iterdir()) if uploads.exists() else set()
    assert after == before
    jobs = {view["job_id"] for view in http.get("/v1/jobs").json()["jobs"]}
    assert {p.name for p in after} <= jobs


def test_every_route_but_health_needs_the_token(base: str) -> None:
    document = httpx.get(f"{base}/openapi.json").json()
    checked = 0
    for path, operations in document["paths"].items():
        url = base + path.replace("{job_id}", "0" * 32).replace("{stream_id}", "s1")
        url = url.replace("{name}", "index.m3u8")
        for method in operations:
            for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": TOKEN}):
                answer = httpx.request(method, url, headers=headers, timeout=10)
                expected = 200 if path in ("/healthz", "/readyz") else 401
                assert answer.status_code == expected, (method, path, headers, answer.text)
                checked += 1
    assert checked >= 3 * 8
    assert httpx.get(f"{base}/v1/jobs", headers=AUTH).status_code == 200


def send_streaming_upload(base: str, total: int) -> tuple[bytes, int]:
    """Sends a chunked multipart upload of ``total`` bytes, stopping once the server answers;
    returns the answer and how many body bytes went out."""
    host, port = base.removeprefix("http://").split(":")
    boundary = "kaptionboundary"
    head = (
        f'--{boundary}\r\nContent-Disposition: form-data; name="media"; '
        'filename="big.mp4"\r\nContent-Type: video/mp4\r\n\r\n'
    ).encode()
    sent = 0
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            (
                "POST /v1/jobs HTTP/1.1\r\n"
                f"Host: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
                f"Content-Type: multipart/form-data; boundary={boundary}\r\n"
                "Transfer-Encoding: chunked\r\n\r\n"
            ).encode()
        )
        chunk = b"\0" * 65536
        pieces = [head] + [chunk] * (total // len(chunk))
        connection.setblocking(False)
        for piece in pieces:
            frame = f"{len(piece):x}\r\n".encode() + piece + b"\r\n"
            while frame:
                try:
                    if connection.recv(1, socket.MSG_PEEK):
                        break  # the server answered before the body was all sent
                except BlockingIOError:
                    pass
                try:
                    n = connection.send(frame)
                except BlockingIOError:
                    time.sleep(0.01)
                    continue
                except (BrokenPipeError, ConnectionResetError):
                    break
                frame = frame[n:]
                sent += n
            else:
                continue
            break
        connection.setblocking(True)
        answer = b""
        while data := connection.recv(65536):
            answer += data
            if b"\r\n\r\n" in answer and answer.rstrip().endswith(b"}"):
                break
    return answer, sent


def test_an_oversized_upload_is_cut_off(base: str, media_root: Path) -> None:
    uploads = media_root / "uploads"
    before = set(uploads.iterdir())
    total = 32 * 1024 * 1024  # 32 times the limit of 1 MiB
    answer, sent = send_streaming_upload(base, total)
    assert answer.startswith(b"HTTP/1.1 413"), answer[:200]
    assert b"KAPTION_API_MAX_UPLOAD_MB" in answer
    assert sent < total // 2, f"the server read {sent} bytes before answering"
    assert set(uploads.iterdir()) == before, "the partial upload was deleted"
    # A declared length over the limit is refused before any of the body is read.
    host, port = base.removeprefix("http://").split(":")
    with socket.create_connection((host, int(port)), timeout=30) as connection:
        connection.sendall(
            (
                "POST /v1/jobs HTTP/1.1\r\n"
                f"Host: {host}\r\nAuthorization: Bearer {TOKEN}\r\n"
                "Content-Type: multipart/form-data; boundary=x\r\n"
                f"Content-Length: {10 * 1024 * 1024}\r\n\r\n"
            ).encode()
        )
        assert connection.recv(65536).startswith(b"HTTP/1.1 413")


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[dict[str, str], bytes]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        Receiver.received.append((dict(self.headers), body))
        self.send_response(500 if len(Receiver.received) == 1 else 204)  # the 1st one fails
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


def test_a_signed_webhook_reports_the_job_end(cluster: Cluster, media_root: Path) -> None:
    receiver = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=receiver.serve_forever, daemon=True).start()
    hook = f"http://127.0.0.1:{receiver.server_address[1]}/hook"
    settings = cluster.settings.model_copy(
        update={"media_root": media_root, "allow_private_sources": True}
    )
    try:
        with api_server(settings, api_settings(webhook_secret=SECRET)) as url:
            wait_ready(url)
            with httpx.Client(base_url=url, headers=AUTH, timeout=30) as http:
                job_id = submitted(upload(http, MEDIA / "not_media.mp4", webhook=hook))
                deadline = time.monotonic() + JOB_S
                while len(Receiver.received) < 2:  # the failed attempt is retried
                    assert time.monotonic() < deadline, "no webhook"
                    time.sleep(0.2)
                final = http.get(f"/v1/jobs/{job_id}").json()
    finally:
        receiver.shutdown()
    first, second = Receiver.received
    for headers, body in (first, second):
        assert headers["Content-Type"] == "application/json"
        signature, timestamp = headers[SIGNATURE_HEADER], headers[TIMESTAMP_HEADER]
        assert signature.startswith("sha256=")
        assert verify_signature(SECRET, body, signature, timestamp)
        assert not verify_signature("another secret", body, signature, timestamp)
        assert not verify_signature(SECRET, body + b" ", signature, timestamp)
        assert json.loads(body) == final and final["state"] == "FAILED"
    assert first[0]["X-Kaption-Delivery"] == second[0]["X-Kaption-Delivery"]


def test_not_ready_without_a_broker(tmp_path: Path) -> None:
    nowhere = KaptionSettings(
        bootstrap_servers=f"127.0.0.1:{free_port()}",
        topic_prefix="nowhere.",
        data_dir=tmp_path,
        media_root=tmp_path / "media",
    )
    with api_server(nowhere, api_settings()) as url:
        assert httpx.get(f"{url}/healthz").json() == {"status": "ok"}
        answer = httpx.get(f"{url}/readyz", timeout=30)
    assert answer.status_code == 503
    assert answer.json()["ready"] is False
    assert answer.json()["checks"]["broker"].startswith("unreachable"), answer.json()


def test_ready_with_broker_and_topics(base: str) -> None:
    answer = httpx.get(f"{base}/readyz")
    assert answer.status_code == 200
    assert answer.json() == {
        "ready": True,
        "checks": {"broker": "ok", "topics": "ok", "view": "ok"},
    }
