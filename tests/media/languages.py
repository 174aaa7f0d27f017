"""Generate short non-English speech clips for language detection (tests/media/lang_*.mp4).

Rerun from the repository root with:

    python tests/media/languages.py

Each clip is two everyday sentences spoken by one espeak-ng voice (Spanish, German, French),
0.5 s of silence around and 0.8 s between them, AAC in MP4 like the other fixtures (tests/media/
generate.py, whose trimming and muxing this reuses). ``languages.json`` holds each clip's
language code (Whisper's), espeak-ng voice, speed (words per minute), text and a reference
English translation. The files are
committed; rerun only when a clip has to change.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import wave
from dataclasses import dataclass
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from generate import ESPEAK_RATE, MEDIA, AudioSpec, trim, write

AAC = AudioSpec("aac", 16000, 32_000)


@dataclass(frozen=True)
class Clip:
    language: str  # Whisper's code
    voice: str  # espeak-ng's
    wpm: int
    sentences: tuple[str, ...]
    english: str = ""  # a reference translation (WER of Whisper's translate task)


# Everyday phrases, voices and rates Whisper base tells apart with a margin (on the AAC clips
# the detected language has 0.78-0.95 of the probability). On espeak-ng's plain German voice
# reading "Der Zug fährt um acht Uhr morgens vom Bahnhof ab." and one more such sentence it
# said Welsh (cy, 0.26-0.62).
CLIPS = (
    Clip(
        "es",
        "es",
        160,
        (
            "El tren sale de la estación a las ocho de la mañana.",
            "Mañana vamos a comprar pan y fruta en el mercado del pueblo.",
        ),
        "The train leaves the station at eight in the morning. Tomorrow we are going to buy "
        "bread and fruit at the village market.",
    ),
    Clip(
        "de",
        "de+m3",
        175,
        (
            "Ich habe heute keine Zeit, weil ich arbeiten muss.",
            "Können Sie mir bitte sagen, wo der Bahnhof ist?",
        ),
        "I have no time today because I have to work. Can you please tell me where the train "
        "station is?",
    ),
    Clip(
        "fr",
        "fr",
        150,
        (
            "Bonjour, je voudrais un café et un croissant, s'il vous plaît.",
            "Où est la gare? Je ne sais pas, je ne suis pas d'ici.",
        ),
        "Hello, I would like a coffee and a croissant, please. Where is the train station? "
        "I don't know, I'm not from here.",
    ),
)


def speak(text: str, voice: str, wpm: int) -> np.ndarray:
    """``text`` in espeak-ng's ``voice``, trimmed, as int16 samples at ESPEAK_RATE."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "say.wav"
        command = ["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(path), text]
        subprocess.run(command, check=True)
        with wave.open(str(path), "rb") as wav:
            assert wav.getframerate() == ESPEAK_RATE and wav.getnchannels() == 1
            return trim(np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2").copy())


def silence(seconds: float) -> np.ndarray:
    return np.zeros(round(seconds * ESPEAK_RATE), np.int16)


def compose(clip: Clip) -> np.ndarray:
    """The clip's sentences, 0.8 s apart, with 0.5 s of silence before and after."""
    pieces = [silence(0.5)]
    for text in clip.sentences:
        pieces += [speak(text, clip.voice, clip.wpm), silence(0.8)]
    pieces[-1] = silence(0.5)
    return np.concatenate(pieces)


def main() -> None:
    described: dict[str, dict[str, object]] = {}
    for clip in CLIPS:
        write(MEDIA / f"lang_{clip.language}.mp4", compose(clip), AAC)
        described[f"lang_{clip.language}.mp4"] = {
            "language": clip.language,
            "voice": clip.voice,
            "wpm": clip.wpm,
            "text": " ".join(clip.sentences),
            "english": clip.english,
        }
    (MEDIA / "languages.json").write_text(
        json.dumps(described, indent=2, ensure_ascii=False) + "\n", encoding="utf-8"
    )


if __name__ == "__main__":
    main()
