"""Fault test: garbage and wrong-schema records on every stage input are dead-lettered, the
pipeline goes on, and `kaption dlq list|show|replay` works on what was dead-lettered.

The inputs are not listed by hand: they are read from the stages' own registrations (the Faust
agents `kaption worker --role all` builds), so a new input is covered without editing this."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Sequence
from typing import Any

import pytest
from aiokafka.partitioner import DefaultPartitioner
from confluent_kafka import Producer

from agents.subtitles.render import parse_cues
from clients.status import read_statuses
from streams.broker.topics import load_registry
from streams.events.codec import AvroCodec
from streams.events.model import JobRequested, JobState
from streams.operations.dlq import REPLAYED_FROM, DeadLetter, read_dead_letters
from streams.runtime.kafka import librdkafka_config
from streams.runtime.roles import STAGES, register_function
from streams.runtime.worker import build_stages
from streams.settings import KaptionSettings
from tests.examples import EXAMPLES, WHEN
from tests.integration.conftest import Cluster
from tests.integration.helpers import cli, headers_of, read
from tests.paths import MEDIA
from tests.wer import word_error_rate

pytestmark = pytest.mark.integration
GARBAGE = b"\x00\xffnot an event at all"
DEAD_LETTER_WAIT_S = 60.0
MAX_WER = 0.35  # as tests/integration/test_pipeline.py: espeak-ng voice, tiny.en


def stage_inputs(settings: KaptionSettings) -> dict[str, list[str]]:
    """Each topic (logical) the stages' agents read, and the stages reading it: from the real
    registrations, built in this process but never started."""
    registry = load_registry(settings.topics_file, settings.topic_prefix)
    logical = {registry.name(name): name for name in registry.specs}
    service = build_stages(settings, list(STAGES), register_function)
    inputs: dict[str, list[str]] = {}
    for stage, app in service.apps.items():
        for agent in app.agents.values():
            for topic in getattr(agent.channel, "topics", ()):
                inputs.setdefault(logical[topic], []).append(stage)
    return inputs


def produce(
    settings: KaptionSettings,
    records: Sequence[tuple[str, bytes, bytes]],
    headers: dict[str, str | bytes | None] | None = None,
) -> list[int]:
    """Sends (deployed topic, key, value) records; their offsets, in order."""
    producer = Producer(librdkafka_config(settings, acks="all"))
    offsets: dict[int, int] = {}
    for i, (topic, key, value) in enumerate(records):

        def delivered(error: Any, message: Any, i: int = i) -> None:
            assert error is None, error
            offsets[i] = message.offset()

        producer.produce(topic, value, key, headers=headers, on_delivery=delivered)
    assert producer.flush(30) == 0
    return [offsets[i] for i in range(len(records))]


def replayed(output: str) -> set[str]:
    """PARTITION:OFFSET of each dead letter `kaption dlq replay` says it sent."""
    return {line.split()[2] for line in output.splitlines() if " -> " in line}


def wrong_event_for(value_schema: str | None) -> bytes:
    codec = AvroCodec(KaptionSettings().schemas_dir)
    wrong = "JobCheck" if value_schema == "JobStatus" else "JobStatus"
    return codec.encode(EXAMPLES[wrong])


def wait_for_letters(
    settings: KaptionSettings, wanted: set[tuple[str, str, int]]
) -> dict[tuple[str, str, int], DeadLetter]:
    """Dead letters by (stage, source topic, source offset) until all ``wanted`` are there."""
    deadline = time.monotonic() + DEAD_LETTER_WAIT_S
    while True:
        found = {
            (d.header("stage"), d.header("topic"), int(d.header("offset") or -1)): d
            for d in read_dead_letters(settings, timeout_s=10.0)
        }
        missing = wanted - set(found)
        if not missing or time.monotonic() > deadline:
            assert not missing, f"not dead-lettered: {sorted(missing)}"
            return found
        time.sleep(1.0)


def test_bad_records_on_every_input_are_dead_lettered_listed_and_replayable(
    cluster: Cluster,
) -> None:
    settings = cluster.settings
    registry = load_registry(settings.topics_file, settings.topic_prefix)
    inputs = stage_inputs(settings)
    # Every stage reads something, the orchestrator several topics, cues the status topic too.
    assert {s for stages in inputs.values() for s in stages} == set(STAGES)
    assert len(inputs["jobs.requested"]) == 1 and "jobs.status" in inputs

    # A garbage record and a valid event of the wrong type on each input topic.
    records = []
    for logical in sorted(inputs):
        topic = registry.name(logical)
        wrong_value = wrong_event_for(registry.specs[logical].value_schema)
        records += [(topic, b"dlq-garbage", GARBAGE), (topic, b"dlq-wrong", wrong_value)]
    offsets = produce(settings, records)
    sent = {
        (topic, offset): value for (topic, _, value), offset in zip(records, offsets, strict=True)
    }
    wanted = {
        (stage, topic, offset)
        for (topic, offset) in sent
        for stage in inputs[topic.removeprefix(settings.topic_prefix)]
    }
    letters = wait_for_letters(settings, wanted)
    for stage, topic, offset in wanted:
        letter = letters[(stage, topic, offset)]
        logical = topic.removeprefix(settings.topic_prefix)
        assert letter.topic == registry.dlq_name(logical)
        assert letter.value == sent[(topic, offset)]  # the original bytes, untouched
        assert letter.header("attempt") == "1"
        assert letter.header("partition").isdigit()
        if logical == "jobs.requested.json":  # CloudEvents JSON: neither record is JSON
            assert letter.header("class") == "InvalidJobRequest"
            assert letter.header("message").startswith("not JSON: ")
            continue
        assert letter.header("class") == "DecodeError"
        if letter.value != GARBAGE:  # the wrong type is named
            assert f" on {logical}, which carries " in letter.header("message")

    # The pipeline goes on: a normal job completes with the right words.
    result = cluster.run(str(MEDIA / "speech.mp4"))
    assert result.state == JobState.COMPLETED, result.status
    assert result.subtitles is not None
    reference = json.loads((MEDIA / "speech.json").read_text())["text"]
    spoken = " ".join(c.text for c in parse_cues(result.subtitles.srt, "srt"))
    assert word_error_rate(reference, spoken) < MAX_WER

    # list: every dead letter, with its stage and source.
    rows = json.loads(cli(settings, "dlq", "list", "--json"))
    listed = {(r["stage"], r["source"]) for r in rows}
    for stage, topic, offset in wanted:
        letter = letters[(stage, topic, offset)]
        assert (stage, f"{topic}[{letter.header('partition')}]@{offset}") in listed
    assert "DecodeError" in cli(settings, "dlq", "list", "segments")

    # show: the wrong-type event decoded, the garbage as a preview.
    decode_topic = registry.name("decode.requested")
    by_value = {
        d.value: d for (s, t, _), d in letters.items() if s == "decode" and t == decode_topic
    }
    garbage_letter, wrong_letter = by_value[GARBAGE], by_value[wrong_event_for("DecodeRequested")]
    shown = json.loads(cli(settings, "dlq", "show", "decode.requested", wrong_letter.address))
    assert shown["body"]["decoded"] and shown["body"]["event"] == "JobStatus"
    assert shown["headers"]["kaption.error.stage"] == "decode"
    shown = json.loads(cli(settings, "dlq", "show", "decode.requested.dlq", garbage_letter.address))
    assert not shown["body"]["decoded"] and shown["body"]["hex"] == GARBAGE.hex()

    # replay one record: back on its source topic, traceable, and dead-lettered again.
    out = cli(settings, "dlq", "replay", "decode.requested", "--offset", garbage_letter.address)
    assert replayed(out) == {garbage_letter.address} and "replayed 1 record(s)" in out
    again = [
        m
        for m in read(settings, "decode.requested", count=10**6, timeout_s=5.0)
        if headers_of(m).get(REPLAYED_FROM) == f"{garbage_letter.topic}:{garbage_letter.address}"
    ]
    assert len(again) == 1 and again[0].value() == GARBAGE and again[0].key() == b"dlq-garbage"
    wait_for_letters(settings, {("decode", decode_topic, int(again[0].offset() or 0))})


def test_a_full_replay_sends_each_dead_letter_once_and_a_valid_one_is_processed(
    cluster: Cluster,
) -> None:
    """A valid request in the dead letters (as a transient failure would leave it) is processed
    once replayed; a second full replay sends none of what the first one sent."""
    settings = cluster.settings
    registry = load_registry(settings.topics_file, settings.topic_prefix)
    job_id = f"replayed-{uuid.uuid4().hex[:8]}"
    request = JobRequested(
        job_id=job_id, source=str(MEDIA / "missing.mp4"), name="x", language="en", requested_at=WHEN
    )
    headers: dict[str, str | bytes | None] = {
        "kaption.error.stage": "orchestrator",
        "kaption.error.class": "TimeoutError",
    }
    headers |= {"kaption.error.topic": registry.name("jobs.requested")}
    headers |= {"kaption.error.offset": "123456"}  # no partition: replayed by key
    dlq = registry.dlq_name("jobs.requested")
    value = AvroCodec(settings.schemas_dir).encode(request)
    (offset,) = produce(settings, [(dlq, job_id.encode(), value)], headers)

    first = cli(settings, "dlq", "replay", "jobs.requested")
    sent_first = replayed(first)
    # On the partition the agents' producer (aiokafka, Java's murmur2) gives the job's key, where
    # the rest of the job's events go.
    partitions = list(range(registry.specs["jobs.requested"].partitions))
    by_key = DefaultPartitioner()(job_id.encode(), partitions, partitions)
    assert f"0:{offset} -> {registry.name('jobs.requested')}[{by_key}]@" in first
    # Processed: the job ran and failed on its missing file (not dead-lettered again).
    deadline = time.monotonic() + 60
    while (
        status := read_statuses(settings).get(job_id)
    ) is None or status.state != JobState.FAILED:
        assert time.monotonic() < deadline, status
        time.sleep(1.0)
    assert status.reason is not None and status.reason.startswith("decode: file not found")

    sent_second = replayed(cli(settings, "dlq", "replay", "jobs.requested"))
    assert not sent_first & sent_second
    rows = json.loads(cli(settings, "dlq", "list", "jobs.requested", "--json"))
    assert {r["at"] for r in rows if r["replayed"]} >= sent_first
