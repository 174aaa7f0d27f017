"""transcribe-shadow: a second model on the same segments, for comparison only.

``KAPTION_SHADOW_MODEL=NAME kaption worker --role transcribe-shadow`` reads ``segments`` (and
the finals of ``live.segments``) in a consumer group of its own (its app id names the model, so
two shadow models can run), transcribes them with NAME through the file lane's functions, at a
lower CPU priority (``shadow_nice``) on a thread of its own, and publishes to
``shadow.transcripts`` / ``shadow.live.transcripts`` only: nothing users' results come from.
A segment it cannot transcribe is skipped and counted, never failed: the job is not its own.
`kaption models compare` reads both sides.
"""

from __future__ import annotations

import logging
import os
import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

from faster_whisper import WhisperModel

from agents.transcribe.agent import (
    Done,
    configured_batch_size,
    configured_threads,
    transcribe_segments,
    transcribed,
)
from agents.transcribe.batcher import Batcher
from agents.transcribe.live_agent import Context, live_transcript, transcribe_live
from agents.transcribe.whisper import Transcript, load_model
from streams.broker.topics import Outgoing
from streams.events.model import LiveKind, LiveSegment, SpeechSegment
from streams.models.catalog import ModelSpec, model_path
from streams.models.control import SHADOW_LIVE_TOPIC, SHADOW_TOPIC
from streams.models.serving import ModelServer
from streams.runtime.metrics import METRICS
from streams.runtime.stage import Stage
from streams.settings import KaptionSettings

FILE_INPUT, LIVE_INPUT = "segments", "live.segments"
INPUTS = (FILE_INPUT, LIVE_INPUT)
STAGE = "transcribe-shadow"
LANE = "shadow"

log = logging.getLogger(__name__)
T = TypeVar("T")


def shadow_model(settings: KaptionSettings, spec: ModelSpec, live: bool = False) -> WhisperModel:
    """The shadow's own instance (its lane), its threads at ``shadow_nice``; ``live``: with
    the live lane's encoder window, so live phrases are transcribed as the live lane does."""
    return load_model(
        str(model_path(spec)),
        spec.device or settings.whisper_device,
        spec.compute_type or settings.whisper_compute_type,
        configured_threads(settings),
        f"{LANE}-live" if live else LANE,
        settings.shadow_nice,
        settings.live_encoder_window_s if live else 0,
    )


def niced(nice: int, fn: Callable[[], T]) -> T:
    """Runs ``fn`` with this thread at ``nice`` at least (Linux: a thread's own priority;
    feature extraction runs here, the model's threads were created niced)."""
    if hasattr(os, "setpriority"):
        thread = threading.get_native_id()
        if os.getpriority(os.PRIO_PROCESS, thread) < nice:
            os.setpriority(os.PRIO_PROCESS, thread, nice)
    return fn()


def register(stage: Stage) -> None:
    settings, platform = stage.settings, stage.platform
    if not settings.shadow_model:
        raise ValueError("role transcribe-shadow needs KAPTION_SHADOW_MODEL (a declared model)")
    server: ModelServer[WhisperModel] = ModelServer(
        stage, lambda spec: shadow_model(settings, spec), follow=False, model=settings.shadow_model
    )
    server.start()
    skipped = METRICS.retries.labels(STAGE, "Skipped")
    context = Context(settings.live_context_s)  # as the live lane has it

    def run(segments: Sequence[SpeechSegment]) -> list[Done]:
        # Every segment gets the shadow model, whatever model its job named.
        return transcribe_segments(settings, segments, lambda name: server.current(), False)

    async def run_batch(segments: Sequence[SpeechSegment]) -> list[Done]:
        done = await platform.run_in_lane(LANE, niced, settings.shadow_nice, lambda: run(segments))
        METRICS.audio_seconds.labels(STAGE).inc(sum(s.end - s.start for s in segments))
        return done

    batch_size = configured_batch_size(settings)
    batcher: Batcher[SpeechSegment, Done] = Batcher(
        run_batch, batch_size, settings.transcribe_batch_max_wait_ms / 1000
    )

    def skip(exc: Exception) -> list[Outgoing]:  # not the users' path: skip it, say so
        skipped.inc()
        log.warning("shadow %s: skipped a segment: %s", settings.shadow_model, exc)
        return []

    async def handle(segment: SpeechSegment) -> list[Outgoing]:
        try:
            done = await batcher.submit(segment)
        except Exception as exc:
            return skip(exc)
        result = transcribed(segment, done, 1)
        return [Outgoing(SHADOW_TOPIC, result)]

    async def handle_live(segment: LiveSegment) -> list[Outgoing]:
        if not segment.final:  # interims are drafts of the final: compared there
            return []
        try:
            return await transcribe_final(segment)
        except Exception as exc:
            return skip(exc)

    async def transcribe_final(segment: LiveSegment) -> list[Outgoing]:
        spec, _ = server.current()
        heard = context.heard(segment)

        def run_live() -> tuple[Transcript, float]:
            serving = spec, shadow_model(settings, spec, live=True)  # loaded once, then cached
            return transcribe_live(settings, segment, heard, serving)

        transcript, took = await platform.run_in_lane(LANE, niced, settings.shadow_nice, run_live)
        context.remember(segment, transcript.text, transcript.language)
        result = live_transcript(segment, LiveKind.FINAL, transcript, spec, took)
        return [Outgoing(SHADOW_LIVE_TOPIC, result)]

    # A shadow's failure must touch nothing of the users' path: no segments.failed.
    # The primary's group dead-letters what cannot be read; a shadow only logs it.
    stage.agent(
        FILE_INPUT,
        handle,
        on_failure=lambda key, error: [],
        concurrency=2 * batch_size,
        dead_letters=False,
    )
    # Live phrases one at a time, in order, as the live lane takes them: its prompt is the
    # stream's previous final.
    stage.agent(
        LIVE_INPUT, handle_live, on_failure=lambda key, error: [], name="live", dead_letters=False
    )
