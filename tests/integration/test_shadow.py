"""A shadow model beside the normal workers (role transcribe-shadow), `models compare` over
the jobs both saw, and `models replay` of retained segments, on the real broker and models."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from clients.jobs import JobClient
from streams.events.model import JobState
from streams.models.catalog import load_catalog
from streams.runtime.processes import free_port, wait_ready, worker_process
from streams.runtime.roles import FILE_STAGES
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings
from tests.integration.helpers import read
from tests.integration.models_fixtures import invoke, once_each, transcripts
from tests.paths import MEDIA

pytestmark = pytest.mark.integration
SHADOW = "base"


@pytest.fixture(scope="module")
def settings(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[KaptionSettings]:
    """The file stages in one worker and a shadow of base in another."""
    data = tmp_path_factory.mktemp("shadow")
    settings = fresh_settings(bootstrap, data)
    create_topics(settings)
    shadow_port = free_port()
    shadow = settings.model_copy(update={"shadow_model": SHADOW, "metrics_port": shadow_port})
    with (
        worker_process(settings, FILE_STAGES, data / "worker.log") as primary,
        worker_process(shadow, "transcribe-shadow", data / "shadow.log") as second,
    ):
        wait_ready(shadow_port, lambda: second.poll() is None, 180)
        yield settings
        assert primary.poll() is None and second.poll() is None


def compared(settings: KaptionSettings, *args: str) -> dict[str, dict[str, object]]:
    result = invoke(settings, "models", "compare", "--json", *args)
    assert result.exit_code == 0, result.output
    return {c["shadow"]: c for c in json.loads(result.stdout)}


def test_a_shadow_changes_nothing_users_get_and_compare_reports_both(
    settings: KaptionSettings, tmp_path: Path
) -> None:
    primary = load_catalog(settings).get("").label
    shadow = load_catalog(settings).get(SHADOW).label
    with JobClient(settings) as client:
        job = client.submit(str(MEDIA / "speech.wav"))
        result = client.wait(job, 180)
    assert result.state == JobState.COMPLETED and result.subtitles is not None
    total = result.status.segments_total

    # Users' side: each segment once, by the primary model; nothing failed.
    users = transcripts(settings, "segments.transcribed", total + 1, timeout_s=5)
    assert set(once_each(users).values()) == {1} and len(users) == total
    assert {f"{t.model}@{t.model_version}" for t in users} == {primary}
    assert read(settings, "segments.failed", 1, timeout_s=2) == []
    assert result.status.models == (primary,)

    # The shadow's side: the same segments, by the shadow model, on its own topic only.
    shadows = transcripts(settings, "shadow.transcripts", total, timeout_s=120)
    assert sorted(once_each(shadows)) == sorted(once_each(users))
    assert {f"{t.model}@{t.model_version}" for t in shadows} == {shadow}

    references = tmp_path / "refs"
    references.mkdir()
    spoken = json.loads((MEDIA / "speech.json").read_text())["text"]
    (references / "speech.txt").write_text(spoken)  # by the job's name
    report = compared(settings, "--references", str(references))
    found = report[shadow]
    assert found["jobs"] == [job] and found["segments"] == total
    wer = found["wer_vs_primary"]
    assert isinstance(wer, float) and 0 <= wer < 0.5
    for side in (found["primary"], found["candidate"]):
        assert isinstance(side, dict)
        assert side["speed"] > 0 and 0 < side["confidence"] <= 1
        assert 0 <= side["wer_vs_references"] < 0.35
    assert found["primary"]["models"] == [primary]  # type: ignore[index]
    assert compared(settings, "--job", "another-job") == {}
    text = invoke(settings, "models", "compare").output
    assert f"{shadow} against {primary}: 1 jobs, {total} segments, WER between them" in text

    # After the fact: the primary model replayed over the retained segments gives its own
    # words again (WER 0 against the primary), beside the shadow's comparison.
    replayed = invoke(settings, "models", "replay", "")
    assert replayed.exit_code == 0, replayed.output
    assert f"replayed {total} segments" in replayed.output
    later = datetime.now(UTC) + timedelta(hours=1)
    none = invoke(settings, "models", "replay", "", "--since", later.isoformat())
    assert "replayed 0 segments" in none.output, none.output  # nothing that late is kept
    again = compared(settings)
    assert set(again) == {shadow, primary}
    assert again[primary]["wer_vs_primary"] == 0.0
    assert again[shadow]["wer_vs_primary"] == wer


def test_a_segment_nobody_can_transcribe_is_dead_lettered_once(settings: KaptionSettings) -> None:
    """The primary's group dead-letters it; the shadow, reading the same input, only logs."""
    from clients.status import read_topic
    from streams.broker.topics import Outgoing
    from tests.examples import corrupt_segment

    with JobClient(settings) as client:
        client.send(Outgoing("segments", corrupt_segment("shadow-corrupt")))
    before = len(transcripts(settings, "shadow.transcripts", 10_000, timeout_s=3))
    # A job after it: once the shadow has transcribed that job's segments too, it has long
    # read the corrupt one (it reads every partition of the input at once).
    with JobClient(settings) as client:
        job = client.submit(str(MEDIA / "speech.wav"))
        result = client.wait(job, 180)
    assert result.state == JobState.COMPLETED
    wanted = before + result.status.segments_total
    assert len(transcripts(settings, "shadow.transcripts", wanted, timeout_s=120)) >= wanted
    keys: list[bytes | None] = []
    read_topic(settings, "segments.dlq", lambda key, value: keys.append(key), "dead letters")
    assert keys.count(b"shadow-corrupt:0000-0000") == 1, keys
