"""One example of every event, for round trips and schema checks."""

from __future__ import annotations

from datetime import UTC, datetime

from streams.events import (
    AudioReady,
    CueRecord,
    CuesReady,
    DecodeRequested,
    Event,
    Gap,
    JobCheck,
    JobRequested,
    JobState,
    JobStatus,
    PlannedSegment,
    SegmentDone,
    SegmentFailed,
    SegmentsPlanned,
    SegmentTranscribed,
    SpeechSegment,
    StageFailed,
    SubtitlesPublished,
    SubtitlesReady,
    TranscribedWord,
    TranscriptComplete,
)

WHEN = datetime(2026, 11, 26, 12, 0, tzinfo=UTC)
SEGMENT_ID = "j:0000-0000"
TRANSCRIBED = SegmentTranscribed(
    job_id="j",
    segment_id=SEGMENT_ID,
    index=0,
    start=1.0,
    end=2.0,
    text="hello",
    words=(TranscribedWord(word=" hello", start=1.0, end=1.5, probability=0.75),),
    language="en",
    model="tiny.en",
    model_version="faster-whisper 1.2.1",
    attempt=1,
    processing_seconds=0.5,
)


def corrupt_segment(job_id: str) -> SpeechSegment:
    """A segment whose audio is not int16 PCM (odd length): every attempt to transcribe fails."""
    return SpeechSegment(
        job_id=job_id,
        segment_id=f"{job_id}:0000-0000",
        index=0,
        start=0.0,
        end=1.0,
        sample_rate=16000,
        pcm=b"\x01\x02\x03",
    )


EXAMPLES: dict[str, Event] = {
    e.SCHEMA: e
    for e in (
        JobRequested(job_id="j", source="/a.mp4", name="a", language="en", requested_at=WHEN),
        DecodeRequested(job_id="j", source="/a.mp4", skip_segments=(SEGMENT_ID,)),
        JobCheck(job_id="j", checked_at=WHEN),
        AudioReady(
            job_id="j",
            window=0,
            last=True,
            sample_rate=16000,
            offset=2.0,
            duration=0.5,
            pcm=bytes(range(256)) * 4,
        ),
        SpeechSegment(
            job_id="j",
            segment_id=SEGMENT_ID,
            index=0,
            start=1.0,
            end=2.0,
            sample_rate=16000,
            pcm=b"\x01\x00\xff\xff",
        ),
        SegmentsPlanned(
            job_id="j",
            window=1,
            last=False,
            offset=120.0,
            duration=3.0,
            segments=(PlannedSegment(segment_id="j:0001-0000", index=10000, start=1.0, end=2.0),),
        ),
        TRANSCRIBED,
        SegmentFailed(
            job_id="j",
            segment_id=SEGMENT_ID,
            index=0,
            start=1.0,
            end=2.0,
            reason="bad",
            error_class="ValueError",
            attempts=3,
        ),
        StageFailed(job_id="j", stage="decode", reason="file is empty", error_class="MediaError"),
        TranscriptComplete(
            job_id="j",
            name="a",
            language="en",
            duration=3.0,
            segment_ids=(SEGMENT_ID,),
            gaps=(Gap(start=2.0, end=3.0),),
        ),
        CuesReady(
            job_id="j",
            name="a",
            language="en",
            cues=(CueRecord(start=1.0, end=2.0, text="hello\nworld"),),
        ),
        SubtitlesReady(
            job_id="j",
            name="a",
            language="en",
            cue_count=1,
            srt="1\n00:00:01,000 --> 00:00:02,000\nhello\n",
            vtt="WEBVTT\n",
        ),
        SubtitlesPublished(job_id="j", language="en", cue_count=1),
        SegmentDone(job_id="j", segment_id="j:0000-0000", attempt=1),
        JobStatus(
            job_id="j",
            name="a",
            source="/a.mp4",
            state=JobState.PARTIAL,
            segments_total=2,
            segments_done=1,
            segments_failed=1,
            reason="1 of 2 segments untranscribed",
            audio_seconds_total=10.0,
            audio_seconds_done=4.5,
            requested_at=WHEN,
            updated_at=WHEN,
        ),
    )
}
