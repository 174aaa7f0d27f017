"""Every Prometheus metric a kaption process exports, defined once (prometheus-client).

Names: ``kaption_`` prefix, base units (seconds, bytes), ``_total`` for counters (the client adds
it), labels with small fixed value sets only (stage, topic, outcome, reason, state): never a job,
segment or stream id. Histogram buckets reach minutes, since inference of long segments on a
CPU can take that long. Processes also export the client's standard ``process_*`` metrics.
"""

from __future__ import annotations

from collections.abc import Callable

from prometheus_client import REGISTRY, CollectorRegistry, Counter, Gauge, Histogram, Info

# Waiting in Kafka and processing one event: milliseconds (a hop) to minutes (a backlog, a long
# inference).
TIME_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 600)
# Compute time over audio time: 0.05 is 20 times faster than real time, 2 twice slower.
RTF_BUCKETS = (0.01, 0.02, 0.05, 0.1, 0.15, 0.2, 0.3, 0.5, 0.75, 1, 1.5, 2, 5, 10)
# Job end to end: seconds to hours.
JOB_BUCKETS = (1, 2.5, 5, 10, 20, 30, 60, 120, 300, 600, 1200, 1800, 3600, 7200, 14400)
# Live captions: from the capture of the audio that ends a word to its publication.
LIVE_BUCKETS = (0.1, 0.25, 0.5, 0.75, 1, 1.5, 2, 2.5, 3, 4, 5, 7.5, 10, 20)
BATCH_BUCKETS = (1, 2, 4, 8, 16, 32, 64)

# Outcomes of an event a stage consumed.
OK = "ok"  # handled; its results were published
BAD_INPUT = "bad_input"  # the job failed with a reason (e.g. not a media file); no dead letter
DEAD_LETTER = "dead_letter"  # undecodable, wrong type, or an error: dead-lettered
OUTCOMES = (OK, BAD_INPUT, DEAD_LETTER)
# first/final: the source words' first (interim) and final publication; translated: the same
# words' publication in a target language (translate-live; finals only).
LIVE_KINDS = ("first", "final", "translated")


class Metrics:
    """The catalogue. One instance per registry: the process's default one in production, a
    private one in tests that must not share state."""

    def __init__(self, registry: CollectorRegistry) -> None:
        self.build = Info(
            "kaption_build",
            "kaption version, its faster-whisper version and the configured model",
            registry=registry,
        )
        self.events = Counter(
            "kaption_stage_events",
            "Events a stage consumed, by outcome",
            ["stage", "outcome"],
            registry=registry,
        )
        self.published = Counter(
            "kaption_stage_events_published",
            "Events a stage published, by topic",
            ["stage", "topic"],
            registry=registry,
        )
        self.queue_seconds = Histogram(
            "kaption_stage_queue_seconds",
            "How long an event waited in Kafka before the stage picked it up (from the record's"
            " produce timestamp)",
            ["stage"],
            buckets=TIME_BUCKETS,
            registry=registry,
        )
        self.processing_seconds = Histogram(
            "kaption_stage_processing_seconds",
            "How long a stage took over one event, publishing included",
            ["stage"],
            buckets=TIME_BUCKETS,
            registry=registry,
        )
        self.dead_letters = Counter(
            "kaption_dead_letters",
            "Records sent to a dead-letter topic, by stage and error class",
            ["stage", "reason"],
            registry=registry,
        )
        self.retries = Counter(
            "kaption_retries",
            "Failed attempts that were tried again, by stage and error class",
            ["stage", "reason"],
            registry=registry,
        )
        self.audio_seconds = Counter(
            "kaption_audio_seconds",
            "Seconds of audio a stage processed (decoded, searched for speech, transcribed)",
            ["stage"],
            registry=registry,
        )
        self.inference_seconds = Histogram(
            "kaption_inference_seconds",
            "Compute time of one model call (speech detection of a window, transcription of a"
            " segment or batch)",
            ["stage"],
            buckets=TIME_BUCKETS,
            registry=registry,
        )
        self.real_time_factor = Histogram(
            "kaption_inference_real_time_factor",
            "Compute time over audio time of one model call (below 1: faster than real time)",
            ["stage"],
            buckets=RTF_BUCKETS,
            registry=registry,
        )
        self.batch_size = Histogram(
            "kaption_batch_size",
            "Segments per model call",
            ["stage"],
            buckets=BATCH_BUCKETS,
            registry=registry,
        )
        self.model_load_seconds = Gauge(
            "kaption_model_load_seconds",
            "How long loading the model took in this process",
            ["stage"],
            registry=registry,
        )
        self.model_serving = Gauge(
            "kaption_model_serving",
            "1 for the model (name@version) a stage serves in this process now, 0 for those it"
            " served before (`kaption models use` switches it)",
            ["stage", "model"],
            registry=registry,
        )
        self.model_switches = Counter(
            "kaption_model_switches",
            "Model switches a stage made (served) or refused because the model did not load"
            " (failed: the old one serves on)",
            ["stage", "outcome"],
            registry=registry,
        )
        self.jobs = Gauge(
            "kaption_jobs",
            "Jobs in the orchestrator's table (of this process's partitions), by state",
            ["state"],
            registry=registry,
        )
        self.jobs_finished = Counter(
            "kaption_jobs_finished",
            "Jobs that reached a final state",
            ["state"],
            registry=registry,
        )
        self.job_duration_seconds = Histogram(
            "kaption_job_duration_seconds",
            "From a job's request to its final state",
            ["state"],
            buckets=JOB_BUCKETS,
            registry=registry,
        )
        self.live_latency_seconds = Histogram(
            "kaption_live_caption_latency_seconds",
            "From the capture of the audio that ends a word to the word's first (interim) or"
            " final publication, or its translated one",
            ["kind"],
            buckets=LIVE_BUCKETS,
            registry=registry,
        )
        self.live_translation_failures = Counter(
            "kaption_live_translation_failures",
            "Live finals a target language has a gap for instead of a translation, by error"
            " class (an unusable pair or model also stops that language for the stream)",
            ["reason"],
            registry=registry,
        )
        self.ready = Gauge(
            "kaption_ready",
            "1 when this process is ready: broker reachable, groups joined, model loaded",
            registry=registry,
        )
        for kind in LIVE_KINDS:  # every series exists before a stream's first final word
            self.live_latency_seconds.labels(kind)


METRICS = Metrics(REGISTRY)


def inference_observer(stage: str) -> Callable[[float, float], None]:
    """Records one model call of ``stage``: (seconds of audio, seconds it took) into its audio
    seconds, inference time and real-time factor."""
    audio_seconds = METRICS.audio_seconds.labels(stage)
    inference_seconds = METRICS.inference_seconds.labels(stage)
    real_time_factor = METRICS.real_time_factor.labels(stage)

    def observe(audio_s: float, took: float) -> None:
        audio_seconds.inc(audio_s)
        inference_seconds.observe(took)
        if audio_s > 0:
            real_time_factor.observe(took / audio_s)

    return observe
