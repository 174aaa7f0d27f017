"""Live events as the stages publish them, for tests of what comes after: a phrase's
transcript with evenly spaced words."""

from __future__ import annotations

from streams.events.model import LiveKind, LiveTranscript, TranscribedWord

NOW = 1_790_000_000.0  # the capture clock of these streams


def words(text: str, start: float) -> tuple[TranscribedWord, ...]:
    """``text``'s words from ``start``, 0.3 s apart."""
    return tuple(
        TranscribedWord(
            word=f" {w}", start=start + i * 0.3, end=start + i * 0.3 + 0.25, probability=0.5
        )
        for i, w in enumerate(text.split())
    )


def transcript(
    seq: int,
    kind: LiveKind,
    start: float,
    end: float,
    text: str,
    speaker: str = "",
    language: str = "",
) -> LiveTranscript:
    """Stream "s"'s item ``seq`` as transcribe-live (or speech detection, for marks) sends it."""
    return LiveTranscript(
        stream_id="s",
        seq=seq,
        revision=0,
        kind=kind,
        start=start,
        end=end,
        capture_end=NOW + end,
        source_offset=0.0,
        text=text,
        words=words(text, start),
        model="tiny.en",
        model_version="test",
        processing_seconds=0.1,
        reason="",
        speaker=speaker,
        language=language,
    )
