"""Bytes on every Kafka topic, changelogs included, for one job on a long speech file.

Prints, per topic, the records and bytes (key + value) the job left there, then the figures
Platform v2 promises: each audio sample crosses Kafka at most twice, the orchestrator's
changelog stays under 2 KB per segment, no event the orchestrator reads exceeds 64 KB, and every
changelog grows in proportion to the media (run with two lengths: ``--minutes 5 --minutes 20``).

Run from the repository root: ``python bench/kafka_bytes.py [--minutes 5]``.
"""

from __future__ import annotations

import argparse
import sys
import uuid
from collections import defaultdict
from dataclasses import dataclass

from common import OUT, build_inputs, cluster, progress
from confluent_kafka import OFFSET_BEGINNING, Consumer, TopicPartition

from agents.orchestrator.agent import INPUTS as ORCHESTRATOR_INPUTS
from clients.jobs import JobClient
from streams.broker.topics import load_registry
from streams.events.model import JobState
from streams.runtime.kafka import librdkafka_config
from streams.settings import KaptionSettings

AUDIO_TOPICS = ("audio.ready", "segments")
ORCHESTRATOR_CHANGELOGS = ("orchestrator.jobs", "orchestrator.windows")


@dataclass
class TopicBytes:
    records: int = 0
    total: int = 0
    largest: int = 0


def measure(settings: KaptionSettings) -> dict[str, TopicBytes]:
    """Every record on every topic of the settings' prefix, read from the beginning."""
    registry = load_registry(settings.topics_file, settings.topic_prefix)
    consumer = Consumer(
        librdkafka_config(
            settings,
            **{"group.id": f"bytes-{uuid.uuid4().hex}", "enable.auto.commit": False},
        )
    )
    by_name = {registry.name(logical): logical for logical in registry.specs}
    found: dict[str, TopicBytes] = defaultdict(TopicBytes)
    try:
        topics = consumer.list_topics(timeout=10).topics
        consumer.assign(
            [
                TopicPartition(name, p, OFFSET_BEGINNING)
                for name in by_name
                for p in topics[name].partitions
            ]
        )
        idle = 0
        while idle < 10:  # two seconds without a record: everything is read
            batch = [m for m in consumer.consume(1000, timeout=0.2) if m.error() is None]
            idle = 0 if batch else idle + 1
            for message in batch:
                size = len(message.key() or b"") + len(message.value() or b"")
                stats = found[by_name[str(message.topic())]]
                stats.records += 1
                stats.total += size
                stats.largest = max(stats.largest, size)
    finally:
        consumer.close()
    return found


def run(minutes: float) -> None:
    inputs = build_inputs(minutes)
    pcm_bytes = int(inputs.long_seconds * 16_000 * 2)
    base = KaptionSettings(data_dir=OUT / "kaption-data")
    with cluster(base, f"bytes-{minutes:g}") as (settings, worker):
        with JobClient(settings) as client:
            job_id = client.submit(str(inputs.long_wav.resolve()))
            result = client.wait(job_id, 1800, alive=lambda: worker.poll() is None)
        if result.state != JobState.COMPLETED:
            raise RuntimeError(f"job ended {result.state}: {result.status.reason}")
        progress(f"job done: {result.status.segments_total} segments; reading every topic")
        found = measure(settings)
    segments = result.status.segments_total
    print(f"\n{inputs.long_seconds:.0f} s of speech, {segments} segments, PCM {pcm_bytes:,} B")
    print(f"{'topic':<28} {'records':>8} {'bytes':>12} {'largest':>10}")
    for logical in sorted(found):
        stats = found[logical]
        print(f"{logical:<28} {stats.records:>8} {stats.total:>12,} {stats.largest:>10,}")
    audio = sum(found[t].total for t in AUDIO_TOPICS)
    orchestrator = sum(found[t].total for t in ORCHESTRATOR_CHANGELOGS)
    largest_read = max(found[t].largest for t in ORCHESTRATOR_INPUTS if t in found)
    changelogs = sum(s.total for t, s in found.items() if t.startswith(("orchestrator.", "cues.")))
    print(f"audio crossings (audio topics / PCM)      {audio / pcm_bytes:.2f}   target <= 2")
    print(
        f"orchestrator changelog per segment        {orchestrator / segments:,.0f} B   "
        "target < 2048"
    )
    print(f"largest event the orchestrator reads      {largest_read:,} B   target <= 65536")
    print(f"all changelogs per second of media        {changelogs / inputs.long_seconds:,.0f} B")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, action="append", help="input length (repeat)")
    args = parser.parse_args()
    for minutes in args.minutes or [5.0]:
        run(minutes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
