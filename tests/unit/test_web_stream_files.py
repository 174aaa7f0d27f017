"""A live stream's subtitle files over HTTP (clients/api/streams.py), through the ASGI app with
files as the subtitles-live stage writes them (no broker): the token, content types, the
playlist's relative URIs resolving under the same path, and names confined to the stream's own
files in KAPTION_LIVE_OUT_DIR."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import m3u8
import pytest
from fastapi import FastAPI
from fastapi.testclient import TestClient
from pydantic import ValidationError

from agents.subtitles.live import LiveOutputs
from clients.api import streams
from clients.api.config import ApiSettings
from streams.events.model import LiveCue, LiveCueLine, LiveKind
from streams.settings import KaptionSettings

TOKEN = "s3cret-token"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def cue(seq: int, kind: LiveKind, start: float, end: float, text: str = "") -> LiveCue:
    lines = (LiveCueLine(start=start, end=end, text=text),) if text else ()
    return LiveCue(
        stream_id="talk", seq=seq, revision=0, kind=kind, start=start, end=end, stable="",
        unstable="", cues=lines, words=(), watermark=end, source_offset=0.0, gap_s=0.0,
        reason="", published_at=0.0,
    )  # fmt: skip


@pytest.fixture
def out_dir(tmp_path: Path) -> Path:
    out = tmp_path / "live"
    writer = LiveOutputs(out, "talk", segment_s=2.0)
    writer.add(cue(0, LiveKind.FINAL, 0.5, 1.5, "hello there"))
    writer.add(cue(1, LiveKind.FINAL, 2.5, 4.5, "general kenobi"))
    (tmp_path / "secret.txt").write_text("not yours")
    return out


@pytest.fixture
def client(out_dir: Path, tmp_path: Path) -> TestClient:
    app = FastAPI()
    app.state.settings = KaptionSettings(live_out_dir=out_dir, data_dir=tmp_path)
    app.state.api = ApiSettings(tokens=TOKEN)
    app.include_router(streams.router)
    return TestClient(app)


def test_the_playlist_and_the_segments_it_lists_are_served_under_the_stream(
    client: TestClient,
) -> None:
    for name in ("talk.m3u8", "index.m3u8"):
        response = client.get(f"/v1/streams/talk/{name}", headers=AUTH)
        assert response.status_code == 200
        assert response.headers["content-type"] == "application/vnd.apple.mpegurl"
        assert response.headers["cache-control"] == "no-cache"
        playlist = m3u8.loads(response.text, uri=f"http://api/v1/streams/talk/{name}")
        uris = [segment.absolute_uri for segment in playlist.segments]
        assert uris == [
            "http://api/v1/streams/talk/talk-0.vtt",
            "http://api/v1/streams/talk/talk-1.vtt",
        ]
    segment = client.get("/v1/streams/talk/talk-1.vtt", headers=AUTH)
    assert segment.status_code == 200
    assert segment.headers["content-type"] == "text/vtt; charset=utf-8"
    assert "general kenobi" in segment.text and "X-TIMESTAMP-MAP" in segment.text
    rolling = client.get("/v1/streams/talk/talk.vtt", headers=AUTH)
    assert rolling.headers["content-type"] == "text/vtt; charset=utf-8"
    assert "hello there" in rolling.text and "general kenobi" in rolling.text
    # The complete SRT comes with the stream's end.
    assert client.get("/v1/streams/talk/talk.srt", headers=AUTH).status_code == 404


def test_the_final_srt_is_served_once_the_stream_ended(client: TestClient, out_dir: Path) -> None:
    LiveOutputs(out_dir, "talk", segment_s=2.0).add(cue(2, LiveKind.END, 5.0, 5.0))
    response = client.get("/v1/streams/talk/talk.srt", headers=AUTH)
    assert response.status_code == 200
    assert response.headers["content-type"] == "application/x-subrip; charset=utf-8"
    assert "hello there" in response.text


def test_a_languages_files_are_served_beside_the_streams_own(
    client: TestClient, out_dir: Path
) -> None:
    """translate-live's Spanish as subtitles-live writes it: talk.es.m3u8 and its segments."""
    spanish = LiveOutputs(out_dir, "talk.es", segment_s=2.0)
    spanish.add(replace(cue(0, LiveKind.FINAL, 0.5, 1.5, "hola"), language="es"))
    spanish.add(replace(cue(1, LiveKind.END, 2.5, 2.5), language="es"))
    playlist = client.get("/v1/streams/talk/talk.es.m3u8", headers=AUTH)
    assert playlist.status_code == 200 and "talk.es-0.vtt" in playlist.text
    segment = client.get("/v1/streams/talk/talk.es-0.vtt", headers=AUTH)
    assert "hola" in segment.text and segment.headers["cache-control"] == "max-age=3600"
    assert "hola" in client.get("/v1/streams/talk/talk.es.srt", headers=AUTH).text
    for name in ("talk.ES.vtt", "talk.spanish.vtt", "talk.es.json", "talk.es.es.vtt"):
        assert client.get(f"/v1/streams/talk/{name}", headers=AUTH).status_code == 404, name


def test_a_stream_asks_for_languages_by_their_codes() -> None:
    asked = streams.StreamRequest(source="talk.mp4", languages=["es", "de"])
    assert asked.languages == ["es", "de"]
    assert streams.StreamRequest(source="talk.mp4").languages == []
    for wrong in (["ES"], ["../x"], ["es-0"]):
        with pytest.raises(ValidationError):
            streams.StreamRequest(source="talk.mp4", languages=wrong)


def test_files_need_the_token(client: TestClient) -> None:
    assert client.get("/v1/streams/talk/talk.m3u8").status_code == 401
    wrong = {"Authorization": "Bearer nope"}
    assert client.get("/v1/streams/talk/talk.m3u8", headers=wrong).status_code == 401


@pytest.mark.parametrize(
    "path",
    [
        "/v1/streams/talk/.talk.live.json",  # the writer's sidecar
        "/v1/streams/talk/other.m3u8",  # another stream's name under this one
        "/v1/streams/talk/talk-1.vtt.bak",
        "/v1/streams/talk/talk-x.vtt",
        "/v1/streams/talk/..%2Fsecret.txt",
        "/v1/streams/talk/talk..%2F..%2Fsecret.txt",
        "/v1/streams/..%2F..%2Fsecret/..%2F..%2Fsecret.txt",
        "/v1/streams/%2E%2E/%2E%2E.m3u8",
        "/v1/streams/.talk/.talk.vtt",
        "/v1/streams/missing/missing.m3u8",
    ],
)
def test_names_outside_the_streams_files_are_refused(client: TestClient, path: str) -> None:
    response = client.get(path, headers=AUTH)
    assert response.status_code == 404, response.text
    assert "not yours" not in response.text


def test_a_symlink_out_of_the_directory_is_not_followed(
    client: TestClient, out_dir: Path, tmp_path: Path
) -> None:
    (out_dir / "evil.vtt").symlink_to(tmp_path / "secret.txt")
    assert client.get("/v1/streams/evil/evil.vtt", headers=AUTH).status_code == 404
