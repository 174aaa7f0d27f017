"""A test media file cut into final phrases as the live stage cuts them (no broker)."""

from __future__ import annotations

from agents.decode.media import decode_audio
from agents.live.agent import phrase_rules
from agents.live.phrases import Detector
from clients.live.ingest import Chunk
from clients.live.session import audio_chunk
from streams.events.audio import SAMPLE_RATE
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
