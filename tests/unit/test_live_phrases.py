"""Live speech detection: Silero across chunks, phrases, interims, marks and restart state."""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterator
from dataclasses import replace
from functools import cache

import numpy as np
import pytest
from faster_whisper.vad import get_vad_model

from agents.live.phrases import Detector, Out, PhraseRules, StreamState
from agents.live.vad import FRAME, VadState, score
from clients.live.ingest import End
from clients.live.session import audio_chunk
from streams.events.audio import SAMPLE_RATE
from streams.events.model import AudioChunk, LiveKind, LiveSegment, LiveTranscript
from tests.paths import MEDIA

CHUNK_S = 0.5
UTTERANCES = json.loads((MEDIA / "speech.json").read_text())["utterances"]


@cache
def speech() -> np.ndarray:
    from agents.decode.media import decode_audio

    return decode_audio(str(MEDIA / "speech.wav")).pcm


def chunks(pcm: np.ndarray, chunk_s: float = CHUNK_S, end: bool = True) -> Iterator[AudioChunk]:
    size = round(chunk_s * SAMPLE_RATE)
    pieces = [pcm[i : i + size] for i in range(0, len(pcm), size)]
    for seq, piece in enumerate(pieces):
        media_time = seq * chunk_s
        duration = len(piece) / SAMPLE_RATE
        yield AudioChunk(
            stream_id="s",
            seq=seq,
            media_time=media_time,
            duration=duration,
            capture_time=1000.0 + media_time + duration,
            sample_rate=SAMPLE_RATE,
            pcm=piece.astype("<i2").tobytes(),
            source_offset=1.4,
            gap_before=0.0,
            gap_reason="",
            last=end and seq == len(pieces) - 1,
            end_reason="source ended" if end and seq == len(pieces) - 1 else "",
        )


def run(detector: Detector, source: Iterator[AudioChunk], restart: bool = False) -> list[Out]:
    """Every output; ``restart``: the state goes through its stored form between chunks, as
    when another worker takes the stream over."""
    out: list[Out] = []
    for chunk in source:
        if restart:
            phrase = detector.state.phrase
            stored = json.loads(json.dumps(detector.state.to_dict()))
            pieces = list(phrase.pieces) if phrase else []
            detector = Detector("s", detector.rules, StreamState.from_dict(stored, pieces))
        out += detector.feed(chunk, 5000.0)
    return out


def finals(out: list[Out]) -> list[LiveSegment]:
    return [o for o in out if isinstance(o, LiveSegment) and o.final]


def test_scoring_chunk_by_chunk_gives_the_one_call_probabilities() -> None:
    audio = speech().astype(np.float32) / 32768
    whole = len(audio) // FRAME * FRAME
    expected = get_vad_model()(audio[:whole]).reshape(-1)
    state, got = VadState(), []
    for start in range(0, len(audio), 8000):  # 0.5 s: not a whole number of frames
        got.append(score(state, audio[start : start + 8000]))
        state = VadState.from_dict(json.loads(json.dumps(state.to_dict())))
    assert np.allclose(np.concatenate(got)[: len(expected)], expected, atol=1e-5)


def test_each_utterance_becomes_one_final_phrase_after_its_interims() -> None:
    out = run(Detector("s", PhraseRules()), chunks(speech()))
    phrases = finals(out)
    assert len(phrases) == len(UTTERANCES)
    for phrase, utterance in zip(phrases, UTTERANCES, strict=True):
        assert phrase.start <= utterance["start"] and phrase.end >= utterance["end"] - 0.1
        assert len(phrase.pcm) == round((phrase.end - phrase.start) * SAMPLE_RATE) * 2
        assert phrase.capture_end == pytest.approx(1000.0 + phrase.end, abs=0.05)
        interims = [o for o in out if isinstance(o, LiveSegment) and o.seq == phrase.seq]
        revisions = [o.revision for o in interims]
        assert revisions == list(range(len(interims))) and len(interims) >= 3
        assert all(not o.final for o in interims[:-1]) and interims[-1] is phrase
    seqs = [o.seq for o in out if isinstance(o, LiveTranscript) or o.final]
    assert seqs == list(range(len(seqs)))  # one sequence: phrases and marks
    end = out[-1]
    assert isinstance(end, LiveTranscript) and end.kind == LiveKind.END
    assert end.reason == "source ended" and end.end == pytest.approx(len(speech()) / 16000, 0.01)


