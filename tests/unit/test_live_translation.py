"""Live translation's pure parts (agents/translate/live.py): a stream's languages, translated
finals laid out by the cue rules after what a language has written, each word's latency to the
translated publication, marks and failures per language; and the client's view of them."""

from __future__ import annotations

import itertools
import json
from dataclasses import replace

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from agents.cues.check import check_cues
from agents.cues.model import Cue
from agents.translate.live import (
    Early,
    StreamLanguages,
    failed_gap,
    passed_on,
    placed,
    source_texts,
    started,
    translated_final,
    word_latency,
)
from clients.live.session import Captions
from streams.cue_rules import DEFAULT_RULES
from streams.events.model import CueRecord, LiveCue, LiveCueLine, LiveKind, LiveStreamStarted
from streams.events.model import LiveWord as W

NOW = 1_790_000_010.0


def final(
    seq: int, lines: list[tuple[float, float, str]], capture_end: float = NOW - 1.0
) -> LiveCue:
    """A source FINAL as cues-live publishes it: its words one per cue line, the phrase's audio
    ending at the last line's end, captured ``capture_end``."""
    words = tuple(
        W(word=t.split()[0], start=s, end=e, first_latency_s=0.5, final_latency_s=0.8)
        for s, e, t in lines
    )
    end = max(e for _, e, _ in lines)
    return LiveCue(
        stream_id="s",
        seq=seq,
        revision=3,
        kind=LiveKind.FINAL,
        start=lines[0][0],
        end=end,
        stable="",
        unstable="",
        cues=tuple(LiveCueLine(start=s, end=e, text=t) for s, e, t in lines),
        words=words,
        watermark=end,
        source_offset=0.0,
        gap_s=0.0,
        reason="",
        published_at=NOW - 0.5,
        capture_end=capture_end,
    )


def mark(seq: int, kind: LiveKind, reason: str = "") -> LiveCue:
    return replace(final(seq, [(9.0, 10.0, "x")]), kind=kind, cues=(), words=(), reason=reason)


def as_cues(lines: list[LiveCueLine]) -> list[Cue]:
    return [Cue.from_text(c.start, c.end, c.text) for c in lines]


def test_a_stream_asks_for_each_language_once_or_for_none() -> None:
    asked = started(
        LiveStreamStarted(stream_id="s", languages=("es", "", "de", "es"), started_at=0)
    )
    assert asked.languages == ("es", "de") and asked.live() == ["es", "de"]
    untranslated = started(LiveStreamStarted(stream_id="s", languages=(), started_at=0))
    assert untranslated.languages == () and untranslated.live() == []


def test_cues_read_before_their_streams_start_wait_for_it_bounded() -> None:
    early = Early(per_stream=3, streams=2)
    old_run = replace(mark(0, LiveKind.END), published_at=NOW - 100)
    cues = [final(seq, [(seq, seq + 1.0, f"w{seq}")]) for seq in range(5)]
    for cue in [old_run, *cues]:
        early.hold(cue)
    # The newest per_stream of this run, in order; the earlier run's end is not this run's.
    start = LiveStreamStarted(stream_id="s", languages=("es",), started_at=NOW - 10)
    assert early.claim(start) == cues[-3:]
    assert early.claim(start) == []  # claimed once
    for stream_id in ("a", "b", "c"):
        early.hold(replace(cues[0], stream_id=stream_id))
    assert list(early.held) == ["b", "c"]  # only the newest streams are kept


def test_the_state_survives_json() -> None:
    state = StreamLanguages(("es", "de"), {"de": "no model"}, {"de"}, {"es": 4.5})
    again = StreamLanguages.from_dict(json.loads(json.dumps(state.to_dict())))
    assert again == state and again.live() == ["es"]


def test_a_translated_final_keeps_the_source_times_and_the_cue_rules() -> None:
    source = final(2, [(1.0, 3.0, "The quick brown fox"), (3.2, 5.0, "jumps over the lazy dog.")])
    texts = [
        "El zorro marrón rápido y muy, muy, muy astuto del bosque oscuro y frío",
        "salta el perro perezoso.",
    ]
    assert source_texts(source) == ["The quick brown fox", "jumps over the lazy dog."]
    es = translated_final(source, "es", texts, floor=0.0, now=NOW)
    assert (es.kind, es.seq, es.language, es.published_at) == (LiveKind.FINAL, 2, "es", NOW)
    assert es.cues[0].start == 1.0 and es.cues[-1].start < 5.0
    assert " ".join(c.text.replace("\n", " ") for c in es.cues) == " ".join(texts)
    assert all(len(line) <= 42 for c in es.cues for line in c.text.split("\n"))
    assert check_cues(as_cues(list(es.cues))) == []
    # The source's words, each measured from the capture of its end to this publication.
    assert [w.word for w in es.words] == ["The", "jumps"]
    assert [w.final_latency_s for w in es.words] == [
        NOW - (source.capture_end - (5.0 - 3.0)),
        NOW - source.capture_end,
    ]
    assert all(w.first_latency_s == w.final_latency_s for w in es.words)


