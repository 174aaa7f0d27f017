"""Typed kaption events: GENERATED from schemas/*.avsc by
``python -m streams.events.codegen``.

Do not edit by hand: change the schema and run ``make events``. Each class converts to and from
the plain records fastavro reads and writes (``from_record``/``to_record``).
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Any, ClassVar


class Event:
    """A top-level event: one .avsc file, one Kafka message."""

    __slots__ = ()
    SCHEMA: ClassVar[str]  # the schema's short name, e.g. "JobRequested"

    def to_record(self) -> dict[str, Any]:
        raise NotImplementedError

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Event:
        raise NotImplementedError


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioChunk(Event):
    """A slice of a live stream's audio (16 kHz mono int16 PCM), in order; the last one ends
    the stream.
    """

    SCHEMA: ClassVar[str] = "AudioChunk"

    # Stream identifier; also the Kafka key, so a stream's events stay in order.
    stream_id: str
    # 0, 1, 2, ... per stream, in media order.
    seq: int
    # Seconds from the stream's start to the chunk's first sample (a source gap advances it).
    media_time: float
    # Seconds of audio in pcm.
    duration: float
    # Wall clock (Unix seconds) when the chunk's last sample was read from the source.
    capture_time: float
    sample_rate: int
    # Little-endian int16 mono samples.
    pcm: bytes
    # Add to media time to get the source's own presentation time (seconds), for X-TIMESTAMP-
    # MAP; changes after a reconnect.
    source_offset: float
    # Seconds of the source lost just before this chunk (a drop and reconnect); 0 normally.
    gap_before: float
    # Why the source was lost before this chunk, when gap_before > 0.
    gap_reason: str
    # True on the stream's final chunk (pcm may be empty).
    last: bool
    # On the last chunk: why the stream ended.
    end_reason: str

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> AudioChunk:
        return cls(
            stream_id=record["stream_id"],
            seq=record["seq"],
            media_time=record["media_time"],
            duration=record["duration"],
            capture_time=record["capture_time"],
            sample_rate=record["sample_rate"],
            pcm=record["pcm"],
            source_offset=record["source_offset"],
            gap_before=record["gap_before"],
            gap_reason=record["gap_reason"],
            last=record["last"],
            end_reason=record["end_reason"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "seq": self.seq,
            "media_time": self.media_time,
            "duration": self.duration,
            "capture_time": self.capture_time,
            "sample_rate": self.sample_rate,
            "pcm": self.pcm,
            "source_offset": self.source_offset,
            "gap_before": self.gap_before,
            "gap_reason": self.gap_reason,
            "last": self.last,
            "end_reason": self.end_reason,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class AudioReady(Event):
    """One window of a job's audio (16 kHz mono int16 PCM), cut at a quiet point."""

    SCHEMA: ClassVar[str] = "AudioReady"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    # 0, 1, 2, ... in media order.
    window: int
    # True on the job's final window.
    last: bool
    sample_rate: int
    # Media time (s) of the first sample: the audio stream's start offset.
    offset: float
    # Seconds of audio in this window.
    duration: float
    # Little-endian int16 mono samples.
    pcm: bytes
    # Segments already accounted for (a re-drive): speech detection does not send them again.
    skip_segments: tuple[str, ...] = ()
    # Spoken language as the job asks: an ISO 639-1 code, or "auto" (detect); empty: the
    # deployment's default.
    language: str = ""
    # Declared model name (models.yaml) the job asks for; empty: the stage's current model.
    model: str = ""
    # How an "auto" language is found: "job" (once, from the first speech) or "segment" (each
    # segment, for speech that switches language).
    language_detection: str = "job"
    # The job's English comes from Whisper's translate task (translation.yaml: backend whisper):
    # speech in another language is also translated into English where it is transcribed.
    whisper_translate: bool = False
    # Label each word with its speaker (the diarize stage runs on this job's windows).
    speakers: bool = False

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> AudioReady:
        return cls(
            job_id=record["job_id"],
            window=record["window"],
            last=record["last"],
            sample_rate=record["sample_rate"],
            offset=record["offset"],
            duration=record["duration"],
            pcm=record["pcm"],
            skip_segments=tuple(record["skip_segments"]),
            language=record["language"],
            model=record["model"],
            language_detection=record["language_detection"],
            whisper_translate=record["whisper_translate"],
            speakers=record["speakers"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "window": self.window,
            "last": self.last,
            "sample_rate": self.sample_rate,
            "offset": self.offset,
            "duration": self.duration,
            "pcm": self.pcm,
            "skip_segments": list(self.skip_segments),
            "language": self.language,
            "model": self.model,
            "language_detection": self.language_detection,
            "whisper_translate": self.whisper_translate,
            "speakers": self.speakers,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CueRecord:
    """One subtitle cue."""

    start: float
    end: float
    # Lines separated by newline.
    text: str
    # Who speaks ("Speaker 1"); a two-line dialogue cue names one per line, newline-separated;
    # empty: not labelled.
    speaker: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CueRecord:
        return cls(
            start=record["start"],
            end=record["end"],
            text=record["text"],
            speaker=record["speaker"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "speaker": self.speaker,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class CuesReady(Event):
    """Timed cues built from word timestamps."""

    SCHEMA: ClassVar[str] = "CuesReady"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    name: str
    language: str
    cues: tuple[CueRecord, ...]
    # A translation of the job's transcript into this language (NAME.<language>.srt), not the
    # transcript itself.
    translated: bool = False
    # Label (name@version) of the model that translated the cues; empty for the transcript.
    model: str = ""
    # Version of that model.
    model_version: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> CuesReady:
        return cls(
            job_id=record["job_id"],
            name=record["name"],
            language=record["language"],
            cues=tuple(CueRecord.from_record(x) for x in record["cues"]),
            translated=record["translated"],
            model=record["model"],
            model_version=record["model_version"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "name": self.name,
            "language": self.language,
            "cues": [x.to_record() for x in self.cues],
            "translated": self.translated,
            "model": self.model,
            "model_version": self.model_version,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class DecodeRequested(Event):
    """The orchestrator asks the decode stage for a job's audio."""

    SCHEMA: ClassVar[str] = "DecodeRequested"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    source: str
    # Segments already accounted for (a re-drive): speech detection does not send them again.
    skip_segments: tuple[str, ...] = ()
    # Spoken language as the job asks: an ISO 639-1 code, or "auto" (detect); empty: the
    # deployment's default.
    language: str = ""
    # Declared model name (models.yaml) the job asks for; empty: the stage's current model.
    model: str = ""
    # How an "auto" language is found: "job" (once, from the first speech) or "segment" (each
    # segment, for speech that switches language).
    language_detection: str = "job"
    # The job's English comes from Whisper's translate task (translation.yaml: backend whisper):
    # speech in another language is also translated into English where it is transcribed.
    whisper_translate: bool = False
    # Label each word with its speaker (the diarize stage runs on this job's windows).
    speakers: bool = False

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> DecodeRequested:
        return cls(
            job_id=record["job_id"],
            source=record["source"],
            skip_segments=tuple(record["skip_segments"]),
            language=record["language"],
            model=record["model"],
            language_detection=record["language_detection"],
            whisper_translate=record["whisper_translate"],
            speakers=record["speakers"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "source": self.source,
            "skip_segments": list(self.skip_segments),
            "language": self.language,
            "model": self.model,
            "language_detection": self.language_detection,
            "whisper_translate": self.whisper_translate,
            "speakers": self.speakers,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class JobCheck(Event):
    """The orchestrator's timer asks it to look at a job that has made no progress for a while."""

    SCHEMA: ClassVar[str] = "JobCheck"

    # Job identifier; also the Kafka key.
    job_id: str
    checked_at: datetime

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> JobCheck:
        return cls(
            job_id=record["job_id"],
            checked_at=record["checked_at"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "checked_at": self.checked_at,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class JobRequested(Event):
    """A user asks for subtitles of one media source."""

    SCHEMA: ClassVar[str] = "JobRequested"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    # Path or URL that FFmpeg (PyAV) can open.
    source: str
    # Base name for the subtitle files.
    name: str
    # Spoken language (ISO 639-1).
    language: str
    requested_at: datetime
    # Declared model name (models.yaml) the job asks for; empty: the stage's current model.
    model: str = ""
    # How an "auto" language is found: "job" (once, from the first speech) or "segment" (each
    # segment, for speech that switches language).
    language_detection: str = "job"
    # Subtitle languages to translate into (ISO 639-1); the spoken language's subtitles always
    # come.
    languages: tuple[str, ...] = ()
    # Label each word with its speaker (the diarize stage runs on this job's windows).
    speakers: bool = False
    # How many speakers there are, when known; 0: found from the audio.
    num_speakers: int = 0
    # At least this many speakers (0: no lower bound).
    min_speakers: int = 0
    # At most this many speakers (0: no upper bound).
    max_speakers: int = 0

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> JobRequested:
        return cls(
            job_id=record["job_id"],
            source=record["source"],
            name=record["name"],
            language=record["language"],
            requested_at=record["requested_at"],
            model=record["model"],
            language_detection=record["language_detection"],
            languages=tuple(record["languages"]),
            speakers=record["speakers"],
            num_speakers=record["num_speakers"],
            min_speakers=record["min_speakers"],
            max_speakers=record["max_speakers"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "source": self.source,
            "name": self.name,
            "language": self.language,
            "requested_at": self.requested_at,
            "model": self.model,
            "language_detection": self.language_detection,
            "languages": list(self.languages),
            "speakers": self.speakers,
            "num_speakers": self.num_speakers,
            "min_speakers": self.min_speakers,
            "max_speakers": self.max_speakers,
        }


class JobState(StrEnum):
    REQUESTED = "REQUESTED"
    DECODING = "DECODING"
    TRANSCRIBING = "TRANSCRIBING"
    BUILDING_CUES = "BUILDING_CUES"
    COMPLETED = "COMPLETED"
    PARTIAL = "PARTIAL"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslationState:
    """One target language of a job."""

    language: str
    # PENDING, COMPLETED or FAILED.
    state: str
    # Why it FAILED.
    reason: str | None = None

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TranslationState:
        return cls(
            language=record["language"],
            state=record["state"],
            reason=record["reason"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "language": self.language,
            "state": self.state,
            "reason": self.reason,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class JobStatus(Event):
    """Latest state of a job (compacted topic, key = job id)."""

    SCHEMA: ClassVar[str] = "JobStatus"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    name: str
    source: str
    state: JobState
    segments_total: int
    segments_done: int
    segments_failed: int
    reason: str | None = None
    # Seconds of speech planned for transcription so far.
    audio_seconds_total: float = 0.0
    # Seconds of speech transcribed (or given up on) so far.
    audio_seconds_done: float = 0.0
    # When the job was requested (its age, its end-to-end time).
    requested_at: datetime
    updated_at: datetime
    # The job's spoken language (asked for, or detected).
    language: str = ""
    # Labels (name@version) of the models that worked on the job.
    models: tuple[str, ...] = ()
    # Each target language's state.
    translations: tuple[TranslationState, ...] = ()

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> JobStatus:
        return cls(
            job_id=record["job_id"],
            name=record["name"],
            source=record["source"],
            state=JobState(record["state"]),
            segments_total=record["segments_total"],
            segments_done=record["segments_done"],
            segments_failed=record["segments_failed"],
            reason=record["reason"],
            audio_seconds_total=record["audio_seconds_total"],
            audio_seconds_done=record["audio_seconds_done"],
            requested_at=record["requested_at"],
            updated_at=record["updated_at"],
            language=record["language"],
            models=tuple(record["models"]),
            translations=tuple(TranslationState.from_record(x) for x in record["translations"]),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "name": self.name,
            "source": self.source,
            "state": self.state.value,
            "segments_total": self.segments_total,
            "segments_done": self.segments_done,
            "segments_failed": self.segments_failed,
            "reason": self.reason,
            "audio_seconds_total": self.audio_seconds_total,
            "audio_seconds_done": self.audio_seconds_done,
            "requested_at": self.requested_at,
            "updated_at": self.updated_at,
            "language": self.language,
            "models": list(self.models),
            "translations": [x.to_record() for x in self.translations],
        }


class LiveKind(StrEnum):
    """What a live item is: speech (interim or final), a stretch of silence, a gap in the
    source, or the stream's end.
    """

    INTERIM = "INTERIM"
    FINAL = "FINAL"
    SILENCE = "SILENCE"
    GAP = "GAP"
    END = "END"


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveCueLine:
    """One subtitle cue of a final phrase, laid out by the cue rules."""

    start: float
    end: float
    # Lines separated by newline.
    text: str

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LiveCueLine:
        return cls(
            start=record["start"],
            end=record["end"],
            text=record["text"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveWord:
    """A final word with its latencies: capture of the audio that ends it to its first
    publication (interim or final) and to its final publication (stable in an interim, or
    the final).
    """

    word: str
    start: float
    end: float
    first_latency_s: float
    final_latency_s: float

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LiveWord:
        return cls(
            word=record["word"],
            start=record["start"],
            end=record["end"],
            first_latency_s=record["first_latency_s"],
            final_latency_s=record["final_latency_s"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "start": self.start,
            "end": self.end,
            "first_latency_s": self.first_latency_s,
            "final_latency_s": self.final_latency_s,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveCue(Event):
    """A live caption in media order per stream: an interim hypothesis (stable and still-
    changing text) or a final phrase laid out as cues, a silence, a gap or the end, with
    per-word latency figures. On live.translated: a final (or mark) of the same stream in
    one target language.
    """

    SCHEMA: ClassVar[str] = "LiveCue"

    # Stream identifier; also the Kafka key, so a stream's events stay in order.
    stream_id: str
    # The item's place in the stream; cues come out in this order.
    seq: int
    revision: int
    kind: LiveKind
    start: float
    end: float
    # Interims: final text, which will not change any more; the phrase's final keeps it (the
    # stabilising policy).
    stable: str
    # Interims: the newest hypothesis after the stable text, which may still change.
    unstable: str
    cues: tuple[LiveCueLine, ...]
    words: tuple[LiveWord, ...]
    # Media time up to which the stream's captions are final.
    watermark: float
    source_offset: float
    # Gap marks: seconds of source lost.
    gap_s: float
    # Gap and end marks: why.
    reason: str
    # Wall clock (Unix seconds) of publication.
    published_at: float
    # Wall clock (Unix seconds) when the audio at end was captured (0: not known); a reader
    # measures its own latency from it.
    capture_end: float = 0.0
    # Empty for the stream's own captions (live.cues); the target language of a translated one
    # (live.translated).
    language: str = ""
    # Finals of a stream that asked for speakers: the speaker of every cue of the phrase
    # ("Speaker N"; a phrase has one); empty otherwise.
    speaker: str = ""
    # Finals: the phrase's spoken language (ISO 639-1), from its LiveTranscript, which live
    # translation translates from; a translated final keeps its source's. Empty for interims,
    # marks and records written before it existed (the deployment's language).
    source_language: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LiveCue:
        return cls(
            stream_id=record["stream_id"],
            seq=record["seq"],
            revision=record["revision"],
            kind=LiveKind(record["kind"]),
            start=record["start"],
            end=record["end"],
            stable=record["stable"],
            unstable=record["unstable"],
            cues=tuple(LiveCueLine.from_record(x) for x in record["cues"]),
            words=tuple(LiveWord.from_record(x) for x in record["words"]),
            watermark=record["watermark"],
            source_offset=record["source_offset"],
            gap_s=record["gap_s"],
            reason=record["reason"],
            published_at=record["published_at"],
            capture_end=record["capture_end"],
            language=record["language"],
            speaker=record["speaker"],
            source_language=record["source_language"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "seq": self.seq,
            "revision": self.revision,
            "kind": self.kind.value,
            "start": self.start,
            "end": self.end,
            "stable": self.stable,
            "unstable": self.unstable,
            "cues": [x.to_record() for x in self.cues],
            "words": [x.to_record() for x in self.words],
            "watermark": self.watermark,
            "source_offset": self.source_offset,
            "gap_s": self.gap_s,
            "reason": self.reason,
            "published_at": self.published_at,
            "capture_end": self.capture_end,
            "language": self.language,
            "speaker": self.speaker,
            "source_language": self.source_language,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveSegment(Event):
    """A live phrase's audio to transcribe: an interim revision (still being spoken) or its
    final audio.
    """

    SCHEMA: ClassVar[str] = "LiveSegment"

    # Stream identifier; also the Kafka key, so a stream's events stay in order.
    stream_id: str
    # The phrase's place in the stream's sequence of items (phrases, silences, gaps, end).
    seq: int
    # 0, 1, 2, ... interims of this phrase; the final has the next one.
    revision: int
    # True once the phrase is closed: its transcript replaces the interims.
    final: bool
    # Media time (s) of the first sample.
    start: float
    # Media time (s) after the last sample.
    end: float
    # Wall clock (Unix seconds) when the audio at end was captured.
    capture_end: float
    source_offset: float
    sample_rate: int
    # Little-endian int16 mono samples.
    pcm: bytes
    # Wall clock (Unix seconds) when speech detection sent it: a stale interim is skipped.
    sent_at: float
    # Finals of a stream that asked for speakers: the phrase's speaker ("Speaker N"); empty
    # otherwise.
    speaker: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LiveSegment:
        return cls(
            stream_id=record["stream_id"],
            seq=record["seq"],
            revision=record["revision"],
            final=record["final"],
            start=record["start"],
            end=record["end"],
            capture_end=record["capture_end"],
            source_offset=record["source_offset"],
            sample_rate=record["sample_rate"],
            pcm=record["pcm"],
            sent_at=record["sent_at"],
            speaker=record["speaker"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "seq": self.seq,
            "revision": self.revision,
            "final": self.final,
            "start": self.start,
            "end": self.end,
            "capture_end": self.capture_end,
            "source_offset": self.source_offset,
            "sample_rate": self.sample_rate,
            "pcm": self.pcm,
            "sent_at": self.sent_at,
            "speaker": self.speaker,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveStreamStarted(Event):
    """A live stream's start and what it asks for, published by ingest before its first chunk;
    a stream id used again starts afresh with its new options.
    """

    SCHEMA: ClassVar[str] = "LiveStreamStarted"

    # Stream identifier; also the Kafka key, so a stream's events stay in order.
    stream_id: str
    # Target languages of live translated captions (ISO 639-1 codes); empty for none.
    languages: tuple[str, ...] = ()
    # Wall clock (Unix seconds) of the start.
    started_at: float
    # Whether the stream's final captions carry speaker labels ("Speaker N", consistent for the
    # whole stream).
    speakers: bool = False

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LiveStreamStarted:
        return cls(
            stream_id=record["stream_id"],
            languages=tuple(record["languages"]),
            started_at=record["started_at"],
            speakers=record["speakers"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "languages": list(self.languages),
            "started_at": self.started_at,
            "speakers": self.speakers,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscribedWord:
    """A word with absolute times."""

    word: str
    start: float
    end: float
    probability: float

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TranscribedWord:
        return cls(
            word=record["word"],
            start=record["start"],
            end=record["end"],
            probability=record["probability"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "word": self.word,
            "start": self.start,
            "end": self.end,
            "probability": self.probability,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class LiveTranscript(Event):
    """One item of a live stream's sequence: a phrase's transcript (interim or final) from
    transcription, or a silence, gap or end mark from speech detection.
    """

    SCHEMA: ClassVar[str] = "LiveTranscript"

    # Stream identifier; also the Kafka key, so a stream's events stay in order.
    stream_id: str
    seq: int
    revision: int
    kind: LiveKind
    start: float
    end: float
    # Wall clock (Unix seconds) when the audio at end was captured.
    capture_end: float
    source_offset: float
    text: str
    words: tuple[TranscribedWord, ...]
    model: str
    model_version: str
    processing_seconds: float
    # Gap and end marks: why.
    reason: str
    # Finals of a stream that asked for speakers: the phrase's speaker, from its LiveSegment;
    # empty otherwise.
    speaker: str = ""
    # Finals and interims: the phrase's spoken language (ISO 639-1), the stream's once a final
    # phrase has fixed it, else detected on the phrase (an English-only model: en); empty for
    # marks and for records written before it existed.
    language: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> LiveTranscript:
        return cls(
            stream_id=record["stream_id"],
            seq=record["seq"],
            revision=record["revision"],
            kind=LiveKind(record["kind"]),
            start=record["start"],
            end=record["end"],
            capture_end=record["capture_end"],
            source_offset=record["source_offset"],
            text=record["text"],
            words=tuple(TranscribedWord.from_record(x) for x in record["words"]),
            model=record["model"],
            model_version=record["model_version"],
            processing_seconds=record["processing_seconds"],
            reason=record["reason"],
            speaker=record["speaker"],
            language=record["language"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "stream_id": self.stream_id,
            "seq": self.seq,
            "revision": self.revision,
            "kind": self.kind.value,
            "start": self.start,
            "end": self.end,
            "capture_end": self.capture_end,
            "source_offset": self.source_offset,
            "text": self.text,
            "words": [x.to_record() for x in self.words],
            "model": self.model,
            "model_version": self.model_version,
            "processing_seconds": self.processing_seconds,
            "reason": self.reason,
            "speaker": self.speaker,
            "language": self.language,
        }


class ModelState(StrEnum):
    LOADING = "LOADING"
    SERVING = "SERVING"
    FAILED = "FAILED"


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelServing(Event):
    """What model one worker's stage serves, and how its last switch went; compacted per
    instance (worker and stage).
    """

    SCHEMA: ClassVar[str] = "ModelServing"

    # <worker>/<stage>: the Kafka key.
    instance: str
    # <host>:<pid> of the worker process.
    worker: str
    stage: str
    # Label (name@version) of the model serving now (empty while the first one loads).
    model: str
    # LOADING: the requested model loads while the old one serves; SERVING: the requested one
    # serves; FAILED: it did not load, the old one serves on.
    state: ModelState
    # The model name the last switch asked for.
    requested: str
    # The switch this answers (empty: none, e.g. a worker's start or its periodic report).
    request_id: str
    # Why a load failed.
    reason: str
    load_seconds: float
    at: datetime

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ModelServing:
        return cls(
            instance=record["instance"],
            worker=record["worker"],
            stage=record["stage"],
            model=record["model"],
            state=ModelState(record["state"]),
            requested=record["requested"],
            request_id=record["request_id"],
            reason=record["reason"],
            load_seconds=record["load_seconds"],
            at=record["at"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "instance": self.instance,
            "worker": self.worker,
            "stage": self.stage,
            "model": self.model,
            "state": self.state.value,
            "requested": self.requested,
            "request_id": self.request_id,
            "reason": self.reason,
            "load_seconds": self.load_seconds,
            "at": self.at,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class ModelSwitch(Event):
    """A request that every worker of a stage serve another declared model (`kaption models
    use`); compacted per stage, so the last one is the stage's model.
    """

    SCHEMA: ClassVar[str] = "ModelSwitch"

    # The stage whose model changes (transcribe, transcribe-live); also the Kafka key.
    stage: str
    # Declared model name (streams/models/catalog.py); empty: the deployment's default.
    model: str
    # Unique per request: workers' answers (ModelServing) carry it.
    request_id: str
    requested_at: datetime

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> ModelSwitch:
        return cls(
            stage=record["stage"],
            model=record["model"],
            request_id=record["request_id"],
            requested_at=record["requested_at"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "stage": self.stage,
            "model": self.model,
            "request_id": self.request_id,
            "requested_at": self.requested_at,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentDone(Event):
    """A segment was transcribed (its words went out as SegmentTranscribed for the cue stage);
    a small event for the orchestrator, which only counts results.
    """

    SCHEMA: ClassVar[str] = "SegmentDone"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    segment_id: str
    # Which transcription attempt succeeded (1 = first).
    attempt: int
    # Label (name@version) of the model that transcribed it.
    model: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SegmentDone:
        return cls(
            job_id=record["job_id"],
            segment_id=record["segment_id"],
            attempt=record["attempt"],
            model=record["model"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "segment_id": self.segment_id,
            "attempt": self.attempt,
            "model": self.model,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentFailed(Event):
    """A segment that could not be transcribed after retries."""

    SCHEMA: ClassVar[str] = "SegmentFailed"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    segment_id: str
    index: int
    start: float
    end: float
    reason: str
    error_class: str
    attempts: int

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SegmentFailed:
        return cls(
            job_id=record["job_id"],
            segment_id=record["segment_id"],
            index=record["index"],
            start=record["start"],
            end=record["end"],
            reason=record["reason"],
            error_class=record["error_class"],
            attempts=record["attempts"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "segment_id": self.segment_id,
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "reason": self.reason,
            "error_class": self.error_class,
            "attempts": self.attempts,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentTranscribed(Event):
    """Transcript of one segment with word timestamps."""

    SCHEMA: ClassVar[str] = "SegmentTranscribed"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    segment_id: str
    index: int
    start: float
    end: float
    text: str
    words: tuple[TranscribedWord, ...]
    language: str
    # Model name or path that produced it.
    model: str
    # faster-whisper version.
    model_version: str
    attempt: int
    processing_seconds: float
    # The job asked for Whisper's English: english_words (or, for English speech, words) are
    # this segment's English.
    whisper_translate: bool = False
    # The segment's speech translated into English by the same model (task translate), absolute
    # times; empty for English speech, whose transcript is its English.
    english_words: tuple[TranscribedWord, ...] = ()
    # Why the segment's translation failed (its transcript stands; the job's English fails with
    # this reason).
    translation_error: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SegmentTranscribed:
        return cls(
            job_id=record["job_id"],
            segment_id=record["segment_id"],
            index=record["index"],
            start=record["start"],
            end=record["end"],
            text=record["text"],
            words=tuple(TranscribedWord.from_record(x) for x in record["words"]),
            language=record["language"],
            model=record["model"],
            model_version=record["model_version"],
            attempt=record["attempt"],
            processing_seconds=record["processing_seconds"],
            whisper_translate=record["whisper_translate"],
            english_words=tuple(TranscribedWord.from_record(x) for x in record["english_words"]),
            translation_error=record["translation_error"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "segment_id": self.segment_id,
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "words": [x.to_record() for x in self.words],
            "language": self.language,
            "model": self.model,
            "model_version": self.model_version,
            "attempt": self.attempt,
            "processing_seconds": self.processing_seconds,
            "whisper_translate": self.whisper_translate,
            "english_words": [x.to_record() for x in self.english_words],
            "translation_error": self.translation_error,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class PlannedSegment:
    """One speech segment of the window, without its audio."""

    segment_id: str
    # Position in the media: window * 10000 + position in the window.
    index: int
    # Absolute media time (s).
    start: float
    # Absolute media time (s).
    end: float

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> PlannedSegment:
        return cls(
            segment_id=record["segment_id"],
            index=record["index"],
            start=record["start"],
            end=record["end"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "segment_id": self.segment_id,
            "index": self.index,
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SegmentsPlanned(Event):
    """Speech detection result for one audio window: its segments' ids and times (their audio
    went to transcription).
    """

    SCHEMA: ClassVar[str] = "SegmentsPlanned"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    window: int
    # True for the job's final window.
    last: bool
    # Media time (s) where the window starts.
    offset: float
    # Seconds of audio in the window.
    duration: float
    segments: tuple[PlannedSegment, ...]
    # The job's spoken language as speech detection found or was told it; empty: not known (per-
    # segment detection).
    language: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SegmentsPlanned:
        return cls(
            job_id=record["job_id"],
            window=record["window"],
            last=record["last"],
            offset=record["offset"],
            duration=record["duration"],
            segments=tuple(PlannedSegment.from_record(x) for x in record["segments"]),
            language=record["language"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "window": self.window,
            "last": self.last,
            "offset": self.offset,
            "duration": self.duration,
            "segments": [x.to_record() for x in self.segments],
            "language": self.language,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakerTurn:
    """One speaker talking (absolute media seconds)."""

    start: float
    end: float
    # The window's own speaker number.
    speaker: int

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SpeakerTurn:
        return cls(
            start=record["start"],
            end=record["end"],
            speaker=record["speaker"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "speaker": self.speaker,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Voice:
    """One speaker of the window."""

    speaker: int
    # Centroid of the speaker's embeddings in this window.
    embedding: tuple[float, ...]
    # How long the speaker talks in this window.
    seconds: float

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Voice:
        return cls(
            speaker=record["speaker"],
            embedding=tuple(record["embedding"]),
            seconds=record["seconds"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "speaker": self.speaker,
            "embedding": list(self.embedding),
            "seconds": self.seconds,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeakersFound(Event):
    """Who speaks when in one audio window (the diarize stage): turns with the window's own
    speaker numbers, and one embedding per speaker so that the cue stage can tell the same
    voice across windows.
    """

    SCHEMA: ClassVar[str] = "SpeakersFound"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    # The audio window (0, 1, 2, ... in media order).
    window: int
    # True on the job's final window.
    last: bool
    turns: tuple[SpeakerTurn, ...] = ()
    voices: tuple[Voice, ...] = ()
    # Why this window's speakers could not be found; empty: found.
    error: str = ""
    # What found them (segmentation and embedding models).
    model: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SpeakersFound:
        return cls(
            job_id=record["job_id"],
            window=record["window"],
            last=record["last"],
            turns=tuple(SpeakerTurn.from_record(x) for x in record["turns"]),
            voices=tuple(Voice.from_record(x) for x in record["voices"]),
            error=record["error"],
            model=record["model"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "window": self.window,
            "last": self.last,
            "turns": [x.to_record() for x in self.turns],
            "voices": [x.to_record() for x in self.voices],
            "error": self.error,
            "model": self.model,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SpeechSegment(Event):
    """One span of speech (at most 30 s) with its own audio."""

    SCHEMA: ClassVar[str] = "SpeechSegment"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    # Unique and stable: <job_id>:<window>-<position>.
    segment_id: str
    # Position in the media: window * 10000 + position in the window.
    index: int
    # Absolute media time (s).
    start: float
    # Absolute media time (s).
    end: float
    sample_rate: int
    # Little-endian int16 mono samples of [start, end).
    pcm: bytes
    # Language to transcribe in (ISO 639-1); empty: detect it in this segment.
    language: str = ""
    # Declared model name (models.yaml) the job asks for; empty: the stage's current model.
    model: str = ""
    # The job's English comes from Whisper's translate task (translation.yaml: backend whisper):
    # speech in another language is also translated into English where it is transcribed.
    whisper_translate: bool = False

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SpeechSegment:
        return cls(
            job_id=record["job_id"],
            segment_id=record["segment_id"],
            index=record["index"],
            start=record["start"],
            end=record["end"],
            sample_rate=record["sample_rate"],
            pcm=record["pcm"],
            language=record["language"],
            model=record["model"],
            whisper_translate=record["whisper_translate"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "segment_id": self.segment_id,
            "index": self.index,
            "start": self.start,
            "end": self.end,
            "sample_rate": self.sample_rate,
            "pcm": self.pcm,
            "language": self.language,
            "model": self.model,
            "whisper_translate": self.whisper_translate,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class StageFailed(Event):
    """A stage gave up on a whole job (bad input, undecodable event)."""

    SCHEMA: ClassVar[str] = "StageFailed"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    stage: str
    reason: str
    error_class: str

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> StageFailed:
        return cls(
            job_id=record["job_id"],
            stage=record["stage"],
            reason=record["reason"],
            error_class=record["error_class"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "stage": self.stage,
            "reason": self.reason,
            "error_class": self.error_class,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SubtitlesPublished(Event):
    """The subtitle stage published a job's files (SubtitlesReady); a small event for the
    orchestrator.
    """

    SCHEMA: ClassVar[str] = "SubtitlesPublished"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    language: str
    cue_count: int
    # A translation of the job's transcript into this language (NAME.<language>.srt), not the
    # transcript itself.
    translated: bool = False

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SubtitlesPublished:
        return cls(
            job_id=record["job_id"],
            language=record["language"],
            cue_count=record["cue_count"],
            translated=record["translated"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "language": self.language,
            "cue_count": self.cue_count,
            "translated": self.translated,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SubtitlesReady(Event):
    """Finished subtitle files for one language."""

    SCHEMA: ClassVar[str] = "SubtitlesReady"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    name: str
    language: str
    cue_count: int
    srt: str
    vtt: str
    # A translation of the job's transcript into this language (NAME.<language>.srt), not the
    # transcript itself.
    translated: bool = False
    # The cues the files were written from, each with its speaker label when the job asked for
    # them.
    cues: tuple[CueRecord, ...] = ()

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SubtitlesReady:
        return cls(
            job_id=record["job_id"],
            name=record["name"],
            language=record["language"],
            cue_count=record["cue_count"],
            srt=record["srt"],
            vtt=record["vtt"],
            translated=record["translated"],
            cues=tuple(CueRecord.from_record(x) for x in record["cues"]),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "name": self.name,
            "language": self.language,
            "cue_count": self.cue_count,
            "srt": self.srt,
            "vtt": self.vtt,
            "translated": self.translated,
            "cues": [x.to_record() for x in self.cues],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class Gap:
    """A span left untranscribed (failed segment)."""

    start: float
    end: float

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> Gap:
        return cls(
            start=record["start"],
            end=record["end"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TranscriptComplete(Event):
    """Every planned segment of a job is accounted for: which were transcribed, and the gaps
    left by failed ones.
    """

    SCHEMA: ClassVar[str] = "TranscriptComplete"

    # Job identifier; also the Kafka key, so a job's events stay ordered.
    job_id: str
    name: str
    language: str
    duration: float
    # Transcribed segments, in media order.
    segment_ids: tuple[str, ...]
    gaps: tuple[Gap, ...]
    # Subtitle languages to translate into (ISO 639-1); the spoken language's subtitles always
    # come.
    languages: tuple[str, ...] = ()
    # The job asked for speaker labels: the cue stage waits for the SpeakersFound of
    # speaker_windows.
    speakers: bool = False
    # As the job asked (0: found from the audio).
    num_speakers: int = 0
    min_speakers: int = 0
    max_speakers: int = 0
    # Windows whose speakers were found (a window whose diarization failed is left out: its
    # words get no label).
    speaker_windows: tuple[int, ...] = ()

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TranscriptComplete:
        return cls(
            job_id=record["job_id"],
            name=record["name"],
            language=record["language"],
            duration=record["duration"],
            segment_ids=tuple(record["segment_ids"]),
            gaps=tuple(Gap.from_record(x) for x in record["gaps"]),
            languages=tuple(record["languages"]),
            speakers=record["speakers"],
            num_speakers=record["num_speakers"],
            min_speakers=record["min_speakers"],
            max_speakers=record["max_speakers"],
            speaker_windows=tuple(record["speaker_windows"]),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "name": self.name,
            "language": self.language,
            "duration": self.duration,
            "segment_ids": list(self.segment_ids),
            "gaps": [x.to_record() for x in self.gaps],
            "languages": list(self.languages),
            "speakers": self.speakers,
            "num_speakers": self.num_speakers,
            "min_speakers": self.min_speakers,
            "max_speakers": self.max_speakers,
            "speaker_windows": list(self.speaker_windows),
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class SourceCue:
    """A cue of the transcript."""

    start: float
    end: float
    # Lines separated by newline.
    text: str
    # The language the cue was spoken in (that of most of its words' segments); empty: the
    # task's source_language.
    language: str = ""

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> SourceCue:
        return cls(
            start=record["start"],
            end=record["end"],
            text=record["text"],
            language=record["language"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "start": self.start,
            "end": self.end,
            "text": self.text,
            "language": self.language,
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslateRequested(Event):
    """One task of the translate stage: a job's cues into one language (cues already in it are
    kept as they are).
    """

    SCHEMA: ClassVar[str] = "TranslateRequested"

    # Job identifier.
    job_id: str
    # <job_id>:<language>, the Kafka key: a job's languages spread over the stage's workers.
    task_id: str
    # Base name of the job's subtitle files.
    name: str
    # The job's spoken language: that of every cue whose own language is empty.
    source_language: str
    # The target language.
    language: str
    cues: tuple[SourceCue, ...]

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TranslateRequested:
        return cls(
            job_id=record["job_id"],
            task_id=record["task_id"],
            name=record["name"],
            source_language=record["source_language"],
            language=record["language"],
            cues=tuple(SourceCue.from_record(x) for x in record["cues"]),
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "task_id": self.task_id,
            "name": self.name,
            "source_language": self.source_language,
            "language": self.language,
            "cues": [x.to_record() for x in self.cues],
        }


@dataclass(frozen=True, slots=True, kw_only=True)
class TranslationFailed(Event):
    """A job's translation into one language failed: that language fails, the others go on."""

    SCHEMA: ClassVar[str] = "TranslationFailed"

    # Job identifier; also the Kafka key.
    job_id: str
    language: str
    reason: str
    error_class: str

    @classmethod
    def from_record(cls, record: Mapping[str, Any]) -> TranslationFailed:
        return cls(
            job_id=record["job_id"],
            language=record["language"],
            reason=record["reason"],
            error_class=record["error_class"],
        )

    def to_record(self) -> dict[str, Any]:
        return {
            "job_id": self.job_id,
            "language": self.language,
            "reason": self.reason,
            "error_class": self.error_class,
        }


EVENT_TYPES: dict[str, type[Event]] = {
    "AudioChunk": AudioChunk,
    "AudioReady": AudioReady,
    "CuesReady": CuesReady,
    "DecodeRequested": DecodeRequested,
    "JobCheck": JobCheck,
    "JobRequested": JobRequested,
    "JobStatus": JobStatus,
    "LiveCue": LiveCue,
    "LiveSegment": LiveSegment,
    "LiveStreamStarted": LiveStreamStarted,
    "LiveTranscript": LiveTranscript,
    "ModelServing": ModelServing,
    "ModelSwitch": ModelSwitch,
    "SegmentDone": SegmentDone,
    "SegmentFailed": SegmentFailed,
    "SegmentTranscribed": SegmentTranscribed,
    "SegmentsPlanned": SegmentsPlanned,
    "SpeakersFound": SpeakersFound,
    "SpeechSegment": SpeechSegment,
    "StageFailed": StageFailed,
    "SubtitlesPublished": SubtitlesPublished,
    "SubtitlesReady": SubtitlesReady,
    "TranscriptComplete": TranscriptComplete,
    "TranslateRequested": TranslateRequested,
    "TranslationFailed": TranslationFailed,
}