def test_interims_come_every_interval_of_new_audio() -> None:
    out = run(Detector("s", PhraseRules(interim_interval_s=1.0)), chunks(speech()))
    for phrase in finals(out):
        ends = [o.end for o in out if isinstance(o, LiveSegment) and o.seq == phrase.seq]
        steps = np.diff(ends[:-1])
        assert all(0.9 <= step <= 1.1 for step in steps), steps


def test_a_restart_between_any_two_chunks_changes_nothing() -> None:
    rules = PhraseRules()
    assert run(Detector("s", rules), chunks(speech()), restart=True) == run(
        Detector("s", rules), chunks(speech())
    )


def test_no_phrase_is_longer_than_the_maximum() -> None:
    rules = PhraseRules(max_phrase_s=1.5, soft_max_s=1.0, short_pause_s=0.5)
    phrases = finals(run(Detector("s", rules), chunks(speech())))
    assert len(phrases) > len(UTTERANCES)
    assert all(p.end - p.start <= 1.5 + 0.05 for p in phrases)


def test_silence_moves_the_watermark_with_marks() -> None:
    quiet = np.zeros(SAMPLE_RATE * 7, dtype=np.int16)
    out = run(Detector("s", PhraseRules(silence_mark_s=2.0)), chunks(quiet))
    marks = [o for o in out if isinstance(o, LiveTranscript)]
    assert [m.kind for m in marks] == [LiveKind.SILENCE] * 3 + [LiveKind.END]
    steps = np.diff([0.0] + [m.end for m in marks[:3]])
    assert all(2.0 <= step < 2.0 + FRAME / SAMPLE_RATE for step in steps), steps
    assert all(a.end == b.start for a, b in itertools.pairwise(marks))


def test_a_gap_closes_the_phrase_and_is_marked_with_its_reason() -> None:
    source = list(chunks(speech(), end=False))
    at = 6  # 3.0 s: inside the first utterance
    resumed = source[at]
    source[at] = replace(
        resumed, media_time=resumed.media_time + 4.0, gap_before=4.0, gap_reason="source lost"
    )
    for i in range(at + 1, len(source)):
        source[i] = replace(source[i], media_time=source[i].media_time + 4.0)
    out = run(Detector("s", PhraseRules()), iter(source))
    gap = next(o for o in out if isinstance(o, LiveTranscript) and o.kind == LiveKind.GAP)
    before = [o for o in finals(out) if o.seq < gap.seq]
    assert len(before) == 1 and before[0].end <= 3.0 + 0.05  # closed where the audio stopped
    assert (gap.start, gap.end, gap.reason) == (pytest.approx(3.0), 7.0, "source lost")
    assert all(o.start >= 7.0 for o in finals(out) if o.seq > gap.seq)


def test_a_corrupt_chunk_becomes_a_gap_and_detection_goes_on() -> None:
    source = list(chunks(speech()))
    source[2] = replace(source[2], pcm=source[2].pcm[:-1])
    out = run(Detector("s", PhraseRules()), iter(source))
    gap = next(o for o in out if isinstance(o, LiveTranscript) and o.kind == LiveKind.GAP)
    assert "not whole int16 samples" in gap.reason and gap.end == pytest.approx(1.5)
    assert len(finals(out)) == len(UTTERANCES)


def test_a_phrase_open_at_the_end_keeps_the_capture_clock_of_its_audio() -> None:
    # Stopped 2.5 s into the first utterance; ingest's end chunk has no audio and no time.
    source = list(chunks(speech()[: round(2.5 * SAMPLE_RATE)], end=False))
    end = audio_chunk("s", End(len(source), 2.5, "stopped"))
    out = run(Detector("s", PhraseRules()), iter([*source, end]))
    (final,) = finals(out)
    assert final.end == pytest.approx(2.5, abs=0.05)
    assert final.capture_end == pytest.approx(1000.0 + final.end)  # as the audio was captured
    assert final.source_offset == 1.4


def test_a_repeated_chunk_is_ignored() -> None:
    source = list(chunks(speech()))
    doubled = [c for chunk in source for c in (chunk, chunk)]
    rules = PhraseRules()
    assert run(Detector("s", rules), iter(doubled)) == run(Detector("s", rules), iter(source))
