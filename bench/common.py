"""What the benchmarks share: the long speech input with its reference text, progress lines,
and a running cluster (embedded broker, topics under a fresh prefix, one worker)."""

from __future__ import annotations

import contextlib
import json
import subprocess
import sys
import time
import uuid
import wave
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from agents.decode.media import decode_audio
from streams.admin import apply_topics
from streams.audio import SAMPLE_RATE
from streams.broker import embedded_broker
from streams.processes import worker_process
from streams.settings import KaptionSettings
from tests.paths import REPO

OUT = REPO / "bench" / "out"
PIECES = (
    (REPO / "samples" / "demo.mp4", "demo"),
    (REPO / "tests" / "media" / "speech.mp4", "speech"),
)
GAP_S = 1.0
COLD_S = 10.0
STARTED = time.perf_counter()


def progress(message: str) -> None:
    print(f"[{time.perf_counter() - STARTED:7.1f} s] {message}", file=sys.stderr, flush=True)


def reference_text(name: str) -> str:
    if name == "demo":
        return (REPO / "samples" / "demo.txt").read_text(encoding="utf-8").strip()
    data = json.loads((REPO / "tests" / "media" / "speech.json").read_text(encoding="utf-8"))
    return str(data["text"]).strip()


def write_wav(path: Path, pcm: np.ndarray) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    with wave.open(str(path), "wb") as out:
        out.setnchannels(1)
        out.setsampwidth(2)
        out.setframerate(SAMPLE_RATE)
        out.writeframes(pcm.astype("<i2").tobytes())


@dataclass(frozen=True)
class Inputs:
    long_wav: Path
    long_seconds: float
    reference: str
    pieces: int
    short_wav: Path


def build_inputs(minutes: float) -> Inputs:
    """Pieces alternately, 1 s of silence between them, until the length is reached (whole
    pieces only); plus a 10-second prefix of the same audio for the cold start."""
    decoded = [(decode_audio(str(path)).pcm, reference_text(name)) for path, name in PIECES]
    silence = np.zeros(int(GAP_S * SAMPLE_RATE), dtype=np.int16)
    target = int(minutes * 60 * SAMPLE_RATE)
    chunks: list[np.ndarray] = []
    texts: list[str] = []
    length = 0
    while length < target:
        pcm, text = decoded[len(texts) % len(decoded)]
        if texts:
            chunks.append(silence)
            length += len(silence)
        chunks.append(pcm)
        texts.append(text)
        length += len(pcm)
    audio = np.concatenate(chunks)
    seconds = len(audio) / SAMPLE_RATE
    long_wav = OUT / f"speech_{minutes:g}min.wav"
    write_wav(long_wav, audio)
    reference = " ".join(texts)
    long_wav.with_suffix(".txt").write_text(reference + "\n", encoding="utf-8")
    short_wav = OUT / "speech_10s.wav"
    write_wav(short_wav, audio[: int(COLD_S * SAMPLE_RATE)])
    return Inputs(long_wav, seconds, reference, len(texts), short_wav)


@contextlib.contextmanager
def cluster(
    base: KaptionSettings, tag: str, roles: str = "all"
) -> Iterator[tuple[KaptionSettings, subprocess.Popen[bytes]]]:
    """Embedded broker, topics under a fresh prefix, one `kaption worker --role all`."""
    broker_log = OUT / f"broker-{tag}.log"
    worker_log = OUT / f"worker-{tag}.log"
    for log in (broker_log, worker_log):
        log.unlink(missing_ok=True)
    with embedded_broker(0, broker_log) as address:
        settings = base.model_copy(
            update={"bootstrap_servers": address, "topic_prefix": f"bench{uuid.uuid4().hex[:8]}."}
        )
        report = apply_topics(settings)
        if report.drifted:
            raise RuntimeError(f"topics drifted: {report.drifted}")
        with worker_process(settings, roles, worker_log) as process:
            progress(f"broker {address}, worker pid {process.pid}, log {worker_log}")
            yield settings, process
            if process.poll() is not None:
                raise RuntimeError(f"the worker exited with code {process.returncode}")
