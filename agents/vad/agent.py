"""vad: AudioReady -> a SpeechSegment per speech span, straight to transcription, and
SegmentsPlanned (ids and times, no audio) to the orchestrator. A job that asks for its language
to be detected gets it here, from its first speech (agents/vad/language.py)."""

from __future__ import annotations

import time
from dataclasses import replace

from faster_whisper.vad import VadOptions

from agents.vad.language import job_language
from agents.vad.plan import plan, speech_segments
from streams.broker.topics import Outgoing
from streams.events.audio import pcm_from_bytes
from streams.events.model import AudioReady
from streams.runtime.metrics import METRICS
from streams.runtime.stage import Stage
from streams.settings import KaptionSettings

INPUTS = ("audio.ready",)


def vad_options(settings: KaptionSettings) -> VadOptions:
    return VadOptions(
        threshold=settings.vad_threshold,
        min_silence_duration_ms=settings.vad_min_silence_ms,
        speech_pad_ms=settings.vad_speech_pad_ms,
        max_speech_duration_s=settings.max_segment_s,
    )


def register(stage: Stage) -> None:
    settings = stage.settings
    options = vad_options(settings)
    audio_seconds = METRICS.audio_seconds.labels("vad")
    inference_seconds = METRICS.inference_seconds.labels("vad")
    real_time_factor = METRICS.real_time_factor.labels("vad")

    def outgoing(audio: AudioReady, known: str | None) -> tuple[list[Outgoing], str]:
        started = time.perf_counter()
        segments = speech_segments(
            audio.job_id,
            audio.window,
            pcm_from_bytes(audio.pcm),
            audio.sample_rate,
            audio.offset,
            options,
            settings.max_segment_s,
            settings.max_merge_gap_s,
        )
        language = job_language(audio, segments, known, settings)
        # "segment": each segment's own language, found where it is transcribed.
        per_segment = audio.language_detection == "segment"
        segments = [
            replace(
                s,
                language="" if per_segment else language,
                model=audio.model,
                whisper_translate=audio.whisper_translate,
            )
            for s in segments
        ]
        took = time.perf_counter() - started
        audio_seconds.inc(audio.duration)
        inference_seconds.observe(took)
        if audio.duration > 0:
            real_time_factor.observe(took / audio.duration)
        planned = plan(
            audio.job_id, audio.window, audio.last, audio.offset, audio.duration, segments
        )
        planned = replace(planned, language=language)
        skip = set(audio.skip_segments)  # a re-drive: these are accounted for already
        # The plan goes first: the orchestrator knows what to expect before results arrive.
        return [
            Outgoing("segments.planned", planned),
            # Weighted by audio: an even spread over the transcription workers' partitions.
            *(
                Outgoing("segments", s, weight=s.end - s.start)
                for s in segments
                if s.segment_id not in skip
            ),
        ], language

    # job id -> its detected language, for its later windows (the same partition: in order).
    languages = stage.table("vad.languages", stage.partitions(INPUTS))

    async def handle(audio: AudioReady) -> list[Outgoing]:
        known = languages.get(audio.job_id)
        out, language = await stage.platform.run_blocking(outgoing, audio, known)
        if audio.last:
            languages.pop(audio.job_id, None)  # the job's last window: nothing more to say
        elif language and language != known:
            languages[audio.job_id] = language
        return out

    stage.agent(INPUTS, handle)
