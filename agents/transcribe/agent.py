"""transcribe: SpeechSegment -> SegmentTranscribed (the words, for the cue stage) and SegmentDone
(for the orchestrator's count), or SegmentFailed after K attempts.

Runs as a consumer group: parallelism is bounded by the partitions of the segments topic.
Within a worker, up to a batch of segments are in hand at once (one Faust actor each) and go to
the model together (agents/transcribe/batcher.py).
"""

from __future__ import annotations

import logging
import time
from collections import defaultdict
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from functools import partial

from faster_whisper import WhisperModel

from agents.transcribe.batcher import Batcher
from agents.transcribe.hallucination import Screening
from agents.transcribe.whisper import (
    Clip,
    Transcript,
    cpu_threads,
    detect_languages,
    load_model,
    transcribe_batch,
)
from streams.broker.topics import Outgoing
from streams.events.audio import CorruptAudioError, pcm_from_bytes
from streams.events.ids import SegmentId
from streams.events.model import SegmentDone, SegmentFailed, SegmentTranscribed, SpeechSegment
from streams.job_options import AUTO
from streams.models.catalog import ModelSpec, UnknownModelError, load_catalog, model_path
from streams.models.packages import ModelIntegrityError, ModelUnavailableError
from streams.models.serving import ModelServer, NoModelError
from streams.runtime.metrics import METRICS
from streams.runtime.retry import RetryPolicy, current_attempt
from streams.runtime.stage import Stage, reason
from streams.settings import KaptionSettings

INPUTS = ("segments",)

log = logging.getLogger(__name__)
AUTO_BATCH_SIZE = 8


def retry_policy(settings: KaptionSettings) -> RetryPolicy:
    """Both lanes': a flaky device may pass next time; audio that is not PCM, or a model that
    is not declared, not installed or broken, fails the same way every time."""
    return RetryPolicy(
        attempts=settings.transcribe_attempts,
        permanent=(
            CorruptAudioError,
            UnknownModelError,
            ModelUnavailableError,
            ModelIntegrityError,
            NoModelError,
        ),
        first_backoff_s=0.2,
        max_backoff_s=5.0,
    )


def configured_threads(settings: KaptionSettings) -> int:
    return cpu_threads(settings.whisper_cpu_threads, settings.transcribe_local_workers)


def configured_batch_size(settings: KaptionSettings) -> int:
    """0 (auto): batches where batched inference is faster: on a GPU, and on CPU where the
    model has several threads (a batch's larger matrices keep them busy); with one thread a
    batch took longer than its segments one by one (bench/transcribe_scaling.py measures it)."""
    if settings.transcribe_batch_size > 0:
        return settings.transcribe_batch_size
    if settings.whisper_device.startswith("cuda") or configured_threads(settings) > 1:
        return AUTO_BATCH_SIZE
    return 1


def default_spec(settings: KaptionSettings) -> ModelSpec:
    """The model a job gets when it names none (KAPTION_WHISPER_MODEL, else tiny.en)."""
    return load_catalog(settings).get("")


def live_spec(settings: KaptionSettings) -> ModelSpec:
    """The live lane's model until `kaption models use transcribe-live` names another
    (KAPTION_LIVE_WHISPER_MODEL; empty: the deployment's)."""
    return load_catalog(settings).get(settings.live_whisper_model)


def configured_model(
    settings: KaptionSettings, lane: str = "", spec: ModelSpec | None = None
) -> WhisperModel:
    """A declared model (default: the deployment's) for the file lane (threads at
    ``file_transcription_nice``) or the live lane (an encoder window of
    ``live_encoder_window_s``: its phrases are short)."""
    spec = spec or default_spec(settings)
    return load_model(
        str(model_path(spec)),
        spec.device or settings.whisper_device,
        spec.compute_type or settings.whisper_compute_type,
        configured_threads(settings),
        lane,
        0 if lane else settings.file_transcription_nice,
        settings.live_encoder_window_s if lane else 0,
    )


def live_language(settings: KaptionSettings, spec: ModelSpec) -> str:
    """The live lane's language: the deployment's; "auto" is English for an English-only model
    and, for a multilingual one, empty: the stream's own (``Context.language``), detected
    until a final phrase has fixed it."""
    if settings.language != AUTO:
        return settings.language
    return "" if spec.multilingual else "en"


