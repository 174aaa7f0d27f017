"""sync: CuesReady -> SubtitlesReady (SRT and WebVTT text, written with pysubs2)."""

from __future__ import annotations

from streams.app import Pipeline, stage_agent
from streams.codec import Record
from streams.cues import Cue
from streams.jobs import Outgoing
from streams.subtitles import to_srt, to_vtt


def subtitles_ready(cues_record: Record) -> Outgoing:
    cues = [Cue(c["start"], c["end"], tuple(c["text"].split("\n"))) for c in cues_record["cues"]]
    record = {
        "job_id": cues_record["job_id"],
        "name": cues_record["name"],
        "language": cues_record["language"],
        "cue_count": len(cues),
        "srt": to_srt(cues),
        "vtt": to_vtt(cues),
    }
    return Outgoing("subtitles.ready", cues_record["job_id"], "SubtitlesReady", record)


def register(pipeline: Pipeline) -> None:
    async def handle(name: str, cues_record: Record) -> list[Outgoing]:
        return [subtitles_ready(cues_record)]

    stage_agent(pipeline, "sync", "cues.ready", handle)
