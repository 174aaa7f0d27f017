"""cues: gathers each job's words, then TranscriptComplete -> CuesReady (clean-up, cue rules),
and a TranslateRequested per target language for the translate stage, except English that
Whisper translated where the speech was transcribed: its CuesReady (NAME.en) goes out here.

Reads the transcription results (keeping their words, by segment id, in a changelog-backed
table), the orchestrator's TranscriptComplete (which segments, which gaps) and the job status
(a finished job's words are forgotten). All three are keyed by job id and co-partitioned, so one
worker holds everything of a job.
"""

from __future__ import annotations

from agents.cues.model import CueRules
from agents.cues.transcript import (
    missing,
    speaker_windows,
    transcript,
    translations,
    whisper_cues,
)
from streams.broker.topics import Outgoing
from streams.events.ids import job_prefix
from streams.events.model import (
    Event,
    JobStatus,
    SegmentTranscribed,
    SpeakersFound,
    TranscriptComplete,
)
from streams.events.states import FINAL_STATES
from streams.job_options import translation_pairs, whisper_sources
from streams.runtime.stage import Stage

INPUTS = ("segments.transcribed", "transcripts.complete", "jobs.status", "speakers.found")


def register(stage: Stage) -> None:
    rules = CueRules()
    codec = stage.platform.codec
    partitions = stage.partitions(INPUTS)
    transcripts = stage.table("cues.transcripts", partitions, raw=True)  # segment id -> event
    completes = stage.table("cues.complete", partitions, raw=True)  # job id -> event
    # Whose English Whisper makes (translation.yaml), decided here again with the language
    # speech detection found.
    whisper = whisper_sources(stage.settings.translation_file)
    pairs = translation_pairs(stage.settings.translation_file)
    speakers = stage.table("cues.speakers", partitions, raw=True)  # <job>:<window> -> event
    threshold = stage.settings.speaker_threshold

    def window_key(job_id: str, window: int) -> str:
        return f"{job_prefix(job_id)}{window}"

    def build(complete: TranscriptComplete) -> list[Outgoing]:
        if missing(complete, lambda segment_id: segment_id in transcripts):
            return []  # the last words are still on their way
        if speaker_windows(complete, lambda w: window_key(complete.job_id, w) in speakers):
            return []  # so are the last speakers (the orchestrator has seen them)
        segments = [
            codec.decode_as(SegmentTranscribed, transcripts[segment_id])
            for segment_id in complete.segment_ids
        ]
        found = [
            codec.decode_as(SpeakersFound, speakers[window_key(complete.job_id, w)])
            for w in (complete.speaker_windows if complete.speakers else ())
        ]
        ready, languages = transcript(complete, segments, rules, found, threshold)
        english = whisper_cues(complete, segments, rules, whisper, pairs)
        tasks = translations(complete, ready, english, languages)
        return [Outgoing("cues.ready", ready), *tasks]

    def on_result(result: SegmentTranscribed) -> list[Outgoing]:
        if result.segment_id not in transcripts:  # the first result of a segment stays
            transcripts[result.segment_id] = codec.encode(result)
        # Even for a result seen before: its first reading may have been stored but its cues
        # never sent (a crash in between), and this is the one reading that completes the job.
        stored = completes.get(result.job_id)
        if stored is None:
            return []
        complete = codec.decode_as(TranscriptComplete, stored)
        return build(complete) if result.segment_id in complete.segment_ids else []

    def on_speakers(found: SpeakersFound) -> list[Outgoing]:
        key = window_key(found.job_id, found.window)
        if found.error or key in speakers:
            return []  # a failed window's words go unlabelled; the first reading stays
        speakers[key] = codec.encode(found)
        stored = completes.get(found.job_id)
        if stored is None:
            return []
        complete = codec.decode_as(TranscriptComplete, stored)
        return build(complete) if found.window in complete.speaker_windows else []

    def on_complete(complete: TranscriptComplete) -> list[Outgoing]:
        completes[complete.job_id] = codec.encode(complete)
        return build(complete)  # a re-drive sends it again: the cues are built again

    def on_status(status: JobStatus) -> list[Outgoing]:
        if status.state in FINAL_STATES:
            prefix = job_prefix(status.job_id)
            for segment_id in [key for key in transcripts if key.startswith(prefix)]:
                del transcripts[segment_id]
            for key in [key for key in speakers if key.startswith(prefix)]:
                del speakers[key]
            if status.job_id in completes:
                del completes[status.job_id]
        return []

    async def handle(event: Event) -> list[Outgoing]:
        if isinstance(event, SegmentTranscribed):
            return on_result(event)
        if isinstance(event, TranscriptComplete):
            return on_complete(event)
        if isinstance(event, JobStatus):
            return on_status(event)
        if isinstance(event, SpeakersFound):
            return on_speakers(event)
        return []

    stage.agent(INPUTS, handle)