def configured_screening(settings: KaptionSettings) -> Screening:
    """The checks for text made up where nobody speaks, both lanes."""
    return Screening(
        settings.whisper_no_speech_threshold,
        settings.whisper_log_prob_threshold,
        settings.whisper_compression_ratio_threshold,
        settings.whisper_hallucination_silence_threshold,
    )


@dataclass(frozen=True)
class Done:
    transcript: Transcript
    took: float  # this segment's share of its batch's inference time (both passes)
    model: ModelSpec  # the model that made it
    english: Transcript | None = None  # Whisper's translation, where the job asked for it
    translation_error: str = ""  # why that translation failed (the transcript stands)


def transcribed(segment: SpeechSegment, done: Done, attempt: int) -> SegmentTranscribed:
    english = done.english
    return SegmentTranscribed(
        job_id=segment.job_id,
        segment_id=segment.segment_id,
        index=segment.index,
        start=segment.start,
        end=segment.end,
        text=done.transcript.text,
        words=done.transcript.words,
        language=done.transcript.language,
        model=done.model.name,
        model_version=done.model.version,
        attempt=attempt,
        processing_seconds=done.took,
        whisper_translate=segment.whisper_translate,
        english_words=english.words if english is not None else (),
        translation_error=done.translation_error,
    )


def segment_failed(key: str, error: BaseException) -> list[Outgoing]:
    """Failure value built from the message key alone, so even an undecodable segment is
    accounted for; the orchestrator knows the segment's times from its plan."""
    try:
        parsed: SegmentId | None = SegmentId.parse(key)
    except ValueError:
        parsed = None
    failed = SegmentFailed(
        job_id=parsed.job_id if parsed else key,
        segment_id=key,
        index=parsed.index if parsed else -1,
        start=0.0,
        end=0.0,
        reason=reason(error),
        error_class=type(error).__name__,
        attempts=getattr(error, "attempts", 1),
    )
    return [Outgoing("segments.failed", failed)]


def preload(
    settings: KaptionSettings, lane: str = "", spec: ModelSpec | None = None
) -> WhisperModel:
    started = time.perf_counter()
    model = configured_model(settings, lane, spec)
    took = time.perf_counter() - started
    if lane:
        METRICS.model_load_seconds.labels(f"transcribe-{lane}").set(took)
        log.info("%s transcription model loaded in %.1f s", lane, took)
        return model
    METRICS.model_load_seconds.labels("transcribe").set(took)
    log.info(
        "transcription model loaded in %.1f s: %d CPU threads (nice %d), batches of up to %d "
        "segments (wait %d ms)",
        took,
        configured_threads(settings),
        settings.file_transcription_nice,
        configured_batch_size(settings),
        settings.transcribe_batch_max_wait_ms,
    )
    return model


# A segment's model by the name its job gave ("": the stage's current model).
Choose = Callable[[str], tuple[ModelSpec, WhisperModel]]


def declared_model(settings: KaptionSettings, name: str) -> tuple[ModelSpec, WhisperModel]:
    spec = load_catalog(settings).get(name)
    return spec, configured_model(settings, spec=spec)


def transcribe_segments(
    settings: KaptionSettings,
    segments: Sequence[SpeechSegment],
    choose: Choose | None = None,
    translate: bool = True,
) -> list[Done]:
    """One model call per model and language in the batch (most batches: one); each segment's
    time is its share of its call's audio. A segment without a language (its job asked for
    detection per segment) gets the one Whisper hears in it. ``choose`` picks each model once
    per batch (default: the declared one by name). ``translate``: a second call for the
    segments whose job wants Whisper's English (shadows compare transcripts only: False)."""
    rates = {s.sample_rate for s in segments}
    if len(rates) != 1:
        raise ValueError(f"a batch mixes sample rates {sorted(rates)}")
    rate = rates.pop()
    by_model: dict[str, list[int]] = defaultdict(list)
    for i, segment in enumerate(segments):
        by_model[segment.model].append(i)
    done: dict[int, Done] = {}
    for name, members in by_model.items():
        spec, model = choose(name) if choose else declared_model(settings, name)
        clips = {i: Clip(pcm_from_bytes(segments[i].pcm), segments[i].start) for i in members}
        unknown = [i for i in members if not segments[i].language]
        heard = detect_languages(model, [clips[i] for i in unknown])
        found = dict(zip(unknown, heard, strict=True))
        by_language: dict[str, list[int]] = defaultdict(list)
        for i in members:
            by_language[segments[i].language or found[i]].append(i)
        for language, group in by_language.items():
            started = time.perf_counter()
            transcripts = transcribe_batch(
                model,
                [clips[i] for i in group],
                rate,
                language,
                settings.whisper_beam_size,
                screening=configured_screening(settings),
            )
            # The job's English from Whisper: a second pass of the same model over the
            # segments not spoken in English (English speech's transcript is its English).
            wanted = [
                i for i in group if translate and segments[i].whisper_translate and language != "en"
            ]
            english, failure = translate_clips(
                settings, model, {i: clips[i] for i in wanted}, rate, language
            )
            took = time.perf_counter() - started
            audio = sum(segments[i].end - segments[i].start for i in group)
            for i, transcript in zip(group, transcripts, strict=True):
                seconds = segments[i].end - segments[i].start
                share = took * seconds / audio if audio > 0 else took / len(group)
                failed = failure if i in wanted else ""
                done[i] = Done(transcript, share, spec, english.get(i), failed)
    return [done[i] for i in range(len(segments))]


