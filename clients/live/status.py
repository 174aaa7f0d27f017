"""Live stream status for `kaption streams`: each stream's state folded from its live cues.

The cue topic already says everything an operator asks about a stream (is it still live, how
far its captions are final, its gaps and why, why it ended, how late its captions come), so
the status is a fold over it: pure, in bounded memory per stream (the latest words' latencies,
not all of them).
"""

from __future__ import annotations

import json
import math
from collections import deque
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field

import numpy as np

from clients.status import humanise_seconds, read_topic
from streams.events.codec import DecodeError
from streams.events.model import LiveCue, LiveKind, LiveStreamStarted
from streams.events.registry import event_codec
from streams.settings import KaptionSettings

# Columns of the human table, in order (every row has more keys; see stream_row).
COLUMNS = (
    "stream",
    "state",
    "media",
    "finals",
    "words",
    "gaps",
    "final latency",
    "updated",
    "reason",
    "replay",  # the file-lane replay's state and words (clients/live/replay.py)
)
CUES_TOPIC = "live.cues"
STARTS_TOPIC = "live.streams"  # each stream's start and options (LiveStreamStarted)
RECENT_WORDS = 500  # latency figures cover the stream's latest words


@dataclass
class StreamSummary:
    stream_id: str
    first_published: float
    last_published: float = 0.0
    watermark: float = 0.0  # media seconds up to which the captions are final
    finals: int = 0
    words: int = 0
    gaps: int = 0
    gap_s: float = 0.0
    last_gap_reason: str = ""
    end_reason: str | None = None  # None while the stream is live
    last_text: str = ""
    final_latencies: deque[float] = field(default_factory=lambda: deque(maxlen=RECENT_WORDS))

    @property
    def ended(self) -> bool:
        return self.end_reason is not None


def fold(summaries: dict[str, StreamSummary], cue: LiveCue) -> None:
    """Takes one cue of a stream into its summary (cues of a stream come in order)."""
    summary = summaries.get(cue.stream_id)
    if summary is None or (summary.ended and cue.seq == 0 and cue.kind != LiveKind.END):
        # A stream id used again after its end starts afresh.
        summary = summaries[cue.stream_id] = StreamSummary(cue.stream_id, cue.published_at)
    summary.last_published = max(summary.last_published, cue.published_at)
    summary.watermark = max(summary.watermark, cue.watermark)
    if cue.kind == LiveKind.FINAL:
        summary.finals += 1
        summary.words += len(cue.words)
        summary.final_latencies.extend(w.final_latency_s for w in cue.words)
        text = " ".join(line.text.replace("\n", " ") for line in cue.cues)
        summary.last_text = text or summary.last_text
    elif cue.kind == LiveKind.GAP:
        summary.gaps += 1
        summary.gap_s += cue.gap_s
        summary.last_gap_reason = cue.reason
    elif cue.kind == LiveKind.END:
        summary.end_reason = cue.reason


def summarise(cues: Iterable[LiveCue]) -> dict[str, StreamSummary]:
    summaries: dict[str, StreamSummary] = {}
    for cue in cues:
        fold(summaries, cue)
    return summaries


def stream_row(summary: StreamSummary, now: float) -> dict[str, object]:
    """One stream's row: display strings plus the numbers behind them; JSON-serialisable."""
    # The figures the live benchmark reports, by the same definition; none without words.
    figures = latency_summary(summary.final_latencies) if summary.final_latencies else {}
    p50, p95 = figures.get("p50"), figures.get("p95")
    if summary.ended:
        reason = summary.end_reason
    elif summary.gaps:
        reason = f"last gap: {summary.last_gap_reason}"
    else:
        reason = ""
    return {
        "kind": "stream",
        "stream": summary.stream_id,
        "state": "ENDED" if summary.ended else "LIVE",
        "media": humanise_seconds(summary.watermark),
        "media_s": round(summary.watermark, 2),
        "finals": summary.finals,
        "words": summary.words,
        "gaps": f"{summary.gaps} ({summary.gap_s:.1f} s)" if summary.gaps else "0",
        "gap_count": summary.gaps,
        "gap_s": round(summary.gap_s, 2),
        "final latency": f"p50 {p50:.1f} s, p95 {p95:.1f} s" if p50 is not None else "",
        "final_latency_p50_s": p50,
        "final_latency_p95_s": p95,
        "age": humanise_seconds(now - summary.first_published),
        "updated": humanise_seconds(now - summary.last_published),
        "updated_s": round(now - summary.last_published, 1),
        "end_reason": summary.end_reason,
        "last_gap_reason": summary.last_gap_reason,
        "last_caption": summary.last_text,
        "reason": reason,
    }


def no_replay(stream_id: str) -> dict[str, object]:
    return {"replay": ""}


def stream_rows(
    summaries: Iterable[StreamSummary],
    now: float,
    replay: Callable[[str], Mapping[str, object]] = no_replay,
) -> list[dict[str, object]]:
    """Live streams first, then the most recently updated; ``replay`` adds a stream's replay
    columns (clients/live/replay.py)."""
    ordered = sorted(summaries, key=lambda s: (not s.ended, s.last_published), reverse=True)
    return [stream_row(summary, now) | dict(replay(summary.stream_id)) for summary in ordered]


def streams_json(
    summaries: Iterable[StreamSummary],
    now: float,
    indent: int | None = 2,
    replay: Callable[[str], Mapping[str, object]] = no_replay,
) -> str:
    return json.dumps(stream_rows(summaries, now, replay), indent=indent)


def read_streams(settings: KaptionSettings, timeout_s: float = 30.0) -> dict[str, StreamSummary]:
    """Every stream's summary from the live cue topic (records that are not LiveCues, such as
    tombstones or another version's events, are skipped)."""
    codec = event_codec(settings)
    summaries: dict[str, StreamSummary] = {}

    def take(key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            event = codec.decode(value)
        except DecodeError:
            return
        if isinstance(event, LiveCue):
            fold(summaries, event)

    read_topic(settings, CUES_TOPIC, take, "live stream status", timeout_s)
    return summaries


def latest_starts(events: Iterable[object]) -> dict[str, LiveStreamStarted]:
    """Each stream's latest start among events in topic order (a stream's starts share its key,
    so they come in order): the options of its current or last run."""
    return {e.stream_id: e for e in events if isinstance(e, LiveStreamStarted)}


def read_starts(settings: KaptionSettings, timeout_s: float = 30.0) -> dict[str, LiveStreamStarted]:
    """Every stream's latest start from the live.streams topic (other records are skipped)."""
    codec = event_codec(settings)
    events: list[object] = []

    def take(key: bytes | None, value: bytes | None) -> None:
        if value is None:
            return
        try:
            events.append(codec.decode(value))
        except DecodeError:
            return

    read_topic(settings, STARTS_TOPIC, take, "live stream starts", timeout_s)
    return latest_starts(events)


def latency_summary(values: Sequence[float]) -> dict[str, float]:
    """count, p50, p95 and max of latencies in seconds (NaN figures when there are none)."""
    data = np.asarray(values, dtype=float)
    if data.size == 0:
        return {"count": 0, "p50": math.nan, "p95": math.nan, "max": math.nan}
    return {
        "count": int(data.size),
        "p50": float(np.percentile(data, 50)),
        "p95": float(np.percentile(data, 95)),
        "max": float(data.max()),
    }
