"""Text where nobody speaks: cues and words made up on silence, tones, noise and in the pauses
of speech, before and after the screening of agents/transcribe/hallucination.py, and the
speech WER that screening must not cost.

Three paths, each with the pipeline's own functions (no Kafka):

- ``pipeline``: the VAD plan (agents/vad/plan.py) and batched transcription, as a job runs;
- ``forced``: the whole file in 8-s clips, as if the VAD had let everything through (Silero
  rejects these synthetic files, but a VAD false positive on real music or noise reaches
  Whisper just like this: the issue's "Thank you.");
- ``live``: the whole file in 4-s phrases through the live lane's model (20-s encoder window),
  one at a time, each prompted with the text before it, as transcribe-live does.

Thresholds are chosen on the tuning files (chords, white noise, speech) with ``--tune`` and
reported on the held-out files (melody, pink noise, silence, the paused speech, the demo).

Run: ``python bench/hallucination.py [--tune]`` (a few minutes on 2 cores); media from
``python tests/media/generate.py no-speech``.
"""

from __future__ import annotations

import argparse
import json
import time
from collections.abc import Sequence
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
from common import OUT

from agents.cues.build import build_cues
from agents.cues.cleanup import clean_words
from agents.cues.model import Word
from agents.decode.media import decode_audio
from agents.transcribe.agent import configured_screening
from agents.transcribe.hallucination import (
    DEFAULT_SCREENING,
    FASTER_WHISPER_DEFAULTS,
    NO_SCREENING,
    Screening,
)
from agents.transcribe.whisper import Clip, Decoded, decode_batch, load_model, screened
from agents.vad.agent import vad_options
from agents.vad.plan import speech_segments
from streams.events.audio import SAMPLE_RATE, pcm_from_bytes
from streams.settings import KaptionSettings
from tests.paths import MEDIA, SAMPLES
from tests.wer import word_error_rate

MARGIN_S = 0.5  # a word this close to an utterance belongs to it


@dataclass(frozen=True)
class Piece:
    name: str
    path: Path
    tuning: bool
    reference: str = ""  # the words spoken, for WER
    spoken: tuple[tuple[float, float], ...] = ()  # where somebody speaks


def reference(path: Path) -> tuple[str, tuple[tuple[float, float], ...]]:
    data = json.loads(path.read_text())
    spans = tuple((u["start"], u["end"]) for u in data.get("utterances", []))
    return data["text"], spans


def pieces() -> list[Piece]:
    speech_text, speech_spans = reference(MEDIA / "speech.json")
    paused_text, paused_spans = reference(MEDIA / "paused.json")
    demo_text = (SAMPLES / "demo.txt").read_text().strip()
    return [
        Piece("chords", MEDIA / "chords.mp4", True),
        Piece("white_noise", MEDIA / "white_noise.mp4", True),
        Piece("speech", MEDIA / "speech.mp4", True, speech_text, speech_spans),
        Piece("melody", MEDIA / "melody.mp4", False),
        Piece("pink_noise", MEDIA / "pink_noise.mp4", False),
        Piece("silence", MEDIA / "silence.mp4", False),
        Piece("paused", MEDIA / "paused.mp4", False, paused_text, paused_spans),
        # The demo's sentence times are not recorded: WER only.
        Piece("demo", SAMPLES / "demo.mp4", False, demo_text, ((0.0, 1e9),)),
    ]


def fixed_clips(pcm: np.ndarray, seconds: float) -> list[Clip]:
    step = round(seconds * SAMPLE_RATE)
    return [Clip(pcm[i : i + step], i / SAMPLE_RATE) for i in range(0, len(pcm), step)]


def vad_clips(pcm: np.ndarray, settings: KaptionSettings) -> list[Clip]:
    segments = speech_segments(
        "bench",
        0,
        pcm,
        SAMPLE_RATE,
        0.0,
        vad_options(settings),
        settings.max_segment_s,
        settings.max_merge_gap_s,
    )
    return [Clip(pcm_from_bytes(s.pcm), s.start) for s in segments]


def unspoken(words: Sequence[Word], spoken: Sequence[tuple[float, float]]) -> list[Word]:
    """Words whose middle lies where nobody speaks."""
    return [
        w
        for w in words
        if not any(a - MARGIN_S <= (w.start + w.end) / 2 <= b + MARGIN_S for a, b in spoken)
    ]


@dataclass(frozen=True)
class Outcome:
    words: int  # where nobody speaks
    cues: int  # holding any such word
    text: str  # those words
    wer: float | None


