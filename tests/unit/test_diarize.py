"""The diarize stage without a broker: pyannote's output as plain turns and voices, its events,
and a clear reason for weights that are not there."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from agents.diarize.agent import failed, found
from streams.events.model import AudioReady

pytest.importorskip("pyannote.audio")  # the 'speakers' extra

from pyannote.core import Annotation, Segment

from agents.diarize.backend import (
    DiarizeError,
    Diarizer,
    WindowSpeakers,
    default_embedding,
    default_segmentation,
    window_speakers,
)

AUDIO = AudioReady(
    job_id="j",
    window=1,
    last=True,
    sample_rate=16000,
    offset=120.0,
    duration=30.0,
    pcm=b"",
    speakers=True,
)


class Output:
    """pyannote 4's DiarizeOutput, as far as the stage reads it."""

    def __init__(self) -> None:
        self.speaker_diarization = Annotation()
        self.speaker_diarization[Segment(0, 2)] = "A"
        self.speaker_diarization[Segment(1.5, 4)] = "B"
        self.exclusive_speaker_diarization = Annotation()
        self.exclusive_speaker_diarization[Segment(0, 1.5)] = "A"
        self.exclusive_speaker_diarization[Segment(1.5, 4)] = "B"
        self.speaker_embeddings = np.array([[1.0, 0.0], [np.nan, np.nan]])


def test_the_exclusive_turns_and_each_voices_centroid() -> None:
    speakers = window_speakers(Output())
    assert speakers.turns == [(0.0, 1.5, 0), (1.5, 4.0, 1)]
    assert speakers.seconds == {0: 1.5, 1: 2.5}
    assert speakers.embeddings == {0: [1.0, 0.0]}  # a NaN centroid is no voice print


def test_turns_go_out_in_media_time_and_failures_with_their_reason() -> None:
    event = found(AUDIO, WindowSpeakers([(0.5, 2.0, 0)], {0: [0.5]}, {0: 1.5}), "m")
    assert [(t.start, t.end, t.speaker) for t in event.turns] == [(120.5, 122.0, 0)]
    assert [(v.speaker, v.embedding, v.seconds) for v in event.voices] == [(0, (0.5,), 1.5)]
    assert (event.window, event.last, event.model, event.error) == (1, True, "m", "")
    assert failed(AUDIO, "why").error == "why" and failed(AUDIO, "why").turns == ()


def test_the_wheel_ships_the_weights_and_a_missing_file_is_named(tmp_path: Path) -> None:
    assert default_segmentation().is_file() and default_embedding().is_file()
    with pytest.raises(DiarizeError, match=r"segmentation weights not found: .*/none\.bin"):
        Diarizer(segmentation=tmp_path / "none.bin")
    with pytest.raises(DiarizeError, match="KAPTION_DIARIZE_EMBEDDING"):
        Diarizer(embedding=tmp_path / "none.pt")
    broken = tmp_path / "broken.bin"
    broken.write_bytes(b"not a checkpoint")
    with pytest.raises(DiarizeError, match="cannot load segmentation weights"):
        Diarizer(segmentation=broken)
