"""Planning one audio window: its speech segments, each with its own audio, and the plan (ids
and times only) that tells the orchestrator what to expect."""

from __future__ import annotations

import numpy as np
from faster_whisper.vad import VadOptions

from agents.vad.speech import cut, detect_speech, merge_spans
from streams.events.audio import pcm_to_bytes
from streams.events.ids import SegmentId
from streams.events.model import PlannedSegment, SegmentsPlanned, SpeechSegment


def speech_segments(
    job_id: str,
    window: int,
    pcm: np.ndarray,
    sample_rate: int,
    offset: float,
    options: VadOptions,
    max_segment_s: float,
    max_gap_s: float,
) -> list[SpeechSegment]:
    """Speech segments of one audio window, with absolute media times and their own PCM."""
    spans = merge_spans(detect_speech(pcm, sample_rate, options), max_segment_s, max_gap_s)
    segments = []
    for position, span in enumerate(spans):
        segment_id = SegmentId(job_id, window, position)
        segments.append(
            SpeechSegment(
                job_id=job_id,
                segment_id=str(segment_id),
                index=segment_id.index,
                start=offset + span.start,
                end=offset + span.end,
                sample_rate=sample_rate,
                pcm=pcm_to_bytes(cut(pcm, sample_rate, span)),
            )
        )
    return segments


def plan(
    job_id: str,
    window: int,
    last: bool,
    offset: float,
    duration: float,
    segments: list[SpeechSegment],
) -> SegmentsPlanned:
    return SegmentsPlanned(
        job_id=job_id,
        window=window,
        last=last,
        offset=offset,
        duration=duration,
        segments=tuple(
            PlannedSegment(segment_id=s.segment_id, index=s.index, start=s.start, end=s.end)
            for s in segments
        ),
    )
