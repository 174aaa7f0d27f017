"""vad: AudioReady -> SegmentsPlanned (speech segments of at most 30 s, each with its audio)."""

from __future__ import annotations

import numpy as np
from faster_whisper.vad import VadOptions

from streams.app import Pipeline, stage_agent
from streams.codec import Record
from streams.jobs import Outgoing
from streams.media import pcm_from_bytes
from streams.settings import KaptionSettings
from streams.speech import cut, detect_speech, merge_spans


def vad_options(settings: KaptionSettings) -> VadOptions:
    return VadOptions(
        threshold=settings.vad_threshold,
        min_silence_duration_ms=settings.vad_min_silence_ms,
        speech_pad_ms=settings.vad_speech_pad_ms,
        max_speech_duration_s=settings.max_segment_s,
    )


def plan_segments(
    job_id: str,
    pcm: np.ndarray,
    sample_rate: int,
    offset: float,
    settings: KaptionSettings,
    window: int = 0,
) -> list[Record]:
    """Speech segments of one audio window, with absolute media times and their own PCM."""
    spans = merge_spans(
        detect_speech(pcm, sample_rate, vad_options(settings)),
        settings.max_segment_s,
        settings.max_merge_gap_s,
    )
    return [
        {
            "job_id": job_id,
            "segment_id": f"{job_id}:{window:04d}-{index:04d}",
            "index": window * 10_000 + index,
            "start": offset + span.start,
            "end": offset + span.end,
            "sample_rate": sample_rate,
            "pcm": cut(pcm, sample_rate, span).astype("<i2").tobytes(),
        }
        for index, span in enumerate(spans)
    ]


def register(pipeline: Pipeline) -> None:
    def plan(record: Record) -> Outgoing:
        pcm = pcm_from_bytes(record["pcm"])
        segments = plan_segments(
            record["job_id"],
            pcm,
            record["sample_rate"],
            record["offset"],
            pipeline.settings,
            record["window"],
        )
        planned = {
            **{k: record[k] for k in ("job_id", "window", "last", "offset", "duration")},
            "segments": segments,
        }
        return Outgoing("segments.planned", record["job_id"], "SegmentsPlanned", planned)

    async def handle(name: str, record: Record) -> list[Outgoing]:
        return [await pipeline.run_blocking(plan, record)]

    stage_agent(pipeline, "vad", "audio.ready", handle)
