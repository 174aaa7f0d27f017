"""Live speech detection: a stream's audio chunks in, phrases out.

A phrase opens at speech and closes at a pause (``min_silence_s``), at a shorter pause once it
is long (``soft_max_s``: captions must not wait for a sentence to end) or at ``max_phrase_s``.
While it is open, its audio so far goes out every ``interim_interval_s`` of new audio for an
interim transcript; when it closes, its final audio goes out. Every item of the stream has a
place in one sequence (``seq``): phrases, silence marks (every ``silence_mark_s`` without
speech, so the captions' watermark moves while nobody speaks), gaps in the source and the end.
Interims carry their phrase's place and a revision.

Everything here is pure and the state is plain data (``to_dict``/``from_dict``), so the agent
keeps it in a changelog-backed table and a restarted worker goes on where the last one stopped.
"""

from __future__ import annotations

import base64
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from agents.live.vad import FRAME, VadState, score
from streams.events.audio import SAMPLE_RATE
from streams.events.model import AudioChunk, LiveKind, LiveSegment, LiveTranscript

BYTES_PER_SAMPLE = 2
FRAME_S = FRAME / SAMPLE_RATE


@dataclass(frozen=True)
class PhraseRules:
    threshold: float = 0.5
    min_silence_s: float = 0.4
    soft_max_s: float = 3.0
    short_pause_s: float = 0.1
    max_phrase_s: float = 6.0
    pad_s: float = 0.2  # audio kept before speech starts and after it ends
    interim_interval_s: float = 1.0
    min_interim_speech_s: float = 0.3
    silence_mark_s: float = 2.0


def _samples(seconds: float) -> int:
    return round(seconds * SAMPLE_RATE)


def _b64(data: bytes) -> str:
    return base64.b64encode(data).decode()


@dataclass
class Phrase:
    seq: int
    start: float  # media time of its first sample (the pad before the speech included)
    pieces: list[bytes]  # its audio, one piece per chunk (the agent stores them one by one)
    speech_end: float
    piece_chunk: int  # the chunk whose frames go into the last piece
    silence_s: float = 0.0
    revision: int = 0
    interim_samples: int = 0  # its length when the last interim went out

    @property
    def samples(self) -> int:
        return sum(len(p) for p in self.pieces) // BYTES_PER_SAMPLE

    @property
    def end(self) -> float:
        return self.start + self.samples / SAMPLE_RATE

    def pcm(self) -> bytes:
        return b"".join(self.pieces)


@dataclass
class StreamState:
    """One stream's detection state: VAD memory, the open phrase, the next place in the
    sequence and the mapping from media time to capture (wall-clock) time."""

    next_seq: int = 0
    last_chunk: int = -1
    scored_end: float = 0.0  # media time after the last scored frame
    marked_until: float = 0.0  # media time up to which items cover the stream
    preroll: bytes = b""  # the last pad_s of audio while no phrase is open
    phrase: Phrase | None = None
    vad: VadState = field(default_factory=VadState)
    source_offset: float = 0.0
    capture_time: float = 0.0  # wall clock when the audio at capture_media was captured
    capture_media: float = 0.0

    def capture_at(self, media_time: float) -> float:
        return self.capture_time - (self.capture_media - media_time)

    def to_dict(self) -> dict[str, Any]:
        """Everything but the open phrase's audio (the agent stores its pieces separately)."""
        phrase = self.phrase
        return {
            "next_seq": self.next_seq,
            "last_chunk": self.last_chunk,
            "scored_end": self.scored_end,
            "marked_until": self.marked_until,
            "preroll": _b64(self.preroll),
            "vad": self.vad.to_dict(),
            "source_offset": self.source_offset,
            "capture_time": self.capture_time,
            "capture_media": self.capture_media,
            "phrase": None
            if phrase is None
            else {
                "seq": phrase.seq,
                "start": phrase.start,
                "pieces": len(phrase.pieces),
                "speech_end": phrase.speech_end,
                "piece_chunk": phrase.piece_chunk,
                "silence_s": phrase.silence_s,
                "revision": phrase.revision,
                "interim_samples": phrase.interim_samples,
            },
        }

    @classmethod
    def from_dict(cls, data: dict[str, Any], pieces: list[bytes]) -> StreamState:
        found = data["phrase"]
        phrase = None
        if found is not None:
            phrase = Phrase(
                found["seq"],
                found["start"],
                pieces,
                found["speech_end"],
                found["piece_chunk"],
                found["silence_s"],
                found["revision"],
                found["interim_samples"],
            )
        return cls(
            next_seq=data["next_seq"],
            last_chunk=data["last_chunk"],
            scored_end=data["scored_end"],
            marked_until=data["marked_until"],
            preroll=base64.b64decode(data["preroll"]),
            phrase=phrase,
            vad=VadState.from_dict(data["vad"]),
            source_offset=data["source_offset"],
            capture_time=data["capture_time"],
            capture_media=data["capture_media"],
        )


