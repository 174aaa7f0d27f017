"""Multilingual Whisper base against the bundled tiny.en: speed and WER on English, and base's
language detection.

- **English** (both models, ``language="en"``, the same ``--threads``, beam 5, word timestamps
  as the pipeline asks): ``samples/demo.mp4``, ``tests/media/speech.wav`` and ``paused.mp4``
  (their reference texts in ``samples/demo.txt`` and ``tests/media/*.json``), and
  ``bench/out/other_voices.wav`` (other sentences and voices, made by bench/other_voices.py
  when missing). Each round transcribes every file with each model in turn, so both see the
  same machine; the real-time factor is seconds of compute (each file's fastest round, summed)
  per second of audio.
- **Language detection** (base only; tiny.en knows English alone): every speech file of the
  tests (``tests/media/speech.*``, ``offset.mkv``, ``paused.mp4``, ``lang_*.mp4`` with
  ``languages.json``) and ``samples/demo.mp4``; then a wider synthetic set, made here with
  espeak-ng: Spanish, German and French in three voices each, at two speeds, reading two texts,
  plus English in two voices.
- **First use**: joining base's wheels into an empty cache.

Run: ``python bench/models.py [--threads 2] [--rounds 3]``. Needs espeak-ng for the synthetic
set. The results also go to ``bench/out/models.json``.
"""

from __future__ import annotations

import argparse
import json
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
from common import OUT, progress
from faster_whisper import WhisperModel

from agents.decode.media import decode_audio
from streams.events.audio import SAMPLE_RATE
from streams.models import load_catalog, model_path, packages
from streams.settings import KaptionSettings
from tests.paths import MEDIA, SAMPLES
from tests.wer import normalise, word_error_rate

TRAIN = {  # the sentences tests/media/languages.py first tried (German heard as Welsh there)
    "es": "El tren sale de la estación a las ocho de la mañana.",
    "de": "Der Zug fährt um acht Uhr morgens vom Bahnhof ab.",
    "fr": "Le train quitte la gare à huit heures du matin.",
}
ENGLISH_TEXT = "The quick brown fox jumps over the lazy dog. Subtitles appear on the screen."


@dataclass(frozen=True)
class Speed:
    model: str
    audio_s: float
    compute_s: float
    cpu_s: float  # CPU seconds of the process: steadier than wall time on a shared machine
    wer: float
    errors_per_file: dict[str, float]

    @property
    def rtf(self) -> float:
        return self.compute_s / self.audio_s


def audio(path: Path) -> np.ndarray:
    return decode_audio(str(path)).pcm.astype(np.float32) / 32768.0


def english_inputs() -> dict[str, tuple[np.ndarray, str]]:
    other = OUT / "other_voices.wav"
    if not other.exists():
        subprocess.run([sys.executable, str(Path(__file__).parent / "other_voices.py")], check=True)
    speech = json.loads((MEDIA / "speech.json").read_text(encoding="utf-8"))["text"]
    paused = json.loads((MEDIA / "paused.json").read_text(encoding="utf-8"))["text"]
    return {
        "demo.mp4": (audio(SAMPLES / "demo.mp4"), (SAMPLES / "demo.txt").read_text().strip()),
        "speech.wav": (audio(MEDIA / "speech.wav"), speech),
        "paused.mp4": (audio(MEDIA / "paused.mp4"), paused),
        "other_voices.wav": (audio(other), other.with_suffix(".txt").read_text().strip()),
    }


def transcribe(model: WhisperModel, pcm: np.ndarray) -> str:
    segments, _ = model.transcribe(pcm, language="en", beam_size=5, word_timestamps=True)
    return " ".join(segment.text.strip() for segment in segments)


def english(models: dict[str, WhisperModel], rounds: int) -> list[Speed]:
    """Each file by each model in turn (the order flips each round), the fastest of the rounds
    per file and model: the machine is shared, and a slow moment should not land on one model."""
    inputs = english_inputs()
    seconds = sum(len(pcm) for pcm, _ in inputs.values()) / SAMPLE_RATE
    times: dict[tuple[str, str], list[float]] = {}
    cpu: dict[tuple[str, str], list[float]] = {}
    texts: dict[str, dict[str, str]] = {name: {} for name in models}
    for model in models.values():  # warm-up: first calls allocate
        transcribe(model, inputs["speech.wav"][0][: 5 * SAMPLE_RATE])
    for round_ in range(rounds):
        order = list(models) if round_ % 2 == 0 else list(reversed(models))
        for file, (pcm, _) in inputs.items():
            for name in order:
                started, started_cpu = time.perf_counter(), time.process_time()
                texts[name][file] = transcribe(models[name], pcm)
                times.setdefault((name, file), []).append(time.perf_counter() - started)
                cpu.setdefault((name, file), []).append(time.process_time() - started_cpu)
        progress(f"round {round_ + 1} of {rounds} done")
    references = " ".join(normalise(text) for _, text in inputs.values())
    return [
        Speed(
            model=name,
            audio_s=seconds,
            compute_s=sum(min(times[name, file]) for file in inputs),
            cpu_s=sum(min(cpu[name, file]) for file in inputs),
            wer=word_error_rate(references, " ".join(texts[name][f] for f in inputs)),
            errors_per_file={
                file: round(word_error_rate(text, texts[name][file]), 4)
                for file, (_, text) in inputs.items()
            },
        )
        for name in models
    ]


