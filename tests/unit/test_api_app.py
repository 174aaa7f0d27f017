"""The API app without a broker: start-up checks, authentication and request validation
(which all happen before anything is published), the OpenAPI document, `kaption api`."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from fastapi.testclient import TestClient

from clients.api.app import create_app
from clients.api.config import ApiConfigError, ApiSettings
from clients.cli import main
from streams.settings import KaptionSettings

TOKEN = "t0ken"
AUTH = {"Authorization": f"Bearer {TOKEN}"}


def platform(tmp_path: Path, **overrides: object) -> KaptionSettings:
    return KaptionSettings(
        bootstrap_servers="127.0.0.1:1",
        data_dir=tmp_path,
        **overrides,  # type: ignore[arg-type]
    )


@pytest.fixture
def client(tmp_path: Path) -> Iterator[TestClient]:
    # No `with`: the lifespan (reader, publisher) does not start; nothing here publishes.
    app = create_app(platform(tmp_path), ApiSettings(tokens=TOKEN))
    yield TestClient(app, raise_server_exceptions=False)


def test_no_token_no_api(tmp_path: Path) -> None:
    with pytest.raises(ApiConfigError, match="KAPTION_API_TOKENS"):
        create_app(platform(tmp_path), ApiSettings(tokens=" , "))


def test_without_a_media_root_the_data_dir_holds_one(tmp_path: Path) -> None:
    app = create_app(platform(tmp_path), ApiSettings(tokens=TOKEN))
    assert app.state.settings.media_root == tmp_path / "media"
    assert (tmp_path / "media").is_dir()
    chosen = tmp_path / "elsewhere"
    app = create_app(platform(tmp_path, media_root=chosen), ApiSettings(tokens=TOKEN))
    assert app.state.settings.media_root == chosen


def test_the_token_is_checked(client: TestClient) -> None:
    assert client.get("/healthz").status_code == 200
    for headers in ({}, {"Authorization": "Bearer nope"}, {"Authorization": TOKEN}):
        answer = client.get("/v1/jobs/abc", headers=headers)
        assert answer.status_code == 401 and answer.headers["www-authenticate"] == "Bearer"
        assert client.post("/v1/jobs", json={"path": "a"}, headers=headers).status_code == 401
    assert client.get("/v1/jobs/abc", headers=AUTH).status_code == 404
    assert (
        client.get("/v1/jobs/abc", headers={"authorization": f"bearer {TOKEN}"}).status_code == 404
    )
    # Refused before any body is parsed, whatever the router: an invalid body is no hint.
    for path in ("/v1/jobs", "/v1/streams", "/v1/nothing-here"):
        answer = client.post(path, content=b"{", headers={"Content-Type": "application/json"})
        assert answer.status_code == 401, (path, answer.text)
    second = ApiSettings(tokens=f"a,{TOKEN}")
    assert second.token_list() == ["a", TOKEN]


def test_webhooks_need_a_secret(client: TestClient) -> None:
    answer = client.post(
        "/v1/jobs", json={"path": "a.mp4", "webhook": "https://example.org/h"}, headers=AUTH
    )
    assert answer.status_code == 422
    assert "KAPTION_API_WEBHOOK_SECRET" in answer.json()["detail"][0]["msg"]


def test_bad_requests_are_4xx_with_a_json_reason(client: TestClient) -> None:
    for body, headers in (
        (b"{", {"Content-Type": "application/json"}),
        (b"[]", {"Content-Type": "application/json"}),
        (b'{"path": 5}', {"Content-Type": "application/json"}),
        (b"x" * 70_000, {"Content-Type": "application/json"}),
        (b"--x--", {"Content-Type": "multipart/form-data"}),
        (b"hello", {"Content-Type": "application/octet-stream"}),
        (b"hello", {}),
    ):
        answer = client.post("/v1/jobs", content=body, headers=AUTH | headers)
        assert 400 <= answer.status_code < 500, (body[:20], answer.status_code)
        assert "detail" in answer.json()


def test_the_openapi_document_describes_both_kinds_of_submission(client: TestClient) -> None:
    document = client.get("/openapi.json").json()
    body = document["paths"]["/v1/jobs"]["post"]["requestBody"]["content"]
    assert body["multipart/form-data"]["schema"]["required"] == ["media"]
    assert body["application/json"]["schema"]["additionalProperties"] is False
    assert {"/v1/jobs/{job_id}/events", "/v1/jobs/{job_id}/media"} <= set(document["paths"])


def test_the_command_refuses_to_start_without_a_token(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.delenv("KAPTION_API_TOKENS", raising=False)
    monkeypatch.setenv("KAPTION_DATA_DIR", str(tmp_path))
    result = CliRunner().invoke(main, ["api", "--bootstrap-servers", "127.0.0.1:1"])
    assert result.exit_code == 2, result.output
    assert "KAPTION_API_TOKENS" in result.output
