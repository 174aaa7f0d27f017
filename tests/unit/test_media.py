"""Decoding with PyAV: containers, resampling, start offsets, and clear errors for bad input."""

from __future__ import annotations

import json

import pytest

from streams.media import MediaError, decode_audio, pcm_from_bytes
from streams.settings import REPO_ROOT

MEDIA = REPO_ROOT / "tests" / "media"
DURATION = json.loads((MEDIA / "speech.json").read_text())["duration"]


@pytest.mark.parametrize(
    "name",
    [
        "speech.mp4",
        "speech.mkv",
        "speech.webm",
        "speech.mov",
        "speech.mp3",
        "speech.wav",
        "speech.flac",
    ],
)
def test_every_container_decodes_to_16k_mono(name: str) -> None:
    audio = decode_audio(str(MEDIA / name))
    assert audio.sample_rate == 16_000
    assert audio.pcm.ndim == 1 and audio.pcm.dtype.str == "<i2"
    assert audio.duration == pytest.approx(DURATION, abs=0.15)
    assert abs(int(audio.pcm.astype("int32").max())) > 1000  # real signal, not silence
    assert audio.offset == pytest.approx(0.0, abs=0.05)


def test_audio_stream_start_offset_is_kept() -> None:
    assert decode_audio(str(MEDIA / "offset.mkv")).offset == pytest.approx(2.0, abs=0.01)


@pytest.mark.parametrize(
    ("name", "message"),
    [
        ("empty.mp4", "file is empty"),
        ("not_media.mp4", "not a media file FFmpeg can read"),
        ("video_only.mp4", "no audio track"),
        ("missing.mp4", "file not found"),
        (".", "not a file"),
    ],
)
def test_bad_input_raises_a_clear_media_error(name: str, message: str) -> None:
    with pytest.raises(MediaError, match=message):
        decode_audio(str(MEDIA / name))


def test_pcm_bytes_must_be_whole_samples() -> None:
    assert list(pcm_from_bytes(b"\x01\x00\xff\xff")) == [1, -1]
    with pytest.raises(ValueError, match="odd length"):
        pcm_from_bytes(b"\x01")
