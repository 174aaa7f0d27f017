"""The client side of live streams: names, chunk events, and bounded latency figures."""

from __future__ import annotations

import numpy as np
import pytest

from clients.live.ingest import Chunk, End
from clients.live.session import Latencies, audio_chunk, stream_name


@pytest.mark.parametrize(
    ("source", "name"),
    [
        ("/videos/match day.mp4", "match-day"),
        ("udp://127.0.0.1:5000", "127.0.0.1-5000"),
        ("udp://@:1234", "1234"),
        ("http://cdn.example/live/channel1/index.m3u8", "channel1"),
        ("http://cdn.example/news.m3u8", "news"),
        ("rtmp://host/app/key", "key"),
    ],
)
def test_stream_names_are_file_names_from_the_source(source: str, name: str) -> None:
    assert stream_name(source) == name


def test_chunks_and_the_end_become_events_in_order() -> None:
    chunk = Chunk(3, 1.5, 0.5, b"\x01\x00" * 8000, 100.0, 1.4, 2.0, "source lost")
    event = audio_chunk("s", chunk)
    assert (event.seq, event.media_time, event.gap_before, event.last) == (3, 1.5, 2.0, False)
    assert event.pcm == chunk.pcm and event.source_offset == 1.4
    end = audio_chunk("s", End(4, 2.0, "source ended"))
    assert end.last and end.end_reason == "source ended" and end.pcm == b""


def test_latency_percentiles_are_within_a_bin_in_bounded_memory() -> None:
    values = np.random.default_rng(7).gamma(4.0, 0.5, size=20_000)
    figures = Latencies()
    for value in values:
        figures.add(float(value))
    summary = figures.summary()
    assert len(figures) == len(values) and summary["max"] == values.max()
    for key, q in (("p50", 50), ("p95", 95)):
        assert 0 <= summary[key] - np.percentile(values, q) <= Latencies.BIN_S + 1e-9
    figures.add(500.0)  # beyond the last bin: still counted, still the maximum
    assert figures.summary()["max"] == 500.0 and figures.counts.size == 12_000
