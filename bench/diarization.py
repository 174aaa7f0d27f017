"""Diarization error rate of the diarize stage's speakers, as a job gets them: the audio cut
into the decode stage's windows, pyannote.audio (segmentation-3.0 + CAM++) per window, the
windows' voices joined job-wide by the cue stage's clustering (agents/cues/speakers.py).
Scored with pyannote.metrics (collar 0.25 s, overlap scored) on

- ``sample``: pyannote.audio's own sample conversation (sample.wav + sample.rttm, two voices,
  30 s, inside the installed package);
- ``espeak``: a two-voice recording made here with espeak-ng (a male and a female voice
  alternating 60 turns, ~3.3 min: two windows, so "Speaker 1" must be found again across
  them), with the exact reference RTTM written beside it.

Run: ``python bench/diarization.py [--step 0.2] [--threads N]`` (a few minutes on 2 cores).
The figures are the settings' defaults unless options say otherwise; the clustering
thresholds were chosen by looking at these same two recordings (no held-out set).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import tempfile
import time
import wave
from pathlib import Path

import numpy as np
import pyannote.audio
from common import OUT
from pyannote.core import Annotation, Segment
from pyannote.database.util import load_rttm
from pyannote.metrics.diarization import DiarizationErrorRate
from scipy.signal import resample_poly

from agents.cues.speakers import SpeakerCount, job_turns
from agents.decode.media import decode_windows
from agents.diarize.agent import found
from agents.diarize.backend import Diarizer
from streams.events.model import AudioReady
from streams.settings import KaptionSettings

RATE = 16_000
SAMPLE = Path(pyannote.audio.__file__).parent / "sample"
# espeak-ng: its male American voice and a female variant pitched up. Its other variants
# (en-gb+f3, a lower pitch) are the same voice to CAM++ (cosine distance 0.16-0.20, as close
# as two sentences of one voice); these two are 0.58-0.62 apart.
VOICES = (("-v", "en-us"), ("-v", "en-us+f5", "-p", "80"))
TURNS = [
    "Good morning, did you manage to read the report I sent last night?",
    "I did, and I have a few questions about the second chapter.",
    "Of course. Which part was unclear?",
    "The numbers for the northern region do not add up.",
    "You are right, we used last year's figures by mistake.",
    "Can you send a corrected version before the meeting?",
    "Yes, I will have it ready by eleven.",
    "Thank you. Who else is coming to the meeting?",
    "The whole design team, and perhaps the director.",
    "Then we should prepare a short summary for her.",
    "Good idea. Three slides should be enough.",
    "I can write the first one about the budget.",
    "Perfect, I will take the schedule and the risks.",
    "What about the delays in the factory?",
    "They are solved now. The new machine arrived on Monday.",
    "That is good news. How long did the installation take?",
    "Two days, and the engineers tested it on Wednesday.",
    "Were there any problems during the tests?",
    "Only a small leak, which they fixed at once.",
    "Let us mention it anyway, the director likes details.",
    "Agreed. Should we also talk about the new hires?",
    "Briefly. Four people start next month.",
    "Do they have desks yet?",
    "Not yet. The office manager is looking into it.",
    "Fine. Is there anything else for the agenda?",
    "Just the holiday plans for the summer.",
    "Everyone wants August, as usual.",
    "We will draw lots again, it worked last year.",
    "Right. See you at the meeting then.",
    "See you there, and thanks for the help.",
]


def speak(text: str, voice: tuple[str, ...]) -> np.ndarray:
    """espeak-ng's speech, trimmed of its silent edges, at 16 kHz int16."""
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "say.wav"
        subprocess.run(["espeak-ng", *voice, "-s", "160", "-w", str(path), text], check=True)
        with wave.open(str(path), "rb") as wav:
            rate = wav.getframerate()
            samples = np.frombuffer(wav.readframes(wav.getnframes()), dtype="<i2")
    loud = np.flatnonzero(np.abs(samples.astype(np.int32)) > 0.01 * 32767)
    samples = samples[loud[0] : loud[-1] + 1].astype(np.float64)
    return np.clip(resample_poly(samples, RATE, rate), -32768, 32767).astype(np.int16)


