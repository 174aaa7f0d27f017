"""decode: DecodeRequested -> one AudioReady per window of the media (16 kHz mono PCM, in order).

Windows go out as they are decoded, so speech detection and transcription of the first minutes
overlap the decoding of the rest, and no event has to hold hours of audio.

Up to ``decode_concurrency`` jobs are decoded at once (Faust actors sharing the input), each on
a thread of the stage's own pool: a source that hangs or trickles holds one actor and one
thread until its timeouts, and delays neither the other jobs nor the process's shared executor
(speech detection, transcription).
"""

from __future__ import annotations

import asyncio
import threading
from concurrent.futures import ThreadPoolExecutor

from agents.decode.media import AudioWindow, MediaError, decode_windows
from agents.decode.sources import SourceLimits
from agents.decode.stream_source import stream_windows
from streams.broker.topics import Outgoing
from streams.events.audio import SAMPLE_RATE, pcm_to_bytes
from streams.events.model import AudioReady, DecodeRequested
from streams.runtime.metrics import METRICS
from streams.runtime.stage import Stage
from streams.settings import KaptionSettings
from streams.sources import SourcePolicy, UnsafeSource, stream_of

INPUTS = ("decode.requested",)


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
        language=request.language,
        model=request.model,
        language_detection=request.language_detection,
        whisper_translate=request.whisper_translate,
        speakers=request.speakers,
    )


def source_limits(settings: KaptionSettings) -> SourceLimits:
    return SourceLimits(
        connect_timeout_s=settings.source_connect_timeout_s,
        read_timeout_s=settings.source_read_timeout_s,
        deadline_s=settings.decode_deadline_s or settings.job_deadline_s,
    )


def register(stage: Stage) -> None:
    settings = stage.settings
    window_s, limits = settings.audio_window_s, source_limits(settings)
    concurrency = settings.decode_concurrency
    # Any producer can publish a job: every source is checked on the decode thread (the check
    # may resolve a host name) before anything opens it; a refused one fails its job.
    policy = SourcePolicy.from_settings(settings)
    threads = ThreadPoolExecutor(concurrency, thread_name_prefix=f"kaption-{stage.name}")
    decoded_seconds = METRICS.audio_seconds.labels("decode")

    async def handle(request: DecodeRequested) -> list[Outgoing]:
        loop = asyncio.get_running_loop()
        gone = threading.Event()  # set when this handler ends, cancelled (shutdown) included
        if stream_of(request.source) is not None:  # a live stream's retained audio: a replay
            windows = stream_windows(request.source, settings, window_s, limits, gone.is_set)
        else:
            windows = decode_windows(
                request.source, window_s, limits=limits, should_stop=gone.is_set, policy=policy
            )
        try:
            while (window := await loop.run_in_executor(threads, next, windows, None)) is not None:
                await stage.publish(Outgoing("audio.ready", audio_ready(request, window)))
                decoded_seconds.inc(len(window.pcm) / SAMPLE_RATE)
        finally:
            gone.set()  # a decode still running on its thread stops at its next chunk
        return []

    expected = (MediaError, UnsafeSource)  # bad input: the job fails with the reason
    stage.agent(INPUTS, handle, expected_errors=expected, concurrency=concurrency)
