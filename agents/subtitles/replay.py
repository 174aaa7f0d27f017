"""A live stream's final files replaced by its file-lane replay (streams/operations/replay.py).

In the stream's directory, for a stream called ``NAME`` whose live files are complete:

- ``NAME.live.srt``, ``NAME.live.vtt``, ``NAME.live.m3u8``: the live version, kept once (a
  second replay leaves them alone); the kept playlist still lists the live ``NAME-<n>.vtt``
  segments, which stay.
- ``NAME.srt``, ``NAME.vtt``: the replay's (file quality).
- ``NAME.m3u8`` and ``NAME-<K+n>.vtt``: an on-demand (EXT-X-PLAYLIST-TYPE:VOD) HLS subtitle
  playlist of the replay's cues, in segments of the stream's own length over its whole media
  time, numbered after the K live segments (names the live ones have, so whatever serves a
  stream's segments serves these too, and the kept live playlist's stay as they were); each
  keeps the X-TIMESTAMP-MAP of the live segment of the same time, so a player lines both
  versions up with the video the same way.

Every file is written atomically and the playlist last, so a player never finds a playlist
whose segments are missing. A replay applied twice (a redelivery) writes the same files.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Sequence
from pathlib import Path

from agents.subtitles.live import (
    MPEGTS_HZ,
    PlaylistEntry,
    _write_atomically,
    playlist_text,
    segment_vtt,
)
from agents.subtitles.render import parse_cues
from streams.events.model import CueRecord, SubtitlesReady
from streams.operations.live_files import file_name

TIMESTAMP_MAP = re.compile(r"X-TIMESTAMP-MAP=MPEGTS:(\d+)")
_EPSILON = 1e-6


def live_state(out_dir: Path, name: str) -> dict[str, object] | None:
    """The live writer's sidecar state of stream ``name`` (None: no such stream here)."""
    path = out_dir / f".{name}.live.json"
    if not path.exists():
        return None
    state: dict[str, object] = json.loads(path.read_text(encoding="utf-8"))
    return state


def segment_offset(live_segment: Path, fallback: float) -> float:
    """The source offset (s) the live segment of the same media time maps to (its
    X-TIMESTAMP-MAP), else ``fallback``: a sliding-window playlist deletes old segments."""
    try:
        found = TIMESTAMP_MAP.search(live_segment.read_text(encoding="utf-8"))
    except FileNotFoundError:
        found = None
    return int(found.group(1)) / MPEGTS_HZ if found else fallback


def vod_segments(
    cues: Sequence[CueRecord], end: float, segment_s: float
) -> list[tuple[float, float, list[CueRecord]]]:
    """(start, duration, cues overlapping it) of each segment covering [0, ``end``)."""
    count = max(1, math.ceil(end / segment_s - _EPSILON))
    segments = []
    for number in range(count):
        start = number * segment_s
        stop = start + segment_s
        inside = [c for c in cues if c.start < stop and (c.end > start or c.start >= start)]
        segments.append((start, min(segment_s, end - start) if end > start else 0.0, inside))
    return segments


def apply_replay(out_dir: Path, ready: SubtitlesReady) -> list[Path]:
    """Replaces the final files of the stream ``ready`` names by ``ready``'s; returns the files
    written (none when this directory has no ended stream of that name)."""
    name = ready.name
    if file_name(name) != name:
        return []  # not a name the live writer gives files: nothing of ours
    state = live_state(out_dir, name)
    if state is None or not state.get("ended"):
        return []
    written = keep_live_version(out_dir, name)
    cues = parse_cues(ready.vtt, "vtt")
    segment_s = float(str(state["segment_s"]))
    end = max([float(str(state["end_time"])), *(c.end for c in cues)])
    fallback = float(str(state["source_offset"]))
    first = int(str(state["next_segment"]))  # the live segments are 0 .. first - 1
    entries = []
    for number, (_, duration, inside) in enumerate(vod_segments(cues, end, segment_s)):
        uri = f"{name}-{first + number}.vtt"
        offset = segment_offset(out_dir / f"{name}-{number}.vtt", fallback)
        _write_atomically(out_dir / uri, segment_vtt(inside, offset))
        entries.append(PlaylistEntry(uri, duration))
        written.append(out_dir / uri)
    for suffix, text in ((".srt", ready.srt), (".vtt", ready.vtt)):
        _write_atomically(out_dir / f"{name}{suffix}", text)
        written.append(out_dir / f"{name}{suffix}")
    playlist = playlist_text(
        entries,
        media_sequence=0,
        target_duration=math.ceil(segment_s),
        event=False,
        ended=True,
        vod=True,
    )
    _write_atomically(out_dir / f"{name}.m3u8", playlist)
    return [*written, out_dir / f"{name}.m3u8"]


def keep_live_version(out_dir: Path, name: str) -> list[Path]:
    """NAME.live.{srt,vtt,m3u8}: copies of the live files, made by the first replay only."""
    kept = []
    for suffix in ("srt", "vtt", "m3u8"):
        current, copy = out_dir / f"{name}.{suffix}", out_dir / f"{name}.live.{suffix}"
        if current.exists() and not copy.exists():
            _write_atomically(copy, current.read_text(encoding="utf-8"))
            kept.append(copy)
    return kept
