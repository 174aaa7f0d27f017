"""postprocess: TranscriptReady -> CuesReady (text clean-up, then cues from word timestamps)."""

from __future__ import annotations

from streams.app import Pipeline, stage_agent
from streams.codec import Record
from streams.cues import Cue, CueRules, Word, build_cues, clean_words
from streams.jobs import Outgoing


def cues_for(transcript: Record, rules: CueRules) -> list[Cue]:
    words = clean_words(
        Word(w["word"], w["start"], w["end"], w["probability"])
        for segment in transcript["segments"]
        for w in segment["words"]
    )
    gaps = [(g["start"], g["end"]) for g in transcript["gaps"]]
    return build_cues(words, rules, gaps)


def cues_ready(transcript: Record, cues: list[Cue]) -> Outgoing:
    record = {
        "job_id": transcript["job_id"],
        "name": transcript["name"],
        "language": transcript["language"],
        "cues": [{"start": c.start, "end": c.end, "text": c.text} for c in cues],
    }
    return Outgoing("cues.ready", transcript["job_id"], "CuesReady", record)


def register(pipeline: Pipeline) -> None:
    rules = CueRules()

    async def handle(name: str, transcript: Record) -> list[Outgoing]:
        return [cues_ready(transcript, cues_for(transcript, rules))]

    stage_agent(pipeline, "postprocess", "transcripts.ready", handle)
