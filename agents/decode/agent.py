"""decode: DecodeRequested -> one AudioReady per window of the media (16 kHz mono PCM, in order).

Windows go out as they are decoded, so speech detection and transcription of the first minutes
overlap the decoding of the rest, and no event has to hold hours of audio.
"""

from __future__ import annotations

from agents.decode.media import AudioWindow, MediaError, decode_windows
from streams.audio import SAMPLE_RATE, pcm_to_bytes
from streams.events import AudioReady, DecodeRequested
from streams.metrics import METRICS
from streams.stage import Stage
from streams.topics import Outgoing


def audio_ready(request: DecodeRequested, window: AudioWindow) -> AudioReady:
    return AudioReady(
        job_id=request.job_id,
        window=window.index,
        last=window.last,
        sample_rate=SAMPLE_RATE,
        offset=window.offset,
        duration=len(window.pcm) / SAMPLE_RATE,
        pcm=pcm_to_bytes(window.pcm),
        skip_segments=request.skip_segments,
    )


def register(stage: Stage) -> None:
    platform, window_s = stage.platform, stage.settings.audio_window_s
    decoded_seconds = METRICS.audio_seconds.labels("decode")

    async def handle(request: DecodeRequested) -> list[Outgoing]:
        windows = decode_windows(request.source, window_s)
        while (window := await platform.run_blocking(next, windows, None)) is not None:
            await stage.publish(Outgoing("audio.ready", audio_ready(request, window)))
            decoded_seconds.inc(len(window.pcm) / SAMPLE_RATE)
        return []

    stage.agent("decode.requested", handle, expected_errors=(MediaError,))
