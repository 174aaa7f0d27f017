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
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
from faster_whisper import WhisperModel

from agents.transcribe.agent import (
    configured_model,
    configured_screening,
    live_language,
    live_spec,
    preload,
    retry_policy,
)
from agents.transcribe.whisper import UNHEARD_TAIL_S, Clip, Transcript, transcribe_batch
from streams.broker.topics import Outgoing
from streams.events.audio import SAMPLE_RATE, pcm_from_bytes
from streams.events.model import LiveKind, LiveSegment, LiveTranscript, TranscribedWord
from streams.models.catalog import ModelSpec
from streams.models.serving import ModelServer
from streams.runtime.metrics import METRICS
from streams.runtime.stage import Stage, reason
from streams.settings import KaptionSettings
from streams.words import alignment, normalise

INPUTS = ("live.segments",)
LANE = "live"
# Audio before a phrase is heard with it only across a pause this short: after a longer one
# the speech that follows rarely continues the sentence.
MAX_CONTEXT_GAP_S = 3.0
# A call's copy of the last word of the audio before its phrase ends this close to the pause.
COPY_NEAR_S = 1.0

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Heard:
    """What a call hears besides its phrase (``Context.heard``): the ``prompt``; the stream's
    audio just ``before`` the phrase, if any, and the final text ``said`` of that audio; the
    stream's ``language`` once fixed (empty: detect)."""

    prompt: str = ""
    before: Clip | None = None
    said: str = ""
    language: str = ""


ALONE = Heard()  # a phrase with no context


def transcribe_live(
    settings: KaptionSettings,
    segment: LiveSegment,
    context: Heard = ALONE,
    serving: tuple[ModelSpec, WhisperModel] | None = None,
) -> tuple[Transcript, float]:
    """One phrase with ``serving`` (the stage's current model; default: the live lane's), in
    its ``context``: only the phrase's own words come back."""
    if serving is None:
        spec = live_spec(settings)
        serving = spec, configured_model(settings, LANE, spec)
    spec, model = serving
    language = live_language(settings, spec) or context.language
    started = time.perf_counter()
    clip = Clip(pcm_from_bytes(segment.pcm), segment.start)
    before = context.before
    heard = clip if before is None else joined(before, clip)

    def call(prompt: str) -> Transcript:
        [transcript] = transcribe_batch(
            model,
            [heard],
            segment.sample_rate,
            language,
            settings.whisper_beam_size,
            prompt,
            # The prompt is the last final text: a made-up line let through would be echoed.
            configured_screening(settings),
            # A phrase alone is not continued: it ends at a short silence, before a pause that
            # could end Whisper's text early. Heard after the audio before it, it is as long as
            # a file lane's segment and its text can stop as early.
            unheard_tail_s=None if before is None else UNHEARD_TAIL_S,
            # Audio heard before the phrase is there for its context, not its words; a phrase
            # alone is a few seconds.
            unheard_head_s=None,
        )
        return transcript

    transcript = heard_again(call, context.prompt)
    if before is not None:
        pause_middle = segment.start - silence_s(before, clip) / 2
        transcript = words_from(transcript, pause_middle, context.said)
    return transcript, time.perf_counter() - started


def heard_again(call: Callable[[str], Transcript], prompt: str) -> Transcript:
    """``call`` with the prompt, and again without it if that gave no words. Whisper can
    repeat its prompt over the audio ("We will meet again tomorrow morning." six times over a
    phrase about fishermen): the screening drops the loop, and the phrase is heard again
    without the prompt rather than lost."""
    transcript = call(prompt)
    return call("") if prompt and not transcript.words else transcript


def silence_s(before: Clip, clip: Clip) -> float:
    """The silence heard between ``before`` and ``clip``: the pause, at most a second of it."""
    return min(max(clip.start - (before.start + len(before.pcm) / SAMPLE_RATE), 0.0), 1.0)


def joined(before: Clip, clip: Clip) -> Clip:
    """``before`` then ``clip``, with the silence between them."""
    silence = np.zeros(round(silence_s(before, clip) * SAMPLE_RATE), dtype=np.int16)
    pcm = np.concatenate([before.pcm, silence, clip.pcm])
    return Clip(pcm, clip.start + len(clip.pcm) / SAMPLE_RATE - len(pcm) / SAMPLE_RATE)


