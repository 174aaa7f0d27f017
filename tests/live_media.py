"""Final live phrases for tests without a broker: a test media file cut as the live stage
cuts it, or any audio as one phrase."""

from __future__ import annotations

import numpy as np

from agents.decode.media import decode_audio
from agents.live.agent import phrase_rules
from agents.live.phrases import Detector
from clients.live.ingest import Chunk
from clients.live.session import audio_chunk
from streams.events.audio import SAMPLE_RATE, pcm_to_bytes
from streams.events.model import LiveSegment
from streams.settings import KaptionSettings
from tests.paths import MEDIA


def final_phrases(name: str, settings: KaptionSettings) -> list[LiveSegment]:
    """The file's final phrases, fed to the live stage's detector in 0.5-s chunks."""
    pcm = decode_audio(str(MEDIA / name)).pcm
    detector, size, found = Detector("s", phrase_rules(settings)), SAMPLE_RATE // 2, []
    for k in range(-(-len(pcm) // size)):
        piece = pcm[k * size : (k + 1) * size]
        end = (k * size + len(piece)) / SAMPLE_RATE
        chunk = Chunk(
            k, k * size / SAMPLE_RATE, len(piece) / SAMPLE_RATE, piece.tobytes(), end, 0, 0, ""
        )
        found += detector.feed(audio_chunk("s", chunk), end)
    return [item for item in found if isinstance(item, LiveSegment) and item.final]


def final_phrase(pcm: np.ndarray, start: float, seq: int = 0, stream_id: str = "s") -> LiveSegment:
    """``pcm`` as stream ``stream_id``'s final phrase ``seq``, heard from ``start``."""
    end = start + len(pcm) / SAMPLE_RATE
    return LiveSegment(
        stream_id=stream_id,
        seq=seq,
        revision=0,
        final=True,
        start=start,
        end=end,
        capture_end=end,
        source_offset=0.0,
        sample_rate=SAMPLE_RATE,
        pcm=pcm_to_bytes(pcm),
        sent_at=0.0,
    )