def speech_files() -> dict[str, str]:
    """Every speech file the tests have, with its language."""
    files = {
        str(path.relative_to(MEDIA.parent.parent)): "en" for path in sorted(MEDIA.glob("speech.*"))
    }
    files.pop("tests/media/speech.json")
    files |= {"tests/media/offset.mkv": "en", "tests/media/paused.mp4": "en"}
    files["samples/demo.mp4"] = "en"
    clips = json.loads((MEDIA / "languages.json").read_text(encoding="utf-8"))
    return files | {f"tests/media/{name}": clip["language"] for name, clip in clips.items()}


def synthetic_clips(folder: Path) -> list[tuple[str, str, np.ndarray]]:
    """(label, language, audio) for espeak-ng voices, speeds and texts beyond the test clips."""
    sys.path.insert(0, str(MEDIA))
    from languages import CLIPS  # tests/media/languages.py: the committed clips' texts

    texts = {clip.language: [TRAIN[clip.language], " ".join(clip.sentences)] for clip in CLIPS}
    texts["en"] = [ENGLISH_TEXT]
    voices = {lang: [lang, f"{lang}+m3", f"{lang}+f2"] for lang in ("es", "de", "fr")}
    voices["en"] = ["en-us", "en-gb"]
    clips = []
    for language, variants in voices.items():
        for voice in variants:
            for wpm in (140, 175):
                for i, text in enumerate(texts[language]):
                    wav = folder / "say.wav"
                    command = ["espeak-ng", "-v", voice, "-s", str(wpm), "-w", str(wav), text]
                    subprocess.run(command, check=True)
                    label = f"{voice} {wpm} wpm text {i + 1}"
                    clips.append((label, language, audio(wav)))
    return clips


def detect(model: WhisperModel, pcm: np.ndarray) -> tuple[str, float]:
    language, probability, _ = model.detect_language(pcm)
    return language, probability


def detection(model: WhisperModel) -> dict[str, object]:
    root = MEDIA.parent.parent
    tests = {}
    for file, expected in speech_files().items():
        language, probability = detect(model, audio(root / file))
        tests[file] = {"expected": expected, "detected": language, "p": round(probability, 3)}
    with tempfile.TemporaryDirectory() as folder:
        clips = synthetic_clips(Path(folder))
        synthetic = {}
        for label, expected, pcm in clips:
            language, probability = detect(model, pcm)
            synthetic[label] = {
                "expected": expected,
                "detected": language,
                "p": round(probability, 3),
            }
    return {"test_files": tests, "synthetic": synthetic}


def accuracy(results: dict[str, dict[str, object]]) -> tuple[int, int]:
    right = sum(1 for r in results.values() if r["expected"] == r["detected"])
    return right, len(results)


def by_language_and_text(results: dict[str, dict[str, object]]) -> dict[str, str]:
    """Right out of total per language and text (text 1 is one short sentence, about 3 s)."""
    groups: dict[str, list[bool]] = {}
    for label, result in results.items():
        key = f"{result['expected']} text {label.rsplit(' ', 1)[-1]}"
        groups.setdefault(key, []).append(result["expected"] == result["detected"])
    return {key: f"{sum(hits)}/{len(hits)}" for key, hits in sorted(groups.items())}


def first_use() -> float:
    with tempfile.TemporaryDirectory() as cache:
        started = time.perf_counter()
        packages.base_dir(Path(cache))
        return time.perf_counter() - started


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--threads", type=int, default=2)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    catalog = load_catalog(KaptionSettings())
    assembly_s = first_use()
    models, labels = {}, {}
    for name in ("tiny.en", "base"):
        spec = catalog.get(name)
        started = time.perf_counter()
        models[name] = WhisperModel(
            str(model_path(spec)), device="cpu", compute_type="int8", cpu_threads=args.threads
        )
        labels[name] = f"{spec.label}, loaded in {time.perf_counter() - started:.2f} s"
        progress(f"loaded {labels[name]}")
    speeds = english(models, args.rounds)
    progress("detecting languages")
    detected = detection(models["base"])

    tiny, base = speeds
    print(f"models: {labels['tiny.en']}; {labels['base']}")
    print(f"base's first use (join and check into an empty cache): {assembly_s:.2f} s")
    print(
        f"English, {tiny.audio_s:.0f} s of audio, fastest of {args.rounds} rounds per file, "
        f"{args.threads} threads, int8, beam 5:"
    )
    print(f"{'model':10} {'RTF':>7} {'WER':>7}  per file")
    for speed in speeds:
        print(f"{speed.model:10} {speed.rtf:7.3f} {speed.wer:7.3f}  {speed.errors_per_file}")
    print(
        f"base / tiny.en: wall time {base.compute_s / tiny.compute_s:.2f}x, "
        f"CPU time {base.cpu_s / tiny.cpu_s:.2f}x"
    )
    for kind, results in detected.items():
        assert isinstance(results, dict)
        right, total = accuracy(results)
        print(f"language detection, {kind}: {right}/{total} right")
        if kind == "synthetic":
            print("  by language and text:", by_language_and_text(results))
        for label, result in results.items():
            if result["expected"] != result["detected"]:
                print(f"  wrong: {label}: {result}")
    record = {
        "threads": args.threads,
        "rounds": args.rounds,
        "models": labels,
        "first_use_s": assembly_s,
        "english": [asdict(speed) | {"rtf": speed.rtf} for speed in speeds],
        "detection": detected,
    }
    (OUT / "models.json").write_text(json.dumps(record, indent=2, ensure_ascii=False) + "\n")


if __name__ == "__main__":
    main()
