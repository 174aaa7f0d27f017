"""Decoding with PyAV: containers, resampling, start offsets, and clear errors for bad input."""

from __future__ import annotations

import itertools
import json

import numpy as np
import pytest

from agents.decode.media import (
    MediaError,
    decode_audio,
    decode_windows,
    quietest_cut,
    windows,
)
from streams.events.audio import pcm_from_bytes
from tests.paths import MEDIA
from tests.unit.test_media_fixtures import SPEECH_FILES

DURATION = json.loads((MEDIA / "speech.json").read_text())["duration"]


@pytest.mark.parametrize("name", [n for n in SPEECH_FILES if n.startswith("speech.")])
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


def test_windows_are_cut_in_the_pauses_and_lose_no_sample() -> None:
    audio = decode_audio(str(MEDIA / "speech.wav"))
    chunks = np.array_split(audio.pcm, 40)  # as a decoder hands them over
    found = list(windows(chunks, audio.sample_rate, 1.0, window_s=6.0, search_s=2.0))
    assert [w.index for w in found] == [0, 1, 2]
    assert [w.last for w in found] == [False, False, True]
    assert np.array_equal(np.concatenate([w.pcm for w in found]), audio.pcm)
    for before, after in itertools.pairwise(found):
        assert after.offset == pytest.approx(before.offset + len(before.pcm) / 16_000)
    pauses = [(4.531, 6.031), (9.669, 11.169)]  # between the utterances in speech.json
    for (start, end), window in zip(pauses, found[1:], strict=True):
        assert start < window.offset - 1.0 < end  # 1.0: the offset passed in above


def test_quietest_cut_finds_the_silence() -> None:
    tone = (np.sin(np.arange(16_000 * 10) / 3) * 10_000).astype(np.int16)
    tone[16_000 * 6 : 16_000 * 6 + 3_200] = 0  # 200 ms of silence at 6.0 s
    cut = quietest_cut(tone, 16_000, 4.0, 8.0)
    assert 16_000 * 6 <= cut <= 16_000 * 6 + 3_200


def test_empty_audio_still_yields_one_final_window() -> None:
    assert [(len(w.pcm), w.last) for w in windows([], 16_000, 0.0, 60.0, 5.0)] == [(0, True)]


def test_decode_windows_reports_bad_input_before_any_window() -> None:
    with pytest.raises(MediaError, match="no audio track"):
        next(decode_windows(str(MEDIA / "video_only.mp4"), 60.0))
