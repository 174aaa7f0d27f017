"""decode: DecodeRequested -> AudioReady (16 kHz mono PCM of the whole media)."""

from __future__ import annotations

from streams.app import Pipeline, stage_agent
from streams.codec import Record
from streams.jobs import Outgoing
from streams.media import DecodedAudio, MediaError, decode_audio


def audio_ready(job_id: str, audio: DecodedAudio, max_bytes: int) -> Outgoing:
    pcm = audio.pcm.astype("<i2").tobytes()
    if len(pcm) > max_bytes:
        raise MediaError(
            f"audio is {audio.duration:.0f} s ({len(pcm)} bytes decoded), over the "
            f"{max_bytes}-byte event limit (KAPTION_MAX_AUDIO_BYTES)"
        )
    record = {
        "job_id": job_id,
        "sample_rate": audio.sample_rate,
        "offset": audio.offset,
        "duration": audio.duration,
        "pcm": pcm,
    }
    return Outgoing("audio.ready", job_id, "AudioReady", record)


def register(pipeline: Pipeline) -> None:
    async def handle(name: str, record: Record) -> list[Outgoing]:
        audio = await pipeline.run_blocking(decode_audio, record["source"])
        return [audio_ready(record["job_id"], audio, pipeline.settings.max_audio_bytes)]

    stage_agent(pipeline, "decode", "decode.requested", handle, expected_errors=(MediaError,))