Out = LiveSegment | LiveTranscript


def corrupt(chunk: AudioChunk) -> str:
    """Why a chunk's audio cannot be used ("" when it can)."""
    if chunk.sample_rate != SAMPLE_RATE:
        return f"chunk {chunk.seq}: audio at {chunk.sample_rate} Hz, expected {SAMPLE_RATE}"
    if len(chunk.pcm) % BYTES_PER_SAMPLE:
        return f"chunk {chunk.seq}: {len(chunk.pcm)} bytes of PCM is not whole int16 samples"
    seconds = len(chunk.pcm) / BYTES_PER_SAMPLE / SAMPLE_RATE
    if abs(seconds - chunk.duration) > 0.01:
        return f"chunk {chunk.seq}: {seconds:.3f} s of PCM but a duration of {chunk.duration} s"
    return ""


def mark(
    stream_id: str,
    seq: int,
    kind: LiveKind,
    start: float,
    end: float,
    *,
    capture_end: float,
    source_offset: float,
    reason: str = "",
) -> LiveTranscript:
    """A place in a stream's sequence without speech (silence, gap or end), as the ordering
    stage takes it beside transcripts."""
    return LiveTranscript(
        stream_id=stream_id,
        seq=seq,
        revision=0,
        kind=kind,
        start=start,
        end=end,
        capture_end=capture_end,
        source_offset=source_offset,
        text="",
        words=(),
        model="",
        model_version="",
        processing_seconds=0.0,
        reason=reason,
    )


