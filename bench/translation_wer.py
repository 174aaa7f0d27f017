"""Whisper's translate task (issue 19, item 4): WER of the English that multilingual Whisper
base makes of Spanish, German and French speech against reference translations, and what the
second decoding pass costs the transcription stage.

Speech: the three committed clips (tests/media/lang_*.mp4) and two more per language spoken now
by the same espeak-ng voices (tests/media/languages.py), each two everyday sentences with an
English reference written for it. Each language's clips go through the transcription stage's
own function (agents/transcribe/agent.py ``transcribe_segments``: one batch per language, as a
worker batches them), once as a plain job and once as a job whose English is Whisper's
(``whisper_translate``: the same model again with task translate), alternately, ``--repeats``
times; the figures are each side's fastest run (the least disturbed on a shared machine).

Prints per language: WER of the English against the references (all clips' words together),
WER of the transcript against the spoken text, and the time ratio with/without the second pass.

Run: ``.venv/bin/python bench/translation_wer.py [--repeats 3] [--model base]`` (about two
minutes on 2 cores).
"""

from __future__ import annotations

import argparse
import json
import sys
import tempfile
import time
import wave
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path[:0] = [str(REPO), str(REPO / "tests" / "media")]

import numpy as np  # noqa: E402
from common import progress  # noqa: E402
from generate import ESPEAK_RATE  # noqa: E402
from languages import Clip, compose  # noqa: E402

from agents.decode.media import decode_audio  # noqa: E402
from agents.transcribe.agent import (  # noqa: E402
    Done,
    configured_threads,
    declared_model,
    transcribe_segments,
)
from streams.events.audio import SAMPLE_RATE, pcm_to_bytes  # noqa: E402
from streams.events.model import SpeechSegment  # noqa: E402
from streams.settings import KaptionSettings  # noqa: E402
from tests.paths import MEDIA  # noqa: E402
from tests.wer import word_error_rate  # noqa: E402

# Two more clips per language, spoken at run time, with their references.
MORE = (
    Clip(
        "es",
        "es",
        160,
        (
            "Mi hermana vive en una casa grande cerca del río.",
            "Los niños juegan en el parque todos los días.",
        ),
        "My sister lives in a big house near the river. The children play in the park every day.",
    ),
    Clip(
        "es",
        "es",
        160,
        ("¿Cuánto cuesta este libro?", "Hace mucho calor hoy, vamos a la playa."),
        "How much does this book cost? It is very hot today, let's go to the beach.",
    ),
    Clip(
        "de",
        "de+m3",
        175,
        ("Das Wetter ist heute sehr schön.", "Wir gehen am Abend ins Kino."),
        "The weather is very nice today. We are going to the cinema in the evening.",
    ),
    Clip(
        "de",
        "de+m3",
        175,
        ("Mein Bruder trinkt gern Kaffee mit Milch.", "Das Buch liegt auf dem Tisch."),
        "My brother likes to drink coffee with milk. The book is on the table.",
    ),
    Clip(
        "fr",
        "fr",
        150,
        ("Nous allons à la plage demain matin.", "Il fait très froid en hiver."),
        "We are going to the beach tomorrow morning. It is very cold in winter.",
    ),
    Clip(
        "fr",
        "fr",
        150,
        ("Ma mère prépare le dîner dans la cuisine.", "Les enfants lisent un livre."),
        "My mother is making dinner in the kitchen. The children are reading a book.",
    ),
)


@dataclass(frozen=True)
class Spoken:
    language: str
    text: str  # what is said
    english: str  # the reference translation
    pcm: np.ndarray  # 16 kHz int16


def clips(tmp: Path) -> list[Spoken]:
    """The committed clips, then the ones spoken now (resampled to 16 kHz by the decoder)."""
    described = json.loads((MEDIA / "languages.json").read_text(encoding="utf-8"))
    found = [
        Spoken(d["language"], d["text"], d["english"], decode_audio(str(MEDIA / name)).pcm)
        for name, d in described.items()
    ]
    for i, clip in enumerate(MORE):
        path = tmp / f"more_{i}.wav"
        with wave.open(str(path), "wb") as out:  # espeak-ng's rate; decoded as jobs are
            out.setnchannels(1)
            out.setsampwidth(2)
            out.setframerate(ESPEAK_RATE)
            out.writeframes(compose(clip).astype("<i2").tobytes())
        pcm = decode_audio(str(path)).pcm
        found.append(Spoken(clip.language, " ".join(clip.sentences), clip.english, pcm))
    return found


def segments(spoken: list[Spoken], model: str, translate: bool) -> list[SpeechSegment]:
    """One segment per clip (each is well under 30 s), laid out 30 s apart."""
    return [
        SpeechSegment(
            job_id="bench",
            segment_id=f"bench:0000-{i:04d}",
            index=i,
            start=30.0 * i,
            end=30.0 * i + len(s.pcm) / SAMPLE_RATE,
            sample_rate=SAMPLE_RATE,
            pcm=pcm_to_bytes(s.pcm),
            language=s.language,
            model=model,
            whisper_translate=translate,
        )
        for i, s in enumerate(spoken)
    ]


def timed(settings: KaptionSettings, batch: list[SpeechSegment]) -> tuple[list[Done], float]:
    started = time.perf_counter()
    done = transcribe_segments(settings, batch)
    return done, time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--model", default="base")
    args = parser.parse_args()
    settings = KaptionSettings()
    declared_model(settings, args.model)  # loaded before any timing
    with tempfile.TemporaryDirectory() as tmp:
        spoken = clips(Path(tmp))
    languages = list(dict.fromkeys(s.language for s in spoken))
    heard: list[str] = []
    fastest: dict[bool, float] = {False: 0.0, True: 0.0}  # summed over the languages
    for language in languages:
        group = [s for s in spoken if s.language == language]
        plain, both = segments(group, args.model, False), segments(group, args.model, True)
        times: dict[bool, list[float]] = {False: [], True: []}
        for _ in range(args.repeats):  # alternately: a disturbance hits both sides alike
            _, took = timed(settings, plain)
            times[False].append(took)
            done, took = timed(settings, both)
            times[True].append(took)
        english = " ".join("".join(w.word for w in d.english.words) for d in done if d.english)
        said = " ".join(d.transcript.text for d in done)
        reference = " ".join(s.english for s in group)
        row = {
            "language": language,
            "clips": len(group),
            "audio_s": round(sum(len(s.pcm) for s in group) / SAMPLE_RATE, 1),
            "english_wer": round(word_error_rate(reference, english), 3),
            "transcript_wer": round(word_error_rate(" ".join(s.text for s in group), said), 3),
            "transcribe_s": round(min(times[False]), 2),
            "with_translation_s": round(min(times[True]), 2),
            "ratio": round(min(times[True]) / min(times[False]), 2),
        }
        heard.append(english)
        for side, seconds in times.items():
            fastest[side] += min(seconds)
        progress(f"{language}: {english}")
        print(json.dumps(row), flush=True)
    references = " ".join(s.english for x in languages for s in spoken if s.language == x)
    total = {
        "language": "all",
        "clips": len(spoken),
        "english_wer": round(word_error_rate(references, " ".join(heard)), 3),
        "ratio": round(fastest[True] / fastest[False], 2),
        "model": args.model,
        "threads": configured_threads(settings),
    }
    print(json.dumps(total), flush=True)


if __name__ == "__main__":
    main()
