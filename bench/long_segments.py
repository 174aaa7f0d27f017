"""Speech lost inside long segments (the file lane): ways to keep it, compared on the live
evaluation set (``live_eval_set.py``) without a broker.

Each part goes through the file lane's own pure code (decode windows, speech detection and
segment planning, transcription in batches of the stage's size, the hallucination screening)
and each candidate's transcript is scored against the reference, per part and per item (words
by their time), with the seconds its transcription took (wall and CPU, the model's threads
included: CPU time moves less with other load on the machine):

- ``main``: no continuation (what the file lane did: a result that stops short is final);
- ``continue-S``: a result whose words stop more than S seconds before its clip's end is
  continued from its last word (``agents/transcribe/whisper.py``, ``UNHEARD_TAIL_S``);
- ``split-N``: planned segments longer than N seconds are split at their longest internal pause
  (Silero with 0.3-s silences), again until none is longer; no continuation;
- ``timestamps``: faster-whisper's sequential path per segment (timestamp tokens, seeking on
  past the last timestamp), its own thresholds.

Choose on the tuning part (the demo and speech fixtures are items of it); held-out is reported.
Run: ``python bench/long_segments.py [--candidates main,continue-2] [--parts tuning,heldout]``;
figures go to ``bench/out/long_segments.json``.
"""

from __future__ import annotations

import argparse
import json
import resource
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from itertools import pairwise
from typing import Any

import numpy as np
from common import OUT, progress
from faster_whisper import WhisperModel
from faster_whisper.vad import VadOptions, get_speech_timestamps
from live_eval import Part, item_texts, parts, per_item

from agents.decode.media import decode_audio, windows
from agents.transcribe import whisper
from agents.transcribe.agent import AUTO_BATCH_SIZE
from agents.transcribe.whisper import Clip, Transcript, load_model, transcribe_batch
from agents.vad.agent import vad_options
from agents.vad.plan import speech_segments
from streams.events.audio import SAMPLE_RATE, pcm_from_bytes, pcm_to_float
from streams.events.model import TranscribedWord
from streams.settings import KaptionSettings
from tests.wer import word_error_rate

FINE = VadOptions(min_silence_duration_ms=300, speech_pad_ms=0)
DECODED: list[tuple[int, float]] = []  # clips and their seconds per batched model call


def counted(
    model: WhisperModel,
    clips: Sequence[Clip],
    language: str,
    beam_size: int,
    prompt: str,
    task: str = "transcribe",
) -> list[whisper.Decoded]:
    DECODED.append((len(clips), sum(len(c.pcm) for c in clips) / SAMPLE_RATE))
    return DECODE_ONCE(model, clips, language, beam_size, prompt, task)


DECODE_ONCE = whisper.decode_once
whisper.decode_once = counted  # counts continuations too (decode_batch calls it by name)


@dataclass(frozen=True)
class Planned:
    start: float
    pcm: np.ndarray

    @property
    def seconds(self) -> float:
        return len(self.pcm) / SAMPLE_RATE


def planned(settings: KaptionSettings, pcm: np.ndarray) -> list[Planned]:
    """The vad stage's segments of a whole file (its windows, detection and merging)."""
    found: list[Planned] = []
    options = vad_options(settings)
    for window in windows([pcm], SAMPLE_RATE, 0.0, settings.audio_window_s, 5.0):
        for segment in speech_segments(
            "bench",
            window.index,
            window.pcm,
            SAMPLE_RATE,
            window.offset,
            options,
            settings.max_segment_s,
            settings.max_merge_gap_s,
        ):
            found.append(Planned(segment.start, pcm_from_bytes(segment.pcm)))
    return found


