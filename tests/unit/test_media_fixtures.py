"""Sanity checks for the committed media fixtures made by tests/media/generate.py."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import av
import pytest

MEDIA = Path(__file__).resolve().parents[1] / "media"
SPEECH_FILES = [
    "speech.mp4",
    "speech.mkv",
    "speech.webm",
    "speech.mov",
    "speech.mp3",
    "speech.wav",
    "speech.flac",
    "offset.mkv",
]


@pytest.fixture(scope="module")
def reference() -> dict[str, Any]:
    data: dict[str, Any] = json.loads((MEDIA / "speech.json").read_text())
    return data


def decoded_audio(path: Path) -> tuple[float, float]:
    """Return (seconds of decoded audio, audio stream start time in seconds)."""
    with av.open(str(path)) as container:
        stream = container.streams.audio[0]
        start = stream.start_time or 0
        assert stream.time_base is not None
        samples = sum(frame.samples for frame in container.decode(stream))
        return samples / stream.codec_context.sample_rate, float(start * stream.time_base)


def test_utterances_are_ordered_and_inside_the_file(reference: dict[str, Any]) -> None:
    utterances = reference["utterances"]
    assert len(utterances) == 3
    assert " ".join(u["text"] for u in utterances) == reference["text"]
    previous_end = 0.0
    for u in utterances:
        assert previous_end < u["start"] < u["end"] <= reference["duration"]
        previous_end = u["end"]


@pytest.mark.parametrize("name", SPEECH_FILES)
def test_speech_audio_duration_matches_reference(name: str, reference: dict[str, Any]) -> None:
    seconds, _ = decoded_audio(MEDIA / name)
    assert seconds == pytest.approx(reference["duration"], abs=0.15)


def test_offset_audio_starts_at_two_seconds() -> None:
    _, start = decoded_audio(MEDIA / "offset.mkv")
    assert start == pytest.approx(2.0, abs=1e-3)


def test_video_only_has_no_audio_stream() -> None:
    with av.open(str(MEDIA / "video_only.mp4")) as container:
        assert len(container.streams.video) == 1
        assert len(container.streams.audio) == 0


@pytest.mark.parametrize("name", ["empty.mp4", "not_media.mp4"])
def test_broken_files_are_rejected(name: str) -> None:
    with pytest.raises(av.FFmpegError):
        av.open(str(MEDIA / name))
