"""Stream status folded from live cues: state, media, finals, gaps and why, latency."""

from __future__ import annotations

import json

import pytest

from clients.live.status import (
    RECENT_WORDS,
    fold,
    latency_summary,
    stream_rows,
    streams_json,
    summarise,
)
from streams.events.model import LiveCue, LiveCueLine, LiveKind, LiveWord

T0 = 1_790_000_000.0


def cue(
    seq: int,
    kind: LiveKind,
    start: float,
    end: float,
    *,
    stream: str = "s",
    text: str = "",
    latencies: tuple[float, ...] = (),
    gap_s: float = 0.0,
    reason: str = "",
) -> LiveCue:
    words = tuple(
        LiveWord(word=f"w{i}", start=start, end=end, first_latency_s=x / 2, final_latency_s=x)
        for i, x in enumerate(latencies)
    )
    lines = (LiveCueLine(start=start, end=end, text=text),) if text else ()
    return LiveCue(
        stream_id=stream,
        seq=seq,
        revision=0,
        kind=kind,
        start=start,
        end=end,
        stable="",
        unstable="",
        cues=lines,
        words=words,
        watermark=end if kind != LiveKind.INTERIM else start,
        source_offset=0.0,
        gap_s=gap_s,
        reason=reason,
        published_at=T0 + end,
    )


STREAM = [
    cue(0, LiveKind.INTERIM, 0.0, 1.0),
    cue(0, LiveKind.FINAL, 0.0, 2.0, text="hello\nthere", latencies=(1.0, 2.0, 3.0)),
    cue(1, LiveKind.GAP, 2.0, 5.0, gap_s=3.0, reason="source lost: connection reset"),
    cue(2, LiveKind.FINAL, 5.0, 7.0, text="again", latencies=(4.0,)),
]


def test_a_live_stream_shows_its_finals_gaps_and_latest_gap_reason() -> None:
    [row] = stream_rows(summarise(STREAM).values(), now=T0 + 10)
    assert row["state"] == "LIVE" and row["media_s"] == 7.0
    assert row["finals"] == 2 and row["words"] == 4 and row["gap_count"] == 1
    assert row["gap_s"] == 3.0 and row["gaps"] == "1 (3.0 s)"
    assert row["reason"] == "last gap: source lost: connection reset"
    assert row["last_caption"] == "again" and row["updated_s"] == 3.0
    assert row["final_latency_p50_s"] == 2.5 and row["final_latency_p95_s"] == pytest.approx(3.85)


def test_an_ended_stream_says_why_and_sorts_after_live_ones() -> None:
    ended = [*STREAM, cue(3, LiveKind.END, 7.0, 7.0, reason="source ended")]
    other = [cue(0, LiveKind.FINAL, 0.0, 1.0, stream="t", text="hi", latencies=(0.5,))]
    rows = stream_rows(summarise(ended + other).values(), now=T0 + 10)
    assert [(r["stream"], r["state"]) for r in rows] == [("t", "LIVE"), ("s", "ENDED")]
    assert rows[1]["reason"] == rows[1]["end_reason"] == "source ended"
    assert json.loads(streams_json(summarise(ended).values(), T0 + 10))[0]["state"] == "ENDED"


def test_a_stream_id_used_again_after_its_end_starts_afresh() -> None:
    again = [*STREAM, cue(3, LiveKind.END, 7.0, 7.0, reason="stopped"), STREAM[0], STREAM[1]]
    [row] = stream_rows(summarise(again).values(), now=T0 + 10)
    assert row["state"] == "LIVE" and row["finals"] == 1 and row["gap_count"] == 0


def test_latency_figures_keep_only_the_latest_words() -> None:
    summaries = summarise([])
    for seq in range(RECENT_WORDS):  # a long stream: many finals of one slow word each
        fold(summaries, cue(seq, LiveKind.FINAL, seq, seq + 1.0, text="x", latencies=(9.0,)))
    for seq in range(RECENT_WORDS, 2 * RECENT_WORDS):
        fold(summaries, cue(seq, LiveKind.FINAL, seq, seq + 1.0, text="x", latencies=(1.0,)))
    assert len(summaries["s"].final_latencies) == RECENT_WORDS
    [row] = stream_rows(summaries.values(), now=T0)
    assert row["final_latency_p95_s"] == 1.0 and row["words"] == 2 * RECENT_WORDS


def test_latency_summary() -> None:
    summary = latency_summary([float(v) for v in range(1, 101)])
    assert summary["count"] == 100
    assert summary["p50"] == pytest.approx(50.5)
    assert summary["p95"] == pytest.approx(95.05)
    assert summary["max"] == 100.0
    assert latency_summary([])["count"] == 0


# --- lost items ------------------------------------------------------------------------------
