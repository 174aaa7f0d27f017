"""The subtitle files of one live stream, kept up to date as final cues arrive.

In ``DIR``, for a stream called ``NAME``:

- ``NAME.vtt``: rolling WebVTT of every final cue so far, appended one whole phrase at a time
  (a cue never starts before the last written one ends: `after_written`); at the end it is
  rewritten (same cues) as the stream's complete WebVTT, next to ``NAME.srt``.
- ``NAME.m3u8`` and ``NAME-<n>.vtt``: an HLS subtitle media playlist (RFC 8216) of WebVTT
  segments; segment n covers media time [n * segment_s, (n + 1) * segment_s) and is written once
  the stream's watermark reaches its end, so a published segment never changes.
- ``.NAME.live.json``: the sidecar state (last sequence number, the cues the unwritten segments
  still need, segment counter, rolling-file length), rewritten atomically after every change.

A stream that asked for speakers has each final's label on its cues: WebVTT voice tags
(``<v Speaker N>``) in NAME.vtt and the segments, and in NAME.srt a dash where the speaker
changes (agents/subtitles/render.py, as the file lane renders its labels).

Restart safety comes from the sidecar rather than from re-reading the files: a new
``LiveOutputs`` over the same directory reloads it, cuts the rolling WebVTT back to the length
recorded there (dropping a phrase appended by a worker that died before recording it, which the
broker will deliver again), and ignores items whose ``seq`` it has already handled.

Memory stays bounded however long the stream runs: only the cues of segments not yet written
are held; the final SRT and WebVTT are built from the rolling file on disk.
"""

from __future__ import annotations

import json
import logging
import math
import os
import tempfile
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from agents.subtitles.render import dash_speaker_changes, parse_cues, to_srt, to_vtt
from streams.events.model import CueRecord, LiveCue, LiveCueLine, LiveKind

log = logging.getLogger(__name__)

# MPEG-TS presentation timestamps: a 90 kHz clock in a 33-bit counter.
MPEGTS_HZ = 90_000
MPEGTS_WRAP = 2**33
# Floating-point slack when comparing media times with segment boundaries.
_EPSILON = 1e-6
_STATE_VERSION = 1
_HEADER = "WEBVTT\n\n"


@dataclass(frozen=True, slots=True)
class PlaylistEntry:
    """One media segment of a playlist: its URI (relative to the playlist) and duration (s)."""

    uri: str
    duration: float


def mpegts_ticks(source_offset: float) -> int:
    """The 90 kHz MPEG-TS timestamp of media time 0 (wrapped to 33 bits like a real PTS)."""
    return round(source_offset * MPEGTS_HZ) % MPEGTS_WRAP


def _records(cues: Iterable[LiveCueLine | CueRecord], speaker: str = "") -> list[CueRecord]:
    """As records, each with its speaker (a CueRecord's own; ``speaker`` for a final's lines:
    a phrase has one)."""
    # Blank cues would render as a timing line with no text, which players show as nothing.
    return [
        CueRecord(
            start=c.start,
            end=c.end,
            text=c.text,
            speaker=c.speaker if isinstance(c, CueRecord) else speaker,
        )
        for c in cues
        if c.text.strip()
    ]


def after_written(cues: Sequence[CueRecord], horizon: float) -> list[CueRecord]:
    """Cues to append after a file whose last cue ends at ``horizon``, never overlapping it or
    each other: a cue that starts earlier starts at ``horizon`` (the written cue cannot
    change) and ends no earlier than it starts. cues-live already places its finals this way;
    this keeps the files well-formed whatever comes (items published before it did)."""
    placed: list[CueRecord] = []
    for cue in sorted(cues, key=lambda c: c.start):
        start = max(cue.start, horizon)
        placed.append(
            CueRecord(start=start, end=max(cue.end, start), text=cue.text, speaker=cue.speaker)
        )
        horizon = max(horizon, placed[-1].end)
    return placed


