"""The live lane: its model switched by `models use transcribe-live`, a shadow beside it on the
same phrases, and `models compare --live` over the streams both saw."""

from __future__ import annotations

import json
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from agents.decode.media import decode_audio
from clients.jobs import JobClient
from streams.broker.topics import Outgoing
from streams.events.audio import SAMPLE_RATE
from streams.events.codec import AvroCodec
from streams.events.model import LiveSegment, LiveTranscript
from streams.models.catalog import load_catalog
from streams.runtime.processes import free_port, wait_ready, worker_process
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings
from tests.integration.helpers import read, value_of
from tests.integration.models_fixtures import COPY, declare_models, invoke
from tests.paths import MEDIA

pytestmark = pytest.mark.integration


@dataclass
class Lane:
    settings: KaptionSettings
    shadow: str  # its label


@pytest.fixture(scope="module")
def lane(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Lane]:
    """transcribe-live in one worker, a shadow of the tiny.en copy in another. The live lane
    starts on the deployment's tiny.en (not its own default, base), so that the shadow's copy
    of the same weights gives the same words."""
    data = tmp_path_factory.mktemp("live-shadow")
    settings = fresh_settings(bootstrap, data, models_file=declare_models(data))
    settings = settings.model_copy(update={"live_whisper_model": ""})
    create_topics(settings)
    ports = free_port(), free_port()
    shadow = settings.model_copy(update={"shadow_model": COPY, "metrics_port": ports[1]})
    live = settings.model_copy(update={"metrics_port": ports[0]})
    with (
        worker_process(live, "transcribe-live", data / "live.log") as first,
        worker_process(shadow, "transcribe-shadow", data / "shadow.log") as second,
    ):
        for port, process in zip(ports, (first, second), strict=True):
            wait_ready(port, lambda p=process: p.poll() is None, 120)  # type: ignore[misc]
        yield Lane(settings, load_catalog(settings).get(COPY).label)


def phrases(stream: str, first_seq: int, count: int) -> list[LiveSegment]:
    """Final phrases of 4 s cut from the test speech."""
    pcm = decode_audio(str(MEDIA / "speech.wav")).pcm
    step = 4 * SAMPLE_RATE
    return [
        LiveSegment(
            stream_id=stream,
            seq=first_seq + i,
            revision=0,
            final=True,
            start=4.0 * i,
            end=4.0 * (i + 1),
            capture_end=time.time(),
            source_offset=0.0,
            sample_rate=SAMPLE_RATE,
            pcm=pcm[i * step : (i + 1) * step].astype("<i2").tobytes(),
            sent_at=time.time(),
        )
        for i in range(count)
    ]


def transcripts(settings: KaptionSettings, topic: str, count: int) -> list[LiveTranscript]:
    codec = AvroCodec(settings.schemas_dir)
    return [codec.decode_as(LiveTranscript, value_of(m)) for m in read(settings, topic, count, 60)]


def test_live_phrases_switch_model_and_a_shadow_compares_them(lane: Lane, tmp_path: Path) -> None:
    settings = lane.settings
    primary = load_catalog(settings).get("").label
    with JobClient(settings) as client:
        for segment in phrases("s1", 0, 3):
            client.send(Outgoing("live.segments", segment))
    before = transcripts(settings, "live.transcripts", 3)
    assert {f"{t.model}@{t.model_version}" for t in before} == {primary}

    answer = invoke(settings, "models", "use", "transcribe-live", COPY)
    assert answer.exit_code == 0 and f"serving {lane.shadow}" in answer.output, answer.output
    with JobClient(settings) as client:
        for segment in phrases("s1", 3, 1):
            client.send(Outgoing("live.segments", segment))
    after = transcripts(settings, "live.transcripts", 4)
    assert [f"{t.model}@{t.model_version}" for t in after if t.seq == 3] == [lane.shadow]

    shadows = transcripts(settings, "shadow.live.transcripts", 4)
    assert sorted(t.seq for t in shadows) == [0, 1, 2, 3]
    (tmp_path / "s1.txt").write_text(" ".join(t.text for t in sorted(after, key=lambda t: t.seq)))
    result = invoke(
        settings, "models", "compare", "--live", "--json", "--references", str(tmp_path)
    )
    assert result.exit_code == 0, result.output
    [found] = json.loads(result.stdout)
    # The same weights on both sides (the copy): the same words for the same phrases.
    assert found["shadow"] == lane.shadow and found["jobs"] == ["s1"]
    assert found["segments"] == 4 and found["wer_vs_primary"] == 0.0
    assert found["primary"]["wer_vs_references"] == 0.0
    assert found["primary"]["models"] == sorted([primary, lane.shadow])
