"""How many feature frames the live lane's short-window encoder reads."""

from __future__ import annotations

import pytest

from agents.transcribe.whisper import encoder_frames


@pytest.mark.parametrize(
    ("content", "window_s", "expected"),
    [
        (300, 5, 500),  # a short clip: the window
        (500, 5, 500),
        (979, 5, 1000),  # longer than the window: whole seconds, as word alignment reads
        (1001, 5, 1100),
        (2000, 20, 2000),
        (2950, 20, 3000),
        (0, 20, 2000),  # silence only
    ],
)
def test_the_encoder_reads_the_window_or_whole_seconds_of_content(
    content: int, window_s: int, expected: int
) -> None:
    assert encoder_frames(content, window_s, 3000) == expected


def test_never_more_than_the_features_hold() -> None:
    assert encoder_frames(2990, 20, 2990) == 2990