def words_from(transcript: Transcript, start: float, said: str = "") -> Transcript:
    """The phrase's own words, of a call that heard the audio before it, whose final text was
    ``said``: those after this call's copy of the last word said, where it has one near
    ``start``; else the words heard from ``start`` on (a word belongs where most of it is).
    Whisper's word times run early, so the boundary is the middle of the pause before the
    phrase; but a word can still straddle it: timed after it, the last word said came out twice
    ("in the evening. evening."); timed before it, a word the phrase before missed was lost."""
    words = transcript.words
    last = _copy_of_last(said.split(), words, start)
    kept = (
        words[last + 1 :]
        if last is not None
        else tuple(w for w in words if (w.start + w.end) / 2 >= start)
    )
    return Transcript("".join(w.word for w in kept).strip(), kept, transcript.language)


def _copy_of_last(said: list[str], words: tuple[TranscribedWord, ...], start: float) -> int | None:
    """The index of the word in ``words`` that difflib aligns with the last of ``said``, if it
    ends within COPY_NEAR_S of ``start``."""
    aligned = alignment([normalise(w) for w in said], [normalise(w.word) for w in words])
    return max(
        (
            j
            for j, i in aligned.items()
            if i == len(said) - 1 and abs(words[j].end - start) <= COPY_NEAR_S
        ),
        default=None,
    )


class Context:
    """What each stream this worker transcribed said last, for its next call: the last final
    words as the prompt (a phrase cut at a short pause is transcribed knowing what came before;
    5-min benchmark: WER 0.214 -> 0.168 in simulation) and, with ``audio_s``, the audio of its
    last final phrases (whole phrases, at most ``audio_s`` seconds), heard again before the next
    one: a short phrase is transcribed in its sentence and voice, as the file lane's long
    segments are. The prompt then holds only the words before that audio: Whisper skips audio
    whose words the prompt already has. And the stream's language, for a multilingual model:
    detected on its first final phrase of ``LANGUAGE_WORDS`` words or more and kept, as a
    broadcast keeps its language (a phrase of a few seconds is misheard as another language
    more often than a whole phrase of speech). Bounded: the most recent streams. A restarted
    worker starts without it, which costs accuracy only."""

    WORDS = 24
    STREAMS = 1000
    AUDIO_STREAMS = 100  # 10 s of audio is 320 KB a stream
    LANGUAGE_WORDS = 4

    def __init__(self, audio_s: float = 0.0) -> None:
        self.texts: OrderedDict[str, str] = OrderedDict()
        self.phrases: OrderedDict[str, tuple[tuple[Clip, str], ...]] = OrderedDict()
        self.languages: OrderedDict[str, str] = OrderedDict()
        self.audio_s = audio_s

    def language(self, stream_id: str) -> str:
        """The stream's language once a final phrase has fixed it, else empty (detect)."""
        return self.languages.get(stream_id, "")

    def prompt(self, stream_id: str) -> str:
        """The stream's last final words, those of the audio context included."""
        return self.joined_text(stream_id, self.phrases.get(stream_id, ()))

    def joined_text(self, stream_id: str, phrases: tuple[tuple[Clip, str], ...]) -> str:
        words = " ".join([self.texts.get(stream_id, ""), *(t for _, t in phrases)]).split()
        return " ".join(words[-self.WORDS :])

    def heard(self, segment: LiveSegment, audio: bool = True) -> Heard:
        """What to hear ``segment`` with: the stream's last phrases before it if the last
        ended shortly before it (after a longer pause, or without ``audio``, the prompt
        alone), and the stream's language."""
        stream_id = segment.stream_id
        language = self.language(stream_id)
        phrases = self.phrases.get(stream_id, ())
        if not (phrases and audio):
            return Heard(self.prompt(stream_id), language=language)
        last = phrases[-1][0]
        gap = segment.start - (last.start + len(last.pcm) / SAMPLE_RATE)
        if not -0.1 <= gap <= MAX_CONTEXT_GAP_S:  # phrases cut mid-speech abut
            return Heard(self.prompt(stream_id), language=language)
        before = phrases[0][0]
        for clip, _ in phrases[1:]:
            before = joined(before, clip)
        said = " ".join(text for _, text in phrases)
        return Heard(self.joined_text(stream_id, ()), before, said, language)

    def remember(self, segment: LiveSegment, text: str, language: str = "") -> None:
        """A final phrase: its words (and audio) are the stream's context from now on, and
        its ``language`` the stream's if it is the first with enough words."""
        stream_id = segment.stream_id
        fixes = len(text.split()) >= self.LANGUAGE_WORDS
        if language and fixes and stream_id not in self.languages:
            self.languages[stream_id] = language
            trim(self.languages, self.STREAMS)
        phrases = (
            *self.phrases.get(stream_id, ()),
            (Clip(pcm_from_bytes(segment.pcm), segment.start), text),
        )
        # Whole phrases only, the newest first, while they fit; the rest become prompt words.
        while phrases and sum(len(c.pcm) for c, _ in phrases) > self.audio_s * SAMPLE_RATE:
            self.texts[stream_id] = self.joined_text(stream_id, phrases[:1])
            phrases = phrases[1:]
        self.texts.setdefault(stream_id, "")
        self.texts.move_to_end(stream_id)
        self.phrases[stream_id] = phrases
        self.phrases.move_to_end(stream_id)
        trim(self.texts, self.STREAMS)
        trim(self.phrases, self.AUDIO_STREAMS)


