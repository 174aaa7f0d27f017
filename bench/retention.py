"""Retention bounds the broker: its log directory and resident set over many jobs.

One local Apache Kafka node and one `kaption worker` (the file lane), then ``--jobs`` jobs of
the same file one after another. The audio topics (audio.ready, segments) keep
``--retention-mb`` per partition in segments of half that (1 MiB at least): topics.yaml's sizes
scaled down so that short jobs exceed them (each job of samples/demo.mp4 puts ~1 MB of PCM on
each). Kafka deletes whole closed segments past the limit at each retention check (every 60 s,
docker/kafka/server.properties) and removes their files a minute later (file.delete.delay.ms),
so the jobs are paced ``--pause-s`` apart to span several checks. Prints the log directory's
size on disk and the broker's RSS after each job, then the growth per job over the first and
the last third of the run: without retention both thirds grow alike, with it the last third
stays flat.

Run: ``python bench/retention.py [--jobs 30] [--pause-s 10] [--retention-mb 2]``.
"""

from __future__ import annotations

import argparse
import os
import time
from pathlib import Path

import yaml
from common import OUT, broker_with_topics, progress, worker
from memory import broker_pid, rss_mb

from clients.jobs import JobClient
from streams.events.model import JobState
from streams.resources import TOPICS_FILE
from streams.runtime.roles import FILE_STAGES
from streams.settings import KaptionSettings
from tests.paths import SAMPLES

AUDIO_TOPICS = ("audio.ready", "segments")
MIN_SEGMENT_BYTES = 1024 * 1024  # Kafka refuses smaller segments


def scaled_topics(path: Path, retention_bytes: int) -> Path:
    """topics.yaml with the audio topics' size limit (and segment size) scaled down."""
    document = yaml.safe_load(TOPICS_FILE.read_text())
    for name in AUDIO_TOPICS:
        document["topics"][name] |= {
            "retention_bytes": retention_bytes,
            "segment_bytes": max(MIN_SEGMENT_BYTES, retention_bytes // 2),
        }
    path.write_text(yaml.safe_dump(document))
    return path


def disk_mb(directory: Path) -> float:
    """Bytes the files under ``directory`` occupy on disk (sparse index files count what they
    use), in MB."""
    total = 0
    for root, _, files in os.walk(directory):
        for name in files:
            try:
                total += os.stat(Path(root) / name).st_blocks * 512
            except FileNotFoundError:  # a segment deleted while we looked
                continue
    return total / 1e6


def growth(rows: list[tuple[int, float, float]], column: int, part: slice) -> float:
    """MB per job over one part of the run (first and last row of it)."""
    chosen = rows[part]
    first, last = chosen[0], chosen[-1]
    return (last[column] - first[column]) / max(1, last[0] - first[0])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--pause-s", type=float, default=10.0)
    parser.add_argument("--retention-mb", type=float, default=2.0)
    parser.add_argument("--source", type=Path, default=SAMPLES / "demo.mp4")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    limit = int(args.retention_mb * 1024 * 1024)
    topics = scaled_topics(OUT / "topics-retention.yaml", limit)
    base = KaptionSettings(broker_kind="kafka", topics_file=topics, data_dir=OUT / "kaption-data")
    rows: list[tuple[int, float, float]] = []
    started = time.monotonic()
    with (
        broker_with_topics(base, "retention") as settings,
        worker(settings, FILE_STAGES, "retention") as process,
        JobClient(settings) as client,
    ):
        broker, log_dir = broker_pid(), OUT / "broker-retention"
        for job in range(1, args.jobs + 1):
            result = client.wait(
                client.submit(str(args.source)), 600, alive=lambda: process.poll() is None
            )
            if result.state != JobState.COMPLETED:
                raise RuntimeError(f"job {job} ended {result.state}: {result.status.reason}")
            rows.append((job, disk_mb(log_dir), rss_mb(broker)))
            progress(
                f"job {job} at {time.monotonic() - started:.0f} s: log dir {rows[-1][1]:.1f} MB,"
                f" broker RSS {rows[-1][2]:.0f} MB"
            )
            time.sleep(args.pause_s)
    print(f"audio topics keep {args.retention_mb:g} MB per partition ({', '.join(AUDIO_TOPICS)})")
    print(f"{'job':>4} {'log dir MB':>11} {'broker RSS MB':>14}")
    for job, disk, rss in rows:
        print(f"{job:>4} {disk:>11.1f} {rss:>14.1f}")
    third = max(2, len(rows) // 3)
    for label, part in (("first", slice(0, third)), ("last", slice(len(rows) - third, None))):
        print(
            f"{label} third: log dir {growth(rows, 1, part):+.2f} MB/job, "
            f"broker RSS {growth(rows, 2, part):+.2f} MB/job"
        )


if __name__ == "__main__":
    main()