def two_voices(folder: Path) -> tuple[Path, Annotation]:
    """The espeak-ng conversation (WAV) and its reference: exact turns, gaps of 0.3-0.9 s."""
    rng = np.random.default_rng(19)
    parts = [np.zeros(RATE // 2, np.int16)]
    reference = Annotation(uri="espeak")
    at = 0.5
    for n, text in enumerate(TURNS * 2):  # twice: past one 120-s window
        speech = speak(text, VOICES[n % 2])
        reference[Segment(at, at + len(speech) / RATE)] = f"voice{n % 2}"
        gap = np.zeros(int(rng.uniform(0.3, 0.9) * RATE), np.int16)
        parts += [speech, gap]
        at += (len(speech) + len(gap)) / RATE
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / "espeak-two-voices.wav"
    with wave.open(str(path), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(RATE)
        wav.writeframes(np.concatenate(parts).tobytes())
    with (folder / "espeak-two-voices.rttm").open("w") as rttm:
        reference.write_rttm(rttm)
    return path, reference


def diarize(
    path: Path, diarizer: Diarizer, settings: KaptionSettings, count: SpeakerCount
) -> tuple[Annotation, int, float, float]:
    """The job's speakers as an Annotation, the number of windows, seconds of audio and
    seconds taken."""
    started = time.perf_counter()
    per_window = []
    seconds = 0.0
    for window in decode_windows(str(path), settings.audio_window_s):
        seconds += len(window.pcm) / RATE
        audio = AudioReady(
            job_id="bench",
            window=window.index,
            last=window.last,
            sample_rate=RATE,
            offset=window.offset,
            duration=len(window.pcm) / RATE,
            pcm=window.pcm.tobytes(),
            speakers=True,
        )
        speakers = diarizer(window.pcm.astype(np.float32) / 32768.0)
        per_window.append(found(audio, speakers, diarizer.model))
    took = time.perf_counter() - started
    hypothesis = Annotation()
    for turn in job_turns(per_window, settings.speaker_threshold, count):
        hypothesis[Segment(turn.start, turn.end)] = turn.speaker
    return hypothesis, len(per_window), seconds, took


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--step", type=float, default=None, help="segmentation step (fraction)")
    parser.add_argument("--threads", type=int, default=0)
    args = parser.parse_args()
    settings = KaptionSettings()
    step = args.step or settings.diarize_step
    diarizer = Diarizer(
        threads=args.threads or settings.diarize_threads,
        step=step,
        threshold=settings.diarize_threshold,
    )
    metric = DiarizationErrorRate(collar=0.25, skip_overlap=False)
    espeak, espeak_reference = two_voices(OUT / "diarization")
    cases = [
        ("sample", SAMPLE / "sample.wav", load_rttm(str(SAMPLE / "sample.rttm"))["sample"]),
        ("espeak", espeak, espeak_reference),
    ]
    print(f"step {step}, window {settings.audio_window_s:.0f} s, {os.cpu_count()} cores")
    for name, path, reference in cases:
        for label, count in (("unknown", SpeakerCount()), ("num=2", SpeakerCount(num=2))):
            hypothesis, n_windows, seconds, took = diarize(path, diarizer, settings, count)
            der = metric(reference, hypothesis, detailed=True)
            found_n = len(hypothesis.labels())
            print(
                f"{name:7s} {seconds:6.1f} s {n_windows} window(s) speakers {label:8s}"
                f" DER {der['diarization error rate']:.3f}"
                f" (missed {der['missed detection'] / der['total']:.3f},"
                f" false alarm {der['false alarm'] / der['total']:.3f},"
                f" confusion {der['confusion'] / der['total']:.3f})"
                f" found {found_n} speaker(s), {took:.1f} s ({took / seconds:.2f} x real time)"
            )


if __name__ == "__main__":
    main()
