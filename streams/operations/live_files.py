"""The files a live stream leaves in its output directory (agents/subtitles/live.py writes them,
agents/subtitles/replay.py replaces the final ones with a file-lane replay's): their name, and
the CLI's clearing of an ended stream's files so a new stream can take its name."""

from __future__ import annotations

import re
from pathlib import Path


def file_name(stream_id: str) -> str:
    """A stream's files' base name: its id made safe as a file name."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", stream_id).strip("-.") or "stream"


def remove_outputs(out_dir: Path, name: str) -> None:
    """A stream's files from an earlier run, so a new stream can take its name (a writer that
    finds an ended stream's state ignores everything), the live copies a replay kept too
    (NAME.live.*; the replay's segments are NAME-N.vtt like the live ones)."""
    patterns = (f"{name}.vtt", f"{name}.srt", f"{name}.m3u8", f"{name}-*.vtt", f".{name}.*")
    for pattern in (*patterns, f"{name}.live.*"):
        for path in Path(out_dir).glob(pattern):
            path.unlink(missing_ok=True)