@dataclass
class Detector:
    """Feeds one stream's chunks through speech detection; ``feed`` returns what to publish."""

    stream_id: str
    rules: PhraseRules
    state: StreamState = field(default_factory=StreamState)
    now: float = 0.0  # wall clock of the current chunk's processing (LiveSegment.sent_at)

    def feed(self, chunk: AudioChunk, now: float) -> list[Out]:
        state = self.state
        if chunk.seq <= state.last_chunk:
            return []  # a duplicate after a restart
        self.now = now
        out: list[Out] = []
        state.last_chunk = chunk.seq
        problem = corrupt(chunk)
        if problem:  # its time becomes a gap with the reason; detection goes on after it
            out += self._gap(None, chunk.media_time + chunk.duration, problem)
            if chunk.last:
                out += self._end(chunk.end_reason)
            return out
        if chunk.duration > 0:  # the end carries no audio, and no capture time to keep
            state.source_offset = chunk.source_offset
            state.capture_time = chunk.capture_time
            state.capture_media = chunk.media_time + chunk.duration
        if chunk.gap_before > 0:  # the source was lost before this chunk
            gap_start = chunk.media_time - chunk.gap_before
            out += self._gap(gap_start, chunk.media_time, chunk.gap_reason)
        samples = np.frombuffer(chunk.pcm, dtype="<i2")
        pending = np.round(state.vad.pending * 32768).astype("<i2")
        probabilities = score(state.vad, samples.astype(np.float32) / 32768)
        audio = np.concatenate([pending, samples])
        for i, probability in enumerate(probabilities):
            frame = audio[i * FRAME : (i + 1) * FRAME].tobytes()
            out += self._frame(frame, float(probability))
        out += self._interim()
        if chunk.last:
            out += self._end(chunk.end_reason)
        return out

    # --- one frame -----------------------------------------------------------------------

    def _frame(self, frame: bytes, probability: float) -> list[Out]:
        state, rules = self.state, self.rules
        start = state.scored_end
        state.scored_end = end = start + FRAME_S
        phrase = state.phrase
        if phrase is None:
            if probability >= rules.threshold:
                lead = state.preroll
                state.phrase = Phrase(
                    state.next_seq,
                    start - len(lead) / BYTES_PER_SAMPLE / SAMPLE_RATE,
                    [lead + frame],
                    end,
                    state.last_chunk,
                )
                state.next_seq += 1
                state.preroll = b""
                return []
            keep = _samples(rules.pad_s) * BYTES_PER_SAMPLE
            state.preroll = (state.preroll + frame)[-keep:]
            if end - state.marked_until >= rules.silence_mark_s:
                return [self._mark(LiveKind.SILENCE, state.marked_until, end)]
            return []
        if phrase.piece_chunk != state.last_chunk:
            phrase.pieces.append(frame)
            phrase.piece_chunk = state.last_chunk
        else:
            phrase.pieces[-1] += frame
        if probability >= rules.threshold - 0.15:  # hysteresis: speech goes on
            phrase.silence_s = 0.0
            phrase.speech_end = end
        else:
            phrase.silence_s += FRAME_S
        length = end - phrase.start
        if phrase.silence_s >= rules.min_silence_s or (
            length >= rules.soft_max_s and phrase.silence_s >= rules.short_pause_s
        ):
            return [self._close(min(phrase.speech_end + rules.pad_s, end))]
        if length >= rules.max_phrase_s:
            return [self._close(end)]
        return []

    # --- items ---------------------------------------------------------------------------

    def _segment(self, phrase: Phrase, final: bool, pcm: bytes) -> LiveSegment:
        end = phrase.start + len(pcm) / BYTES_PER_SAMPLE / SAMPLE_RATE
        return LiveSegment(
            stream_id=self.stream_id,
            seq=phrase.seq,
            revision=phrase.revision,
            final=final,
            start=phrase.start,
            end=end,
            capture_end=self.state.capture_at(end),
            source_offset=self.state.source_offset,
            sample_rate=SAMPLE_RATE,
            pcm=pcm,
            sent_at=self.now,
        )

    def _close(self, cut: float) -> LiveSegment:
        """The open phrase's final audio up to ``cut``; what follows the cut leads the next."""
        state = self.state
        phrase = state.phrase
        assert phrase is not None
        pcm = phrase.pcm()
        keep = min(len(pcm) // BYTES_PER_SAMPLE, _samples(cut - phrase.start))
        final = self._segment(phrase, True, pcm[: keep * BYTES_PER_SAMPLE])
        pad = _samples(self.rules.pad_s) * BYTES_PER_SAMPLE
        state.preroll = pcm[keep * BYTES_PER_SAMPLE :][-pad:] if pad else b""
        state.phrase = None
        state.marked_until = final.end
        return final

    def _interim(self) -> list[Out]:
        """The open phrase so far, once it has enough new audio and some speech."""
        phrase, rules = self.state.phrase, self.rules
        if phrase is None:
            return []
        samples = phrase.samples
        speech = phrase.speech_end - phrase.start
        if speech < rules.min_interim_speech_s:
            return []
        # Less a frame: the scored audio lags the chunks by up to one frame.
        if samples - phrase.interim_samples < _samples(rules.interim_interval_s - FRAME_S):
            return []
        interim = self._segment(phrase, False, phrase.pcm())
        phrase.revision += 1
        phrase.interim_samples = samples
        return [interim]

    def _mark(self, kind: LiveKind, start: float, end: float, reason: str = "") -> LiveTranscript:
        state = self.state
        item = mark(
            self.stream_id,
            state.next_seq,
            kind,
            start,
            end,
            capture_end=state.capture_at(end),
            source_offset=state.source_offset,
            reason=reason,
        )
        state.next_seq += 1
        state.marked_until = end
        return item

    def _gap(self, start: float | None, end: float, reason: str) -> list[Out]:
        """No usable audio from ``start`` (None: where the items so far end) to ``end``: close
        what was open, mark the gap and start detection afresh where the audio resumes."""
        state = self.state
        out: list[Out] = []
        if state.phrase is not None:
            out.append(self._close(state.scored_end))
        out.append(
            self._mark(LiveKind.GAP, state.marked_until if start is None else start, end, reason)
        )
        state.vad = VadState()
        state.preroll = b""
        state.scored_end = end
        return out

    def _end(self, reason: str) -> list[Out]:
        state = self.state
        out: list[Out] = []
        if state.phrase is not None:
            out.append(self._close(state.scored_end))
        out.append(self._mark(LiveKind.END, state.marked_until, state.scored_end, reason))
        return out