def split_at_pauses(segment: Planned, max_s: float) -> list[Planned]:
    """``segment`` cut at its longest internal pause, again until no part is longer than
    ``max_s`` (or a part has no pause left)."""
    if segment.seconds <= max_s:
        return [segment]
    spans = get_speech_timestamps(pcm_to_float(segment.pcm), FINE, sampling_rate=SAMPLE_RATE)
    gaps = [(b["start"] - a["end"], (a["end"] + b["start"]) // 2) for a, b in pairwise(spans)]
    if not gaps:
        return [segment]
    at = max(gaps)[1]
    first = Planned(segment.start, segment.pcm[:at])
    second = Planned(segment.start + at / SAMPLE_RATE, segment.pcm[at:])
    return split_at_pauses(first, max_s) + split_at_pauses(second, max_s)


def cpu_seconds() -> float:
    usage = resource.getrusage(resource.RUSAGE_SELF)
    return usage.ru_utime + usage.ru_stime


Transcribe = Callable[[Sequence[Clip]], list[Transcript]]


def batched(settings: KaptionSettings, tail: float | None) -> Transcribe:
    model = load_model("", "cpu", "int8", 2)
    return lambda clips: transcribe_batch(
        model, clips, SAMPLE_RATE, "en", settings.whisper_beam_size, unheard_tail_s=tail
    )


def sequential(settings: KaptionSettings) -> Transcribe:
    model = load_model("", "cpu", "int8", 2)

    def run(clips: Sequence[Clip]) -> list[Transcript]:
        out = []
        for clip in clips:
            segments, _ = model.transcribe(
                pcm_to_float(clip.pcm),
                language="en",
                beam_size=settings.whisper_beam_size,
                word_timestamps=True,
                condition_on_previous_text=False,
            )
            found = list(segments)
            words = tuple(
                TranscribedWord(
                    word=w.word,
                    start=clip.start + w.start,
                    end=clip.start + w.end,
                    probability=w.probability,
                )
                for s in found
                for w in s.words or ()
            )
            out.append(Transcript(" ".join(s.text.strip() for s in found), words, "en"))
        return out

    return run


def candidate(name: str, settings: KaptionSettings) -> tuple[float | None, Transcribe]:
    """The split length (None: none) and transcription of a candidate."""
    if name == "main":
        return None, batched(settings, None)
    if name.startswith("continue-"):
        return None, batched(settings, float(name.removeprefix("continue-")))
    if name.startswith("split-"):
        return float(name.removeprefix("split-")), batched(settings, None)
    if name == "timestamps":
        return None, sequential(settings)
    raise SystemExit(f"unknown candidate {name}")


def measure(part: Part, name: str, settings: KaptionSettings) -> dict[str, Any]:
    split_s, transcribe = candidate(name, settings)
    segments = planned(settings, decode_audio(str(part.wav)).pcm)
    if split_s is not None:
        segments = [piece for s in segments for piece in split_at_pauses(s, split_s)]
    clips = [Clip(s.pcm, s.start) for s in segments]
    transcribe(clips[:1])  # warm: the first call allocates the model's buffers
    DECODED.clear()
    started, cpu_started = time.perf_counter(), cpu_seconds()
    transcripts: list[Transcript] = []
    for i in range(0, len(clips), AUTO_BATCH_SIZE):
        transcripts += transcribe(clips[i : i + AUTO_BATCH_SIZE])
    took, cpu = time.perf_counter() - started, cpu_seconds() - cpu_started
    text = " ".join(t.text for t in transcripts)
    # Per item by time: each segment's words where known, else its text at its start.
    timed: list[tuple[float, str]] = []
    for clip, transcript in zip(clips, transcripts, strict=True):
        if transcript.words:
            timed += [(w.start, w.word) for w in transcript.words]
        elif transcript.text:
            timed.append((clip.start, transcript.text))
    items = per_item(part.items, item_texts(part.items, timed))
    return {
        "wer": word_error_rate(part.reference, text),
        "seconds": took,
        "cpu_s": cpu,  # the model's threads included: less sensitive to other load
        "segments": len(clips),
        "clips_decoded": sum(n for n, _ in DECODED),  # segments and continuations
        "audio_decoded_s": sum(s for _, s in DECODED),
        "speech_s": sum(s.seconds for s in segments),
        "longest_s": max(s.seconds for s in segments),
        "items": items,
    }


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--candidates", default="main,continue-2,split-20,split-15,timestamps")
    parser.add_argument("--parts", default="tuning,heldout")
    args = parser.parse_args()
    settings = KaptionSettings()
    found = parts()
    path = OUT / "long_segments.json"
    results: dict[str, Any] = json.loads(path.read_text()) if path.exists() else {}
    for part_name in args.parts.split(","):
        part = found[part_name]
        for name in args.candidates.split(","):
            progress(f"{part_name}: {name}")
            got = measure(part, name, settings)
            results.setdefault(part_name, {})[name] = got
            path.write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")
            items = " ".join(f"{k} {v:.3f}" for k, v in got["items"].items())
            print(
                f"{part_name:8s} {name:12s} WER {got['wer']:.3f}  {got['seconds']:5.1f} s "
                f"(CPU {got['cpu_s']:5.1f} s)  "
                f"{got['segments']} segments, {got['clips_decoded']} decoded "
                f"({got['audio_decoded_s']:.0f} s of {got['speech_s']:.0f} s; "
                f"longest {got['longest_s']:.1f} s)  {items}",
                flush=True,
            )


if __name__ == "__main__":
    main()
