"""decode: DecodeRequested -> one AudioReady per window of the media (16 kHz mono PCM, in order).

Windows go out as they are decoded, so speech detection and transcription of the first minutes
overlap the decoding of the rest, and no event has to hold hours of audio.
"""

from __future__ import annotations

from streams.app import Pipeline, stage_agent
from streams.codec import Record
from streams.jobs import Outgoing
from streams.media import SAMPLE_RATE, AudioWindow, MediaError, decode_windows


def audio_ready(job_id: str, window: AudioWindow) -> Outgoing:
    record = {
        "job_id": job_id,
        "window": window.index,
        "last": window.last,
        "sample_rate": SAMPLE_RATE,
        "offset": window.offset,
        "duration": len(window.pcm) / SAMPLE_RATE,
        "pcm": window.pcm.astype("<i2").tobytes(),
    }
    return Outgoing("audio.ready", job_id, "AudioReady", record)


def register(pipeline: Pipeline) -> None:
    async def handle(name: str, record: Record) -> list[Outgoing]:
        windows = decode_windows(record["source"], pipeline.settings.audio_window_s)
        while (window := await pipeline.run_blocking(next, windows, None)) is not None:
            await pipeline.send(audio_ready(record["job_id"], window))
        return []

    stage_agent(pipeline, "decode", "decode.requested", handle, expected_errors=(MediaError,))