def translate_clips(
    settings: KaptionSettings,
    model: WhisperModel,
    clips: Mapping[int, Clip],
    rate: int,
    language: str,
) -> tuple[dict[int, Transcript], str]:
    """The clips' English by the model's translate task (same keys), or why it failed: a
    failure costs the job's English, never the transcripts, so it is reported, not raised."""
    if not clips:
        return {}, ""
    try:
        english = transcribe_batch(
            model,
            list(clips.values()),
            rate,
            language,
            settings.whisper_beam_size,
            screening=configured_screening(settings),
            task="translate",
        )
    except Exception as error:  # any failure of the pass: the language fails with its reason
        log.warning(
            "translating %d %s segments into English failed: %s", len(clips), language, error
        )
        return {}, f"Whisper's translation of {language} speech failed: {reason(error)}"
    return dict(zip(clips, english, strict=True)), ""


def register(stage: Stage) -> None:
    settings, platform = stage.settings, stage.platform
    # The stage's current model (`kaption models use` switches it; streams/models/serving.py),
    # loading while the worker joins its group. A job that names a model gets that one.
    server = ModelServer(stage, partial(preload, settings, ""), check="model loaded")
    server.start()

    def choose(name: str) -> tuple[ModelSpec, WhisperModel]:
        return declared_model(settings, name) if name else server.current()

    audio_seconds = METRICS.audio_seconds.labels("transcribe")
    inference_seconds = METRICS.inference_seconds.labels("transcribe")
    real_time_factor = METRICS.real_time_factor.labels("transcribe")
    batch_sizes = METRICS.batch_size.labels("transcribe")

    async def run_batch(segments: Sequence[SpeechSegment]) -> list[Done]:
        started = time.perf_counter()
        done = await platform.run_blocking(partial(transcribe_segments, settings, segments, choose))
        took = time.perf_counter() - started
        seconds = sum(s.end - s.start for s in segments)
        audio_seconds.inc(seconds)
        inference_seconds.observe(took)
        batch_sizes.observe(len(segments))
        if seconds > 0:
            real_time_factor.observe(took / seconds)
        return done

    batch_size = configured_batch_size(settings)
    batcher: Batcher[SpeechSegment, Done] = Batcher(
        run_batch, batch_size, settings.transcribe_batch_max_wait_ms / 1000
    )

    async def handle(segment: SpeechSegment) -> list[Outgoing]:
        # A failed batch is retried item by item inside the batcher, so an error here is this
        # segment's own; the stage runner tries it again as the policy says.
        done = await batcher.submit(segment)
        attempt = current_attempt()
        result = transcribed(segment, done, attempt)
        # The words first: once the orchestrator has counted every segment, the cue stage
        # must find them (it waits for any still in flight).
        counted = SegmentDone(
            job_id=segment.job_id,
            segment_id=segment.segment_id,
            attempt=attempt,
            model=done.model.label,
        )
        return [Outgoing("segments.transcribed", result), Outgoing("segments.done", counted)]

    # Each actor holds one segment until its batch has run: twice the batch size, so the next
    # batch fills while one runs (with just batch_size actors, those left over from a running
    # batch made the next one small: 13 segments went as 5, 3 and 5 instead of 5 and 8).
    stage.agent(
        INPUTS,
        handle,
        on_failure=segment_failed,
        concurrency=2 * batch_size,
        retry=retry_policy(settings),
    )
