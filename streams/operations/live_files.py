"""The files a live stream leaves in its output directory (agents/subtitles/live.py writes them):
the CLI clears an ended stream's files so a new stream can take its name."""

from __future__ import annotations

from pathlib import Path


def remove_outputs(out_dir: Path, name: str) -> None:
    """A stream's files from an earlier run, so a new stream can take its name (a writer that
    finds an ended stream's state ignores everything)."""
    for pattern in (f"{name}.vtt", f"{name}.srt", f"{name}.m3u8", f"{name}-*.vtt", f".{name}.*"):
        for path in Path(out_dir).glob(pattern):
            path.unlink(missing_ok=True)
