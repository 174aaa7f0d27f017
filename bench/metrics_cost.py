"""What the metrics cost: the instrumentation of one consumed event, and one scrape, measured
here and set against a job's wall time (``make bench`` gives the job's figures).

Every event a stage consumes updates four series (queue and processing histograms, outcome and
published counters); a transcribed segment four more. The script times those updates and a full
``/metrics`` rendering, then prints the share of a 5-minute job they take at the event counts
`bench/kafka_bytes.py` measured (about 110 consumed events and 13 segments for 311 s of audio).

Run: ``python bench/metrics_cost.py``.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from prometheus_client import CollectorRegistry, generate_latest

from streams.runtime.metrics import Metrics

EVENTS_PER_JOB = 110  # consumed by all stages for the 311 s benchmark file (kafka_bytes.py)
SEGMENTS_PER_JOB = 13
JOB_SECONDS = 31.7  # kaption's wall time for that file (README, Speed)
SCRAPE_EVERY_S = 15.0
ROUNDS = 100_000


def per_call(call: Callable[[], object], rounds: int = ROUNDS) -> float:
    started = time.perf_counter()
    for _ in range(rounds):
        call()
    return (time.perf_counter() - started) / rounds


def main() -> None:
    registry = CollectorRegistry()
    metrics = Metrics(registry)
    stage, topic = "transcribe", "segments.transcribed"

    def event() -> None:
        metrics.queue_seconds.labels(stage).observe(0.05)
        metrics.processing_seconds.labels(stage).observe(2.0)
        metrics.events.labels(stage, "ok").inc()
        metrics.published.labels(stage, topic).inc()

    def segment() -> None:
        metrics.audio_seconds.labels(stage).inc(20.0)
        metrics.inference_seconds.labels(stage).observe(2.0)
        metrics.real_time_factor.labels(stage).observe(0.1)
        metrics.batch_size.labels(stage).observe(1)

    event_s, segment_s = per_call(event), per_call(segment)
    scrape_s = per_call(lambda: generate_latest(registry), 2_000)
    per_job = EVENTS_PER_JOB * event_s + SEGMENTS_PER_JOB * segment_s
    scrapes = JOB_SECONDS / SCRAPE_EVERY_S * scrape_s
    print(f"instrumentation per consumed event   {event_s * 1e6:8.2f} us")
    print(f"instrumentation per segment          {segment_s * 1e6:8.2f} us")
    print(f"rendering /metrics once              {scrape_s * 1e6:8.1f} us")
    share = (per_job + scrapes) / JOB_SECONDS
    print(
        f"share of a {JOB_SECONDS} s job (updates + scrapes every {SCRAPE_EVERY_S:.0f} s)"
        f"   {share * 100:.4f} %   target < 1 %"
    )


if __name__ == "__main__":
    main()