def test_without_a_capture_time_a_word_adds_the_wait_since_its_source_final() -> None:
    source = replace(final(0, [(0.0, 1.0, "Hello")]), capture_end=0.0)
    assert word_latency(source, source.words[0], NOW) == pytest.approx(0.8 + 0.5)


def test_a_final_gives_way_to_the_cues_a_language_has_written() -> None:
    first = final(0, [(0.0, 1.0, "Hi.")])
    long = "Hola, ¿qué tal estás hoy por la mañana, amigo mío de siempre?"
    es0 = translated_final(first, "es", [long], floor=0.0, now=NOW)
    # Its reading time runs past the next phrase's start: that phrase starts after it.
    assert es0.cues[-1].end > 1.5
    second = final(1, [(1.2, 2.0, "Yes."), (2.0, 3.0, "Fine.")])
    es1 = translated_final(second, "es", ["Sí.", "Bien."], floor=es0.cues[-1].end, now=NOW)
    both = [*es0.cues, *es1.cues]
    assert es1.cues[0].start == es0.cues[-1].end
    assert check_cues(as_cues(both)) == []


@settings(max_examples=200, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.floats(0, 30),
            st.floats(0, 8),
            st.text(alphabet="abc ", min_size=1, max_size=120).filter(str.strip),
        ),
        min_size=1,
        max_size=6,
    ),
    st.floats(0, 40),
)
def test_placed_cues_never_overlap_or_start_before_the_floor(
    spans: list[tuple[float, float, str]], floor: float
) -> None:
    starts = sorted(s for s, _, _ in spans)
    cues = [
        CueRecord(start=s, end=s + d, text=t) for s, (_, d, t) in zip(starts, spans, strict=True)
    ]
    out = placed(cues, floor)
    assert [c.text for c in out] == [c.text for c in cues]
    assert out[0].start >= round(floor, 3)
    for a, b in itertools.pairwise(out):
        assert a.end <= b.start
    for c in out:
        assert c.start <= c.end <= c.start + DEFAULT_RULES.max_duration + 1e-9  # whole ms


def test_marks_go_to_each_language_and_the_end_says_why_a_language_stopped() -> None:
    state = StreamLanguages(("es", "de", "fr"), failed={"de": "no model", "fr": "broken"})
    state.shown.add("fr")  # its gap has told already
    silence = passed_on(state, mark(4, LiveKind.SILENCE), NOW)
    assert [(c.language, c.kind) for c in silence] == [("es", LiveKind.SILENCE)]
    ends = passed_on(state, mark(5, LiveKind.END, "source ended"), NOW)
    assert [(c.language, c.reason) for c in ends] == [
        ("es", "source ended"),
        ("de", "translation into de failed: no model"),
        ("fr", "source ended"),
    ]
    assert {(c.kind, c.seq, c.published_at) for c in ends} == {(LiveKind.END, 5, NOW)}


def test_a_final_that_fails_is_a_gap_in_that_language() -> None:
    gap = failed_gap(final(3, [(2.0, 4.0, "Hello there")]), "de", "apertium: exit 1", NOW)
    assert (gap.kind, gap.seq, gap.language, gap.cues, gap.words) == (LiveKind.GAP, 3, "de", (), ())
    assert gap.gap_s == 2.0 and gap.reason == "translation into de failed: apertium: exit 1"


def test_the_client_keeps_translations_apart_and_waits_for_every_language() -> None:
    shown: list[str] = []
    captions = Captions("s", shown.append, languages=("es", "de"))
    source = final(0, [(0.0, 1.0, "Hello")])
    es = translated_final(source, "es", ["Hola"], 0.0, NOW)
    de = failed_gap(source, "de", "no model", NOW)
    captions.take([source, es, de, mark(1, LiveKind.END, "done")])
    assert len(captions.final) == 1 and len(captions.translated["es"]) == 1
    assert captions.ended is not None and not captions.done
    assert shown[-1].endswith("de: gap of 1.0 s: translation into de failed: no model")
    captions.take(passed_on(StreamLanguages(("es", "de"), {"de": "x"}), mark(1, LiveKind.END), NOW))
    assert captions.done
    assert any(
        line.startswith("caption latency, translated es: p50") for line in captions.summary()
    )
