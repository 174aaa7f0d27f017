"""Jobs from any language: a third-party Kafka client (Debian's kcat, librdkafka) publishes a
CloudEvent as JSON on jobs.requested.json and gets subtitles like `kaption submit`; a record
that is no valid request is dead-lettered with the reason (real broker, real worker)."""

from __future__ import annotations

import json
import shutil
import subprocess
import time
import uuid

import pytest

from agents.subtitles.render import parse_cues
from clients.jobs import JobClient
from streams.events.model import JobState
from streams.operations.dlq import read_dead_letters
from streams.settings import KaptionSettings
from tests.integration.conftest import Cluster
from tests.integration.helpers import cli
from tests.paths import MEDIA
from tests.wer import word_error_rate

pytestmark = [
    pytest.mark.integration,
    pytest.mark.skipif(shutil.which("kcat") is None, reason="kcat is not installed"),
]
WAIT_S = 60.0
REFERENCE = json.loads((MEDIA / "speech.json").read_text())["text"]
MAX_WER = 0.35  # as tests/integration/test_pipeline.py: espeak-ng voice, tiny.en


def kcat_publish(settings: KaptionSettings, key: str, *lines: str) -> None:
    """One record per line, as a shell script in any language would send them."""
    topic = f"{settings.topic_prefix}jobs.requested.json"
    command = ["kcat", "-P", "-b", str(settings.bootstrap_servers), "-t", topic, "-k", key]
    subprocess.run(command, input="\n".join(lines) + "\n", text=True, check=True, timeout=30)


def cloudevent(event_id: str, **data: object) -> str:
    body = {
        "specversion": "1.0",
        "type": "kaption.job.requested",
        "source": "urn:kaption:tests",
        "id": event_id,
        "time": "2026-12-04T12:00:00Z",
        "datacontenttype": "application/json",
        "data": data,
    }
    return json.dumps(body)


def test_a_cloudevent_from_kcat_becomes_subtitles_and_kaption_status_shows_it(
    cluster: Cluster,
) -> None:
    settings = cluster.settings
    job_id = f"kcat-{uuid.uuid4().hex[:8]}"  # the CloudEvent's id: data names no job_id
    kcat_publish(settings, job_id, cloudevent(job_id, source=str(MEDIA / "speech.mp4")))
    with JobClient(settings) as client:
        result = client.wait(job_id, WAIT_S, alive=cluster.alive)
    assert result.state == JobState.COMPLETED, result.status
    assert result.subtitles is not None and result.subtitles.name == "speech"
    spoken = " ".join(c.text for c in parse_cues(result.subtitles.srt, "srt"))
    assert word_error_rate(REFERENCE, spoken) < MAX_WER, spoken
    (row,) = json.loads(cli(settings, "status", job_id, "--json"))
    assert (row["job"], row["state"], row["source"]) == (
        job_id,
        "COMPLETED",
        str(MEDIA / "speech.mp4"),
    )


def test_bad_records_are_dead_lettered_with_the_reason_and_listed(cluster: Cluster) -> None:
    settings = cluster.settings
    unsafe_id = f"unsafe-{uuid.uuid4().hex[:8]}"
    lines = (
        "{this is not json",
        cloudevent(unsafe_id, source="http://127.0.0.1:9/x.mp4"),
        cloudevent(
            f"translate-{uuid.uuid4().hex[:8]}", source="a.mp4", language="en", languages=["fr"]
        ),
    )
    kcat_publish(settings, "bad", *lines)
    reasons = [
        "not JSON: ",
        "data.source refused: '127.0.0.1' resolves to 127.0.0.1, a loopback address: refused",
        "data.languages: no translation from en into fr is configured",
    ]
    deadline = time.monotonic() + WAIT_S
    while True:
        letters = read_dead_letters(settings, ["jobs.requested.json.dlq"], timeout_s=10.0)
        if len(letters) >= len(lines) or time.monotonic() > deadline:
            break
        time.sleep(1.0)
    assert [d.value for d in letters] == [line.encode() for line in lines]  # untouched bytes
    for letter, reason in zip(letters, reasons, strict=True):
        assert letter.header("stage") == "orchestrator"
        assert letter.header("class") == "InvalidJobRequest"
        assert reason in letter.header("message"), letter.header("message")
    rows = json.loads(
        cli(settings, "dlq", "list", "jobs.requested.json", "--json", "--width", "300")
    )
    assert [r["error"] for r in rows] == ["InvalidJobRequest"] * len(lines)
    assert reasons[1] in rows[1]["message"]
    # No job came of them, and the intake goes on: the next good event runs.
    assert unsafe_id not in cli(settings, "status", "--json")
    good = f"kcat-{uuid.uuid4().hex[:8]}"
    kcat_publish(settings, good, cloudevent(good, source=str(MEDIA / "speech.wav"), name="again"))
    with JobClient(settings) as client:
        assert client.wait(good, WAIT_S, alive=cluster.alive).state == JobState.COMPLETED