def segment_vtt(cues: Sequence[LiveCueLine | CueRecord], source_offset: float) -> str:
    """One HLS WebVTT segment: cue times stay media times, and X-TIMESTAMP-MAP maps media time
    0 to the source's presentation time (``source_offset`` seconds), which is how hls.js and
    Safari line the captions up with the video."""
    body = to_vtt(_records(cues)).removeprefix(_HEADER)
    timestamp_map = f"X-TIMESTAMP-MAP=MPEGTS:{mpegts_ticks(source_offset)},LOCAL:00:00:00.000"
    return f"WEBVTT\n{timestamp_map}\n\n{body}"


def playlist_text(
    entries: Iterable[PlaylistEntry],
    *,
    media_sequence: int,
    target_duration: int,
    event: bool,
    ended: bool,
    vod: bool = False,
) -> str:
    """An HLS media playlist (RFC 8216): an EVENT playlist (``event``: segments are only ever
    added), a VOD one (``vod``: complete, never changes) or a sliding window whose first entry
    has number ``media_sequence``; ``ended`` adds #EXT-X-ENDLIST. Every duration, rounded, must
    be at most ``target_duration``."""
    lines = [
        "#EXTM3U",
        # Version 3: decimal EXTINF durations.
        "#EXT-X-VERSION:3",
        f"#EXT-X-TARGETDURATION:{target_duration}",
        f"#EXT-X-MEDIA-SEQUENCE:{media_sequence}",
    ]
    if vod or event:
        lines.append(f"#EXT-X-PLAYLIST-TYPE:{'VOD' if vod else 'EVENT'}")
    for entry in entries:
        if round(entry.duration) > target_duration:
            raise ValueError(
                f"segment {entry.uri} lasts {entry.duration:.3f} s, "
                f"more than the target duration {target_duration} s"
            )
        lines += [f"#EXTINF:{entry.duration:.3f},", entry.uri]
    if ended:
        lines.append("#EXT-X-ENDLIST")
    return "\n".join(lines) + "\n"


def rolling_block(cues: Sequence[LiveCueLine | CueRecord], first_number: int) -> str:
    """WebVTT cue blocks to append to a rolling file that already holds ``first_number - 1``
    cues: laid out exactly as ``to_vtt`` lays out the whole file, so that the rolling file and
    the final one are the same text."""
    blocks = to_vtt(_records(cues)).removeprefix(_HEADER).split("\n\n")
    numbered = []
    for number, block in enumerate((b for b in blocks if b), start=first_number):
        _identifier, rest = block.split("\n", 1)
        numbered.append(f"{number}\n{rest}\n\n")
    return "".join(numbered)


def _write_atomically(path: Path, text: str) -> None:
    # A reader (a player polling the playlist) sees the old file or the new one, never half.
    fd, temp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    try:
        # mkstemp makes the file private; the outputs are for a web server and players to read.
        os.fchmod(fd, 0o644)
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
            handle.write(text)
        os.replace(temp, path)
    except BaseException:
        Path(temp).unlink(missing_ok=True)
        raise


def _append(path: Path, text: str) -> int:
    """Append in one write (whole cue blocks, so the file stays valid); return the new size."""
    data = text.encode("utf-8")
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        view = memoryview(data)
        while view:
            view = view[os.write(fd, view) :]
        return os.fstat(fd).st_size
    finally:
        os.close(fd)


@dataclass(frozen=True, slots=True)
class _PendingCue:
    cue: CueRecord
    # The source offset of the item that brought it: its media times map to the presentation
    # times of that connection to the source.
    source_offset: float

    def reaches(self, media_time: float) -> bool:
        """Whether it may overlap a segment starting at ``media_time`` or later."""
        return self.cue.end > media_time or self.cue.start >= media_time