def trim(recent: OrderedDict[str, Any], most: int) -> None:
    while len(recent) > most:
        recent.popitem(last=False)


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
        language=transcript.language if transcript else "",
    )


def warm_up(settings: KaptionSettings, spec: ModelSpec | None = None) -> WhisperModel:
    """The model loaded and one call made on a second of silence: the first call allocates
    CTranslate2's buffers (tens of MB, most of a second), which would otherwise delay the first
    live caption."""
    spec = spec or live_spec(settings)
    model = preload(settings, LANE, spec)
    transcribe_batch(
        model,
        [Clip(np.zeros(SAMPLE_RATE, dtype=np.int16), 0.0)],
        SAMPLE_RATE,
        live_language(settings, spec),
        settings.whisper_beam_size,
    )
    return model


def register(stage: Stage) -> None:
    settings, platform = stage.settings, stage.platform
    # The lane's current model, switched by `kaption models use transcribe-live NAME`.
    server = ModelServer(
        stage,
        lambda spec: warm_up(settings, spec),
        model=settings.live_whisper_model,
        check="live model loaded",
    )
    server.start()
    audio_seconds = METRICS.audio_seconds.labels("transcribe-live")
    inference_seconds = METRICS.inference_seconds.labels("transcribe-live")
    skipped = METRICS.retries.labels("transcribe-live", "StaleInterim")
    context = Context(settings.live_context_s)

    async def handle(segment: LiveSegment) -> list[Outgoing]:
        if not segment.final and time.time() - segment.sent_at > settings.live_interim_max_age_s:
            skipped.inc()
            return []
        kind = LiveKind.FINAL if segment.final else LiveKind.INTERIM
        try:
            # Interims get the prompt too: hypotheses that read like the final agree with it
            # sooner (5-min benchmark: first appearance p95 3.1 -> 2.6 s, for 10 % more compute).
            heard = context.heard(segment, segment.final or settings.live_interim_context)
            serving = await platform.run_in_lane("live-transcribe", server.current)
            transcript, took = await platform.run_in_lane(
                "live-transcribe", transcribe_live, settings, segment, heard, serving
            )
        except Exception as exc:
            if segment.final:
                raise  # tried again as the policy says, then a gap with the reason
            log.warning("stream %s interim %d: %s", segment.stream_id, segment.seq, exc)
            return []  # an interim is not worth a retry: a newer one is on its way
        if segment.final:
            context.remember(segment, transcript.text, transcript.language)
        audio_seconds.inc(segment.end - segment.start)
        inference_seconds.observe(took)
        result = live_transcript(segment, kind, transcript, serving[0], took)
        return [Outgoing("live.transcripts", result)]

    def gap(segment: LiveSegment, error: BaseException) -> list[Outgoing]:
        """A final that could not be transcribed: a gap with the reason, so captions go on."""
        why = f"transcription failed: {reason(getattr(error, 'cause', error))}"
        spec = server.current_spec() or live_spec(settings)
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
