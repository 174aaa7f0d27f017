"""Live streams as a cluster runs them: `kaption ingest` in a process of its own publishes a
stream's audio, each live role (speech detection, live transcription, live cues, live
subtitles) runs in a worker process of its own, and `kaption streams` reports the stream."""

from __future__ import annotations

import contextlib
import json
import os
import subprocess
import sys
import time
from pathlib import Path

import pysubs2
import pytest

from streams.runtime.processes import free_port, settings_env, wait_ready, worker_process
from streams.runtime.roles import LIVE_STAGES
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings
from tests.integration.helpers import scrape
from tests.paths import MEDIA
from tests.wer import word_error_rate

pytestmark = pytest.mark.integration
REFERENCE = json.loads((MEDIA / "speech.json").read_text())
MAX_WER = 0.35  # as tests/integration/test_live.py: losing one of three sentences fails
READY_S = 120.0


def kaption(settings: KaptionSettings, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "clients.cli", *args],
        env={**os.environ, **settings_env(settings)},
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )


def latency_observations(port: int) -> float:
    return sum(
        sample.value
        for sample in scrape(port, "kaption_live_caption_latency_seconds")
        if sample.name.endswith("_count")
    )


def test_ingest_and_a_process_per_live_role_caption_a_stream(
    bootstrap: str, tmp_path: Path
) -> None:
    out_dir = tmp_path / "out"
    settings = fresh_settings(bootstrap, tmp_path, live_out_dir=out_dir)
    create_topics(settings)
    final = out_dir / "cluster-talk.srt"
    with contextlib.ExitStack() as stack:
        workers = {}
        for role in LIVE_STAGES:
            port = free_port()
            role_settings = settings.model_copy(update={"metrics_port": port})
            log = tmp_path / f"{role}.log"
            workers[role] = (port, stack.enter_context(worker_process(role_settings, role, log)))
        for port, process in workers.values():
            wait_ready(port, lambda: process.poll() is None, READY_S)  # noqa: B023 (called at once)
        ingest = kaption(
            settings,
            "ingest",
            str(MEDIA / "speech.mp4"),
            "--stream-id",
            "cluster-talk",
            "--translate",
            "es",
        )
        assert ingest.returncode == 0, ingest.stdout + ingest.stderr
        assert "stream cluster-talk ended after" in ingest.stderr, ingest.stderr
        assert ingest.stderr.rstrip().endswith("source ended"), ingest.stderr
        spanish = out_dir / "cluster-talk.es.srt"
        deadline = time.monotonic() + 60
        while not (final.exists() and spanish.exists()) and time.monotonic() < deadline:
            time.sleep(0.2)
        # Only the cue stage's process measures caption latency, and translate-live the
        # translated captions'.
        observed = {role: latency_observations(port) for role, (port, _) in workers.items()}
        assert all(p.poll() is None for _, p in workers.values()), "a worker died"
    assert final.exists(), "no final subtitles"
    text = " ".join(event.plaintext for event in pysubs2.load(str(final)))
    assert word_error_rate(REFERENCE["text"], text) < MAX_WER, text
    assert pysubs2.load(str(out_dir / "cluster-talk.vtt"))
    assert observed.pop("cues-live") > 0 and observed.pop("translate-live") > 0
    assert set(observed.values()) == {0}, observed
    # Asked for with `kaption ingest --translate es`: Apertium's Spanish beside the captions.
    translated = " ".join(e.plaintext for e in pysubs2.load(str(spanish))).lower()
    assert "pantalla" in translated or "perro" in translated, translated
    status = kaption(settings, "streams", "cluster-talk", "--json")
    assert status.returncode == 0, status.stderr
    (row,) = json.loads(status.stdout)
    assert row["stream"] == "cluster-talk" and row["state"] == "ENDED", row
    assert row["finals"] > 0, row