@dataclass(slots=True)
class _State:
    """What survives a restart (the sidecar file's content)."""

    segment_s: float
    playlist_window: int
    last_seq: int = -1
    watermark: float = 0.0
    # Latest end of a final cue: the end of the stream is never before it.
    horizon: float = 0.0
    # Segments 0 .. next_segment - 1 are written.
    next_segment: int = 0
    # Final cues that overlap segments not yet written, with their source offsets.
    pending: list[_PendingCue] = field(default_factory=list)
    # The newest source offset (it changes when the source reconnects).
    source_offset: float = 0.0
    cue_count: int = 0
    vtt_bytes: int = 0
    ended: bool = False
    end_time: float = 0.0
    # Whether any final had a speaker label (its replay is then labelled too).
    labelled: bool = False

    def to_json(self) -> dict[str, Any]:
        return {
            "version": _STATE_VERSION,
            "segment_s": self.segment_s,
            "playlist_window": self.playlist_window,
            "last_seq": self.last_seq,
            "watermark": self.watermark,
            "horizon": self.horizon,
            "next_segment": self.next_segment,
            "pending": [
                {**p.cue.to_record(), "source_offset": p.source_offset} for p in self.pending
            ],
            "source_offset": self.source_offset,
            "cue_count": self.cue_count,
            "vtt_bytes": self.vtt_bytes,
            "ended": self.ended,
            "end_time": self.end_time,
            "labelled": self.labelled,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> _State:
        if data.get("version") != _STATE_VERSION:
            raise ValueError(f"unsupported live state version {data.get('version')!r}")
        return cls(
            segment_s=float(data["segment_s"]),
            playlist_window=int(data["playlist_window"]),
            last_seq=int(data["last_seq"]),
            watermark=float(data["watermark"]),
            horizon=float(data["horizon"]),
            next_segment=int(data["next_segment"]),
            pending=[
                _PendingCue(CueRecord.from_record(p), float(p["source_offset"]))
                for p in data["pending"]
            ],
            source_offset=float(data["source_offset"]),
            cue_count=int(data["cue_count"]),
            vtt_bytes=int(data["vtt_bytes"]),
            ended=bool(data["ended"]),
            end_time=float(data["end_time"]),
            labelled=bool(data.get("labelled", False)),  # absent before speaker labels
        )


def _overlaps(cue: CueRecord, start: float, end: float) -> bool:
    # A zero-length cue belongs to the segment its instant falls in.
    return cue.start < end and (cue.end > start or cue.start >= start)


def _segment_offset(cues: Sequence[_PendingCue], start: float, fallback: float) -> float:
    """One X-TIMESTAMP-MAP per segment: the offset of its first cue that starts in it (after a
    reconnect, the new connection's), else of a cue running into it, else the newest (an empty
    segment has nothing to line up)."""
    starting = [p for p in cues if p.cue.start >= start]
    chosen = starting or list(cues)
    return chosen[0].source_offset if chosen else fallback


class LiveOutputs:
    """The files of one live stream in ``out_dir`` (see the module docstring).

    ``playlist_window`` 0 gives an EVENT playlist listing every segment; N > 0 lists only the
    last N, advancing MEDIA-SEQUENCE, and deletes segment files once they have been out of the
    playlist for N more segments (RFC 8216 asks that they stay available for a while).
    One writer per stream: the worker that owns the stream's partition.
    """

    _state: _State

    def __init__(
        self, out_dir: Path, name: str, segment_s: float = 6.0, playlist_window: int = 0
    ) -> None:
        if not name or name in {".", ".."} or "/" in name or os.sep in name:
            raise ValueError(f"stream name {name!r} must be a plain file name")
        if not segment_s > 0:
            raise ValueError(f"segment length must be positive, got {segment_s}")
        if playlist_window < 0:
            raise ValueError(f"playlist window must be 0 (all) or positive, got {playlist_window}")
        self.out_dir = Path(out_dir)
        self.name = name
        self.out_dir.mkdir(parents=True, exist_ok=True)
        self.vtt_path = self.out_dir / f"{name}.vtt"
        self.srt_path = self.out_dir / f"{name}.srt"
        self.playlist_path = self.out_dir / f"{name}.m3u8"
        self.state_path = self.out_dir / f".{name}.live.json"
        self._state = self._resume(segment_s, playlist_window)

    # -- public -------------------------------------------------------------------------------

    @property
    def segment_s(self) -> float:
        return self._state.segment_s

    @property
    def playlist_window(self) -> int:
        return self._state.playlist_window

    @property
    def last_seq(self) -> int:
        """The last sequence number whose item is in the files (-1: none yet)."""
        return self._state.last_seq

    @property
    def segments_written(self) -> int:
        return self._state.next_segment

    @property
    def ended(self) -> bool:
        return self._state.ended

    @property
    def labelled(self) -> bool:
        """Whether the stream's captions carry speaker labels (any final so far had one)."""
        return self._state.labelled

    def segment_path(self, number: int) -> Path:
        return self.out_dir / self._segment_uri(number)

    def add(self, cue: LiveCue) -> list[Path]:
        """Take the stream's next item; return the files it wrote or changed.

        Interims only move the watermark (their phrase's final comes with the same seq); a
        final, silence, gap or end whose seq is not above the last one handled is a duplicate
        (a redelivery after a restart) and changes nothing.
        """
        state = self._state
        if state.ended or cue.seq <= state.last_seq:
            return []
        changed: list[Path] = []
        state.source_offset = cue.source_offset
        state.watermark = max(state.watermark, cue.watermark)
        if cue.kind is LiveKind.FINAL:
            state.labelled = state.labelled or bool(cue.speaker)
            changed += self._append_final(cue.cues, cue.source_offset, cue.speaker)
        if cue.kind is not LiveKind.INTERIM:
            state.last_seq = cue.seq
        if cue.kind is LiveKind.END:
            # The end mark may reach past the watermark (trailing audio with no speech).
            changed += self.finish(max(cue.end, cue.start))
        else:
            changed += self._write_segments(until=state.watermark, last=False)
            self._save()
        return list(dict.fromkeys(changed))

    def finish(self, end_time: float | None = None) -> list[Path]:
        """End the stream (done by an END item): write the remaining segments up to
        ``end_time`` (at least the watermark and the last final cue), #EXT-X-ENDLIST and the
        complete SRT and WebVTT. Calling it again does nothing."""
        state = self._state
        if state.ended:
            return []
        end = max(state.watermark, state.horizon, end_time or 0.0)
        changed = self._write_segments(until=end, last=True)
        state.ended = True
        state.end_time = end
        state.pending.clear()
        changed.append(self._write_playlist())
        # Recorded before the final files: a restart that finds them missing rebuilds them.
        self._save()
        changed += self._write_final_files()
        return list(dict.fromkeys(changed))

    # -- rolling WebVTT -----------------------------------------------------------------------

    def _append_final(
        self, lines: Sequence[LiveCueLine], source_offset: float, speaker: str = ""
    ) -> list[Path]:
        state = self._state
        records = after_written(_records(lines, speaker), state.horizon)
        if not records:
            return []
        block = rolling_block(records, state.cue_count + 1)
        state.vtt_bytes = _append(self.vtt_path, block)
        state.cue_count += len(records)
        state.horizon = max([state.horizon, *(c.end for c in records)])
        first_open = state.next_segment * state.segment_s
        fresh = [_PendingCue(c, source_offset) for c in records]
        late = [p for p in fresh if not p.reaches(first_open)]
        if late:
            # The ordering stage's watermark promised these times were final: they stay in the
            # rolling and final files, but published segments are not rewritten.
            log.warning(
                "live stream %s: %d cue(s) ending before %.3f s came after that segment was "
                "published; they are left out of the HLS segments",
                self.name,
                len(late),
                first_open,
            )
        state.pending += [p for p in fresh if p.reaches(first_open)]
        return [self.vtt_path]

    def _write_final_files(self) -> list[Path]:
        cues = parse_cues(self.vtt_path.read_text(encoding="utf-8"), "vtt")
        _write_atomically(self.srt_path, to_srt(dash_speaker_changes(cues)))
        final_vtt = to_vtt(cues)
        if final_vtt != self.vtt_path.read_text(encoding="utf-8"):
            _write_atomically(self.vtt_path, final_vtt)
        return [self.srt_path, self.vtt_path]

    # -- segments and playlist ----------------------------------------------------------------

    def _segment_uri(self, number: int) -> str:
        return f"{self.name}-{number}.vtt"

    def _write_segments(self, until: float, last: bool) -> list[Path]:
        """Write every segment that ends by ``until``; with ``last``, also the partial one
        that ``until`` falls in. Updates the playlist when any was written."""
        state = self._state
        seg = state.segment_s
        written: list[Path] = []
        while True:
            number = state.next_segment
            start, end = number * seg, (number + 1) * seg
            if end > until + _EPSILON and not (last and start < until - _EPSILON):
                break
            cues = [p for p in state.pending if _overlaps(p.cue, start, end)]
            offset = _segment_offset(cues, start, state.source_offset)
            path = self.segment_path(number)
            _write_atomically(path, segment_vtt([p.cue for p in cues], offset))
            written.append(path)
            state.next_segment += 1
            state.pending = [p for p in state.pending if p.reaches(end)]
            self._delete_expired_segment(number)
        if written:
            written.append(self._write_playlist())
        return written

    def _delete_expired_segment(self, newest: int) -> None:
        window = self._state.playlist_window
        if window and newest - 2 * window >= 0:
            self.segment_path(newest - 2 * window).unlink(missing_ok=True)

    def _entries(self) -> tuple[int, Iterable[PlaylistEntry]]:
        state = self._state
        count = state.next_segment
        first = max(0, count - state.playlist_window) if state.playlist_window else 0

        def duration(number: int) -> float:
            if state.ended:
                return min(state.segment_s, state.end_time - number * state.segment_s)
            return state.segment_s

        # A generator: an EVENT playlist of a days-long stream is never held as a list.
        return first, (
            PlaylistEntry(self._segment_uri(n), duration(n)) for n in range(first, count)
        )

    def _write_playlist(self) -> Path:
        first, entries = self._entries()
        text = playlist_text(
            entries,
            media_sequence=first,
            # Constant for the playlist's life, as RFC 8216 requires, and never below an EXTINF.
            target_duration=math.ceil(self._state.segment_s),
            event=self._state.playlist_window == 0,
            ended=self._state.ended,
        )
        _write_atomically(self.playlist_path, text)
        return self.playlist_path

    # -- state --------------------------------------------------------------------------------

    def _save(self) -> None:
        _write_atomically(self.state_path, json.dumps(self._state.to_json()))

    def _resume(self, segment_s: float, playlist_window: int) -> _State:
        if not self.state_path.exists():
            state = _State(segment_s=segment_s, playlist_window=playlist_window)
            self._state = state
            _write_atomically(self.vtt_path, _HEADER)
            state.vtt_bytes = len(_HEADER.encode())
            # The playlist exists from the start, so a player can be pointed at it at once.
            self._write_playlist()
            self._save()
            return state
        state = _State.from_json(json.loads(self.state_path.read_text(encoding="utf-8")))
        self._state = state
        if (state.segment_s, state.playlist_window) != (segment_s, playlist_window):
            # Segments already published fix these; changing them mid-stream would break
            # players, so the stream keeps its own.
            log.warning(
                "live stream %s resumes with its segment length %s s and playlist window %s "
                "(asked for %s s and %s)",
                self.name,
                state.segment_s,
                state.playlist_window,
                segment_s,
                playlist_window,
            )
        if state.ended:
            if not self.srt_path.exists():
                self._write_final_files()
            return state
        self._restore_rolling_vtt()
        return state

    def _restore_rolling_vtt(self) -> None:
        state = self._state
        size = self.vtt_path.stat().st_size if self.vtt_path.exists() else None
        if size is None or size < state.vtt_bytes:
            # Not something a restart does: someone removed or cut the file.
            log.warning(
                "live stream %s: %s is missing or shorter than recorded; it restarts "
                "with the cues from now on",
                self.name,
                self.vtt_path,
            )
            _write_atomically(self.vtt_path, _HEADER)
            state.vtt_bytes = len(_HEADER.encode())
            state.cue_count = 0
            self._save()
        elif size > state.vtt_bytes:
            # Appended by a worker that stopped before recording it: the item comes again.
            os.truncate(self.vtt_path, state.vtt_bytes)
