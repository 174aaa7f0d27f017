"""subtitles: CuesReady -> SubtitlesReady (SRT and WebVTT, written with pysubs2) for clients,
then SubtitlesPublished (a few bytes) for the orchestrator."""

from __future__ import annotations

from agents.subtitles.render import to_srt, to_vtt
from streams.broker.topics import Outgoing
from streams.events.model import CuesReady, SubtitlesPublished, SubtitlesReady
from streams.runtime.stage import Stage

INPUTS = ("cues.ready",)


def subtitles(cues: CuesReady) -> list[Outgoing]:
    ready = SubtitlesReady(
        job_id=cues.job_id,
        name=cues.name,
        language=cues.language,
        cue_count=len(cues.cues),
        srt=to_srt(cues.cues),
        vtt=to_vtt(cues.cues, cues.language),
        translated=cues.translated,
        cues=cues.cues,  # with their speaker labels: clients reading JSON get them here
    )
    published = SubtitlesPublished(
        job_id=cues.job_id,
        language=cues.language,
        cue_count=len(cues.cues),
        translated=cues.translated,
    )
    # Files first: once the orchestrator hears of them, the job is done.
    return [Outgoing("subtitles.ready", ready), Outgoing("subtitles.published", published)]


def register(stage: Stage) -> None:
    async def handle(cues: CuesReady) -> list[Outgoing]:
        return subtitles(cues)

    stage.agent(INPUTS, handle)
