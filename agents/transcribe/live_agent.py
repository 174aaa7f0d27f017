"""transcribe-live: LiveSegment -> LiveTranscript (interim or final), the live lane.

The same model and code as file transcription, in a consumer group of its own on its own topic
(a file backlog never delays a live caption) and on a thread of its own (a live phrase never
waits for a file batch to leave the shared executor). Segments go one at a time, in order: a
stream's phrases are short and each model call costs about the same whatever its length. An
interim that waited longer than ``live_interim_max_age_s`` is skipped: a newer one is on its
way. A final that cannot be transcribed becomes a gap with the reason, so the stream's captions
go on.
"""

from __future__ import annotations

import logging
import time
from collections import OrderedDict

import numpy as np
from faster_whisper import WhisperModel

from agents.transcribe.agent import (
    configured_model,
    configured_screening,
    default_spec,
    live_language,
    preload,
    retry_policy,
)
from agents.transcribe.whisper import Clip, Transcript, transcribe_batch
from streams.broker.topics import Outgoing
from streams.events.audio import SAMPLE_RATE, pcm_from_bytes
from streams.events.model import LiveKind, LiveSegment, LiveTranscript
from streams.models.catalog import ModelSpec
from streams.models.serving import ModelServer
from streams.runtime.metrics import METRICS
from streams.runtime.stage import Stage, reason
from streams.settings import KaptionSettings

INPUTS = ("live.segments",)
LANE = "live"

log = logging.getLogger(__name__)


def transcribe_live(
    settings: KaptionSettings,
    segment: LiveSegment,
    prompt: str,
    serving: tuple[ModelSpec, WhisperModel] | None = None,
) -> tuple[Transcript, float]:
    """One phrase with ``serving`` (the stage's current model; default: the deployment's)."""
    spec, model = serving or (default_spec(settings), configured_model(settings, LANE))
    started = time.perf_counter()
    [transcript] = transcribe_batch(
        model,
        [Clip(pcm_from_bytes(segment.pcm), segment.start)],
        segment.sample_rate,
        live_language(settings, spec),
        settings.whisper_beam_size,
        prompt,
        # The prompt is the last final text: a made-up line let through would be echoed.
        configured_screening(settings),
        # Not continued: a phrase ends at a short silence, before a pause that could end
        # Whisper's text early, and an interim's audio ends mid-speech (its next interim hears it).
        unheard_tail_s=None,
    )
    return transcript, time.perf_counter() - started


class Context:
    """The last final words of each stream this worker transcribed, as the prompt for its next
    call: a phrase cut at a short pause is transcribed knowing what came before (5-min
    benchmark: WER 0.214 -> 0.168 in simulation). Bounded: the last few words of the
    most recent streams. A restarted worker starts without it, which costs accuracy only."""

    WORDS = 24
    STREAMS = 1000

    def __init__(self) -> None:
        self.texts: OrderedDict[str, str] = OrderedDict()

    def prompt(self, stream_id: str) -> str:
        return self.texts.get(stream_id, "")

    def remember(self, stream_id: str, text: str) -> None:
        words = (self.prompt(stream_id) + " " + text).split()[-self.WORDS :]
        self.texts[stream_id] = " ".join(words)
        self.texts.move_to_end(stream_id)
        while len(self.texts) > self.STREAMS:
            self.texts.popitem(last=False)


def live_transcript(
    segment: LiveSegment,
    kind: LiveKind,
    transcript: Transcript | None,
    model: ModelSpec,
    took: float,
    why: str = "",
) -> LiveTranscript:
    return LiveTranscript(
        stream_id=segment.stream_id,
        seq=segment.seq,
        revision=segment.revision,
        kind=kind,
        start=segment.start,
        end=segment.end,
        capture_end=segment.capture_end,
        source_offset=segment.source_offset,
        text=transcript.text if transcript else "",
        words=transcript.words if transcript else (),
        model=model.name,
        model_version=model.version,
        processing_seconds=took,
        reason=why,
        speaker=segment.speaker,
    )


def warm_up(settings: KaptionSettings, spec: ModelSpec | None = None) -> WhisperModel:
    """The model loaded and one call made on a second of silence: the first call allocates
    CTranslate2's buffers (tens of MB, most of a second), which would otherwise delay the first
    live caption."""
    model = preload(settings, LANE, spec)
    transcribe_batch(
        model,
        [Clip(np.zeros(SAMPLE_RATE, dtype=np.int16), 0.0)],
        SAMPLE_RATE,
        live_language(settings, spec or default_spec(settings)),
        settings.whisper_beam_size,
    )
    return model


def register(stage: Stage) -> None:
    settings, platform = stage.settings, stage.platform
    # The lane's current model, switched by `kaption models use transcribe-live NAME`.
    server = ModelServer(stage, lambda spec: warm_up(settings, spec), check="live model loaded")
    server.start()
    audio_seconds = METRICS.audio_seconds.labels("transcribe-live")
    inference_seconds = METRICS.inference_seconds.labels("transcribe-live")
    skipped = METRICS.retries.labels("transcribe-live", "StaleInterim")
    context = Context()

    async def handle(segment: LiveSegment) -> list[Outgoing]:
        if not segment.final and time.time() - segment.sent_at > settings.live_interim_max_age_s:
            skipped.inc()
            return []
        kind = LiveKind.FINAL if segment.final else LiveKind.INTERIM
        try:
            # Interims get the prompt too: hypotheses that read like the final agree with it
            # sooner (5-min benchmark: first appearance p95 3.1 -> 2.6 s, for 10 % more compute).
            prompt = context.prompt(segment.stream_id)
            serving = await platform.run_in_lane("live-transcribe", server.current)
            transcript, took = await platform.run_in_lane(
                "live-transcribe", transcribe_live, settings, segment, prompt, serving
            )
        except Exception as exc:
            if segment.final:
                raise  # tried again as the policy says, then a gap with the reason
            log.warning("stream %s interim %d: %s", segment.stream_id, segment.seq, exc)
            return []  # an interim is not worth a retry: a newer one is on its way
        if segment.final:
            context.remember(segment.stream_id, transcript.text)
        audio_seconds.inc(segment.end - segment.start)
        inference_seconds.observe(took)
        result = live_transcript(segment, kind, transcript, serving[0], took)
        return [Outgoing("live.transcripts", result)]

    def gap(segment: LiveSegment, error: BaseException) -> list[Outgoing]:
        """A final that could not be transcribed: a gap with the reason, so captions go on."""
        why = f"transcription failed: {reason(getattr(error, 'cause', error))}"
        spec = server.current_spec() or default_spec(settings)
        return [
            Outgoing(
                "live.transcripts", live_transcript(segment, LiveKind.GAP, None, spec, 0.0, why)
            )
        ]

    stage.agent(
        INPUTS,
        handle,
        on_failure=lambda key, error: [],
        retry=retry_policy(settings),
        give_up=gap,
    )