def outcome(piece: Piece, transcribed: Sequence[Word], screening: Screening) -> Outcome:
    # "Before" is the clean-up without its repeated-line check too.
    words = clean_words(transcribed, drop_repeats=screening != NO_SCREENING)
    extra = unspoken(words, piece.spoken)
    cues = build_cues(words)
    made_up = sum(1 for c in cues if any(c.start <= (w.start + w.end) / 2 < c.end for w in extra))
    text = " ".join(w.text for w in words)
    wer = word_error_rate(piece.reference, text) if piece.reference else None
    return Outcome(len(extra), made_up, " ".join(w.text for w in extra), wer)


def as_words(clip: Clip, decoded: Decoded, screening: Screening) -> list[Word]:
    t = screened(clip, decoded, screening)
    return [Word(w.word, w.start, w.end, w.probability) for w in t.words]


class Bench:
    def __init__(self, settings: KaptionSettings) -> None:
        self.settings = settings
        self.file_model = load_model("", "cpu", "int8", 2)
        self.live_model = load_model("", "cpu", "int8", 2, "live", 0, 20)
        self.cache: dict[tuple[str, str], list[tuple[Clip, Decoded]]] = {}

    def decoded(self, piece: Piece, path: str) -> list[tuple[Clip, Decoded]]:
        """The batched paths' raw results: they do not depend on the screening."""
        key = (piece.name, path)
        if key not in self.cache:
            pcm = decode_audio(str(piece.path)).pcm
            clips = vad_clips(pcm, self.settings) if path == "pipeline" else fixed_clips(pcm, 8)
            results: list[tuple[Clip, Decoded]] = []
            for i in range(0, len(clips), 8):
                batch = clips[i : i + 8]
                decoded = decode_batch(self.file_model, batch, SAMPLE_RATE, "en", 5)
                results += zip(batch, decoded, strict=True)
            self.cache[key] = results
        return self.cache[key]

    def live(self, piece: Piece, screening: Screening) -> list[Word]:
        """Each phrase prompted with the screened text before it, as transcribe-live does."""
        words: list[Word] = []
        prompt = ""
        for clip in fixed_clips(decode_audio(str(piece.path)).pcm, 4):
            [decoded] = decode_batch(
                self.live_model, [clip], SAMPLE_RATE, "en", 5, prompt, unheard_tail_s=None
            )  # the live lane continues no phrase
            found = as_words(clip, decoded, screening)
            words += found
            prompt = " ".join((prompt + "".join(w.text for w in found)).split()[-24:])
        return words

    def run(self, piece: Piece, path: str, screening: Screening) -> Outcome:
        if path == "live":
            return outcome(piece, self.live(piece, screening), screening)
        words = [w for c, d in self.decoded(piece, path) for w in as_words(c, d, screening)]
        return outcome(piece, words, screening)


def tune(bench: Bench, tuning: Sequence[Piece]) -> None:
    """No-speech and log-prob thresholds on the tuning files, every path. The choice: the
    lowest log-prob threshold (the one that keeps most text) with no made-up word and the
    speech WER of no screening."""
    print("no_speech log_prob | made-up words per file and path | speech WER per path")
    for no_speech in (0.5, 0.6, 0.7):
        for log_prob in (-1.0, -0.9, -0.8, -0.7, -0.6, -0.5, -0.4, -0.3):
            screening = replace(
                DEFAULT_SCREENING, no_speech_threshold=no_speech, log_prob_threshold=log_prob
            )
            made_up = []
            wers = []
            for piece in tuning:
                for path in ("pipeline", "forced", "live"):
                    result = bench.run(piece, path, screening)
                    made_up.append(result.words)
                    if result.wer is not None:
                        wers.append(f"{result.wer:.3f}")
            print(f"{no_speech:9} {log_prob:8} | {made_up} | {wers}", flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--tune", action="store_true", help="the threshold grid on tuning files")
    args = parser.parse_args()
    settings = KaptionSettings()
    bench = Bench(settings)
    all_pieces = pieces()
    if args.tune:
        tune(bench, [p for p in all_pieces if p.tuning])
        return
    configs = {
        "off": NO_SCREENING,
        "fw-defaults": FASTER_WHISPER_DEFAULTS,
        "kaption": configured_screening(settings),
    }
    rows = []
    started = time.perf_counter()
    for piece in all_pieces:
        for path in ("pipeline", "forced", "live"):
            for label, screening in configs.items():
                result = bench.run(piece, path, screening)
                wer = "" if result.wer is None else f"{result.wer:.3f}"
                role = "tune" if piece.tuning else "held-out"
                row = (piece.name, role, path, label, result.words, result.cues, wer, result.text)
                rows.append(row)
                print(" | ".join(map(str, row)), flush=True)
    OUT.mkdir(parents=True, exist_ok=True)
    (OUT / "hallucination.json").write_text(json.dumps(rows, indent=1) + "\n")
    print(f"{time.perf_counter() - started:.0f} s; rows in {OUT / 'hallucination.json'}")


if __name__ == "__main__":
    main()
