"""Live streams over HTTP against a real broker, a worker running every stage (the live ones
writing their files) and a real uvicorn server: a stream started through the API from a live
UDP source gets captions in its HLS playlist and segments served by the API, DELETE ends it
cleanly, and its final files are served; tokens, sources and names are checked."""

from __future__ import annotations

import json
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
import m3u8
import pysubs2
import pytest

from clients.api.config import ApiSettings
from clients.live.session import StreamClient, ingest, read_source
from streams.runtime.processes import free_port, wait_ready, worker_process
from streams.settings import KaptionSettings
from tests.integration.api_server import api_server
from tests.integration.conftest import create_topics, fresh_settings
from tests.live_sources import free_udp_port, udp_mpegts
from tests.paths import MEDIA

pytestmark = pytest.mark.integration
TOKEN = "stream-test-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}
SPEECH = MEDIA / "speech.mp4"
REFERENCE = json.loads((MEDIA / "speech.json").read_text())
READY_S = 120.0


@dataclass
class LiveApi:
    settings: KaptionSettings
    http: httpx.Client


@pytest.fixture(scope="module")
def live_api(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[LiveApi]:
    """Topics, one worker running every stage with KAPTION_LIVE_OUT_DIR set (the `cluster`
    fixture's worker writes no live files), and the API sharing that directory. UDP is allowed
    as a source scheme and loopback addresses as sources: the live source runs on 127.0.0.1."""
    data_dir = tmp_path_factory.mktemp("api-streams")
    media_root = data_dir / "media"
    media_root.mkdir()
    settings = fresh_settings(
        bootstrap,
        data_dir,
        live_out_dir=data_dir / "live",
        live_order_timeout_s=5.0,
        media_root=media_root,
        source_schemes="http,https,udp",
        allow_private_sources=True,
    )
    create_topics(settings)
    port = free_port()
    log = data_dir / "worker.log"
    worker = settings.model_copy(update={"metrics_port": port})
    with worker_process(worker, "all", log) as process:
        wait_ready(port, lambda: process.poll() is None, READY_S)
        with (
            api_server(settings, ApiSettings(tokens=TOKEN)) as base,
            httpx.Client(base_url=base, headers=AUTH, timeout=30) as http,
        ):
            yield LiveApi(settings, http)
        assert process.poll() is None, "the worker died:\n" + log.read_text()[-4000:]


def wait_for(what: str, check: Any, timeout_s: float = 90.0, every_s: float = 0.5) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if result := check():
            return result
        time.sleep(every_s)
    raise AssertionError(f"no {what} within {timeout_s:.0f} s")


def captions_in_segments(http: httpx.Client, stream: str) -> set[str]:
    """The caption texts of every segment the stream's playlist lists, all fetched through
    the API at the URIs the playlist gives (relative to the playlist's own URL)."""
    base = str(http.base_url).rstrip("/")
    playlist_url = f"{base}/v1/streams/{stream}/index.m3u8"
    response = http.get(playlist_url)
    if response.status_code == 404:
        return set()
    assert response.status_code == 200, response.text
    assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
    texts = set()
    for segment in m3u8.loads(response.text, uri=playlist_url).segments:
        assert segment.absolute_uri.startswith(f"{base}/v1/streams/{stream}/{stream}-")
        got = http.get(segment.absolute_uri)
        assert got.status_code == 200 and got.headers["content-type"].startswith("text/vtt")
        texts |= {e.plaintext for e in pysubs2.SSAFile.from_string(got.text, format_="vtt")}
    return texts


def test_a_stream_started_over_http_gets_hls_captions_and_ends_on_delete(
    live_api: LiveApi,
) -> None:
    http = live_api.http
    port = free_udp_port()
    with udp_mpegts(SPEECH, port, start=False) as sender:
        started = http.post("/v1/streams", json={"source": sender.url, "name": "api-udp"})
        assert started.status_code == 201, started.text
        assert started.json() == {"stream_id": "api-udp"}
        threading.Timer(1.5, sender.start).start()  # once the API's ingest listens
        again = http.post("/v1/streams", json={"source": sender.url, "name": "api-udp"})
        assert again.status_code == 409, again.text

        # The first sentence's captions reach the HLS segments while the source still runs.
        texts = wait_for(
            "captions in the HLS segments",
            lambda: " ".join(captions_in_segments(http, "api-udp")).lower(),
        )
        assert "fox" in texts or "lazy dog" in texts, texts
        view = http.get("/v1/streams/api-udp").json()
        assert view["state"] == "LIVE" and view["ingest"]["running"], view
        assert view["media_s"] > 0 and view["finals"] >= 1
        assert view["final_latency_p50_s"] is not None and view["final_latency_p50_s"] > 0
        listed = http.get("/v1/streams").json()["streams"]
        assert "api-udp" in [s["stream_id"] for s in listed]

        stopped = http.delete("/v1/streams/api-udp")
        assert stopped.status_code == 200, stopped.text
        assert stopped.json()["ingest"] == stopped.json()["ingest"] | {
            "running": False,
            "end_reason": "stopped",
            "error": None,
        }
        assert not sender.done.is_set(), "the source ended by itself before the DELETE"

    ended = wait_for(
        "the stream's end",
        lambda: (v := http.get("/v1/streams/api-udp").json())["state"] == "ENDED" and v,
        timeout_s=60,
    )
    assert ended["end_reason"] == "stopped"
    playlist = m3u8.loads(http.get("/v1/streams/api-udp/api-udp.m3u8").text)
    assert playlist.is_endlist
    srt = wait_for("the final SRT", lambda: http.get("/v1/streams/api-udp/api-udp.srt"), 30)
    assert srt.status_code == 200
    assert srt.headers["content-type"] == "application/x-subrip; charset=utf-8"
    final = [e.plaintext for e in pysubs2.SSAFile.from_string(srt.text, format_="srt")]
    assert final and "fox" in " ".join(final).lower()
    vtt = http.get("/v1/streams/api-udp/api-udp.vtt")
    assert vtt.headers["content-type"] == "text/vtt; charset=utf-8"
    assert [e.plaintext for e in pysubs2.SSAFile.from_string(vtt.text, format_="vtt")] == final
    # Stopped before the source was over: not everything was said.
    assert len(" ".join(final).split()) < len(REFERENCE["text"].split())


def test_every_stream_endpoint_needs_the_token(live_api: LiveApi) -> None:
    anonymous = httpx.Client(base_url=str(live_api.http.base_url), timeout=30)
    wrong = {"Authorization": "Bearer not-the-token"}
    with anonymous:
        for method, path in [
            ("POST", "/v1/streams"),
            ("GET", "/v1/streams"),
            ("GET", "/v1/streams/api-udp"),
            ("DELETE", "/v1/streams/api-udp"),
            ("GET", "/v1/streams/api-udp/api-udp.m3u8"),
            ("GET", "/v1/streams/api-udp/api-udp-0.vtt"),
        ]:
            body = {"source": "udp://127.0.0.1:9"} if method == "POST" else None
            for headers in ({}, wrong):
                response = anonymous.request(method, path, json=body, headers=headers)
                assert response.status_code == 401, (method, path, response.text)
                assert response.headers["www-authenticate"] == "Bearer"


@pytest.mark.parametrize(
    ("source", "reason"),
    [
        ("rtmp://127.0.0.1/live/key", "URL scheme 'rtmp' is not allowed"),
        ("file:///etc/passwd", "URL scheme 'file' is not allowed"),
        ("concat:/etc/passwd", "FFmpeg protocol sources are not allowed"),
        ("../../etc/passwd", "'..' is not allowed"),
        ("/etc/passwd", "outside the media root"),
        ("missing.mp4", "no such file under the media root"),
        ("udp://127.0.0.1", "needs a port"),
    ],
)
def test_unsafe_or_unusable_sources_are_refused_with_the_reason(
    live_api: LiveApi, source: str, reason: str
) -> None:
    response = live_api.http.post("/v1/streams", json={"source": source, "name": "refused"})
    assert response.status_code == 422, response.text
    assert reason in response.json()["detail"]


@pytest.mark.parametrize("name", ["../x", "a/b", ".hidden", "x.", "-x", ""])
def test_stream_names_that_are_not_plain_file_names_are_refused(
    live_api: LiveApi, name: str
) -> None:
    response = live_api.http.post("/v1/streams", json={"source": "speech.mp4", "name": name})
    assert response.status_code == 422, response.text


@pytest.mark.parametrize(
    "path",
    [
        "/v1/streams/nobody",
        "/v1/streams/nobody/nobody.m3u8",
        "/v1/streams/api-udp/..%2F..%2Fworker.log",
        "/v1/streams/..%2F..%2Fworker/worker.log",
        "/v1/streams/%2E%2E/%2E%2E.m3u8",
        "/v1/streams/api-udp/.api-udp.live.json",
    ],
)
def test_unknown_streams_and_names_outside_the_stream_files_are_404(
    live_api: LiveApi, path: str
) -> None:
    response = live_api.http.get(path)
    assert response.status_code == 404, response.text
    if path.count("/") == 3:
        assert live_api.http.delete(path).status_code == 404


def test_a_media_root_file_plays_as_a_live_stream_paced_at_playback_speed(
    live_api: LiveApi, tmp_path: Path
) -> None:
    root = live_api.settings.media_root
    assert root is not None
    (root / "talk.mp4").write_bytes(SPEECH.read_bytes())
    started = live_api.http.post("/v1/streams", json={"source": "talk.mp4"})
    assert started.status_code == 201, started.text
    assert started.json() == {"stream_id": "talk"}  # named after the file
    time.sleep(2.0)
    view = live_api.http.get("/v1/streams/talk").json()
    assert view["state"] == "LIVE" and view["ingest"]["running"], view
    assert view["ingest"]["source"] == str(root / "talk.mp4")
    stopped = live_api.http.delete("/v1/streams/talk").json()
    assert stopped["ingest"]["end_reason"] == "stopped"
    # Paced: two seconds in, about two seconds of the file were read.
    assert 1.0 < stopped["ingest"]["media_s"] < 6.0, stopped


def test_a_stream_ingested_elsewhere_is_shown_but_neither_taken_over_nor_stopped(
    live_api: LiveApi,
) -> None:
    """As `kaption ingest` on another machine: the API sees the stream on the cue topic, will
    not start a second one under its name, and cannot stop it."""
    stop = threading.Event()
    settings = live_api.settings

    def elsewhere() -> None:
        with StreamClient(settings) as client:
            ingest(client, "elsewhere", read_source(str(SPEECH), settings, True, stop))

    thread = threading.Thread(target=elsewhere, daemon=True)
    thread.start()
    try:
        http = live_api.http
        found = wait_for(
            "the stream's first cues",
            lambda: (r := http.get("/v1/streams/elsewhere")).status_code == 200 and r,
        )
        view = found.json()
        assert view["state"] == "LIVE" and view["ingest"] is None, view
        root = live_api.settings.media_root
        assert root is not None
        (root / "other.mp4").write_bytes(SPEECH.read_bytes())
        taken = http.post("/v1/streams", json={"source": "other.mp4", "name": "elsewhere"})
        assert taken.status_code == 409 and "elsewhere" in taken.json()["detail"], taken.text
        stopped = http.delete("/v1/streams/elsewhere")
        assert stopped.status_code == 409, stopped.text
        assert thread.is_alive()
    finally:
        stop.set()
        thread.join(timeout=30)
