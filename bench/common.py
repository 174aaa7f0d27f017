"""What the benchmarks share: the long speech input with its reference text, progress lines,
a running cluster (embedded broker, topics under a fresh prefix, workers) and timed jobs."""

from __future__ import annotations

import contextlib
import json
import os
import shutil
import subprocess
import sys
import time
import uuid
import wave
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from agents.cues.model import DEFAULT_RULES
from agents.decode.media import decode_audio
from agents.subtitles.render import parse_cues
from clients.jobs import JobClient
from streams.broker.admin import apply_topics
from streams.broker.launch import local_broker
from streams.events.audio import SAMPLE_RATE
from streams.events.model import JobState, JobStatus
from streams.runtime.processes import worker_process
from streams.runtime.roles import FILE_STAGES
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
def broker_with_topics(base: KaptionSettings, tag: str) -> Iterator[KaptionSettings]:
    """A local broker (Apache Kafka; Tansu with KAPTION_BROKER_KIND=tansu) and topics under a
    fresh prefix; the settings to reach them."""
    state = OUT / f"broker-{tag}"
    shutil.rmtree(state, ignore_errors=True)
    with local_broker(base, state, progress) as running:
        prefix = f"bench{uuid.uuid4().hex[:8]}."
        settings = running.reached_by(base).model_copy(update={"topic_prefix": prefix})
        report = apply_topics(settings)
        if report.drifted:
            raise RuntimeError(f"topics drifted: {report.drifted}")
        yield settings


@contextlib.contextmanager
def worker(
    settings: KaptionSettings, roles: str | Sequence[str], tag: str
) -> Iterator[subprocess.Popen[bytes]]:
    """One `kaption worker --role ...` process, its log in bench/out/worker-<tag>.log."""
    log = OUT / f"worker-{tag}.log"
    log.unlink(missing_ok=True)
    with worker_process(settings, roles, log) as process:
        progress(f"worker {tag} ({roles}) pid {process.pid}, log {log}")
        yield process
        if process.poll() is not None:
            raise RuntimeError(f"worker {tag} exited with code {process.returncode}")


@contextlib.contextmanager
def cluster(
    base: KaptionSettings, tag: str, roles: str | Sequence[str] = FILE_STAGES
) -> Iterator[tuple[KaptionSettings, subprocess.Popen[bytes]]]:
    """Embedded broker, topics under a fresh prefix, one worker running the file lane."""
    with broker_with_topics(base, tag) as settings, worker(settings, roles, tag) as process:
        yield settings, process


# --- jobs on a running cluster ----------------------------------------------------------------


def srt_text(srt: str) -> tuple[str, int]:
    """Spoken text of the subtitles, and how many untranscribed-gap markers were left out."""
    marker = " ".join(DEFAULT_RULES.gap_text.split())
    words: list[str] = []
    gaps = 0
    for cue in parse_cues(srt, "srt"):
        text = " ".join(cue.text.split())
        if text == marker:
            gaps += 1
        else:
            words.append(text)
    return " ".join(words), gaps


@dataclass
class Run:
    seconds: float
    text: str
    wer: float = 0.0
    gaps: int = 0
    stages: dict[str, float] = field(default_factory=dict)


def kaption_job(
    settings: KaptionSettings,
    source: Path,
    out_dir: Path,
    alive: Callable[[], bool],
    timeout_s: float,
) -> Run:
    """One job on a running cluster, from submit to the subtitle files written; the reader is
    positioned before the clock starts."""
    stages: dict[str, float] = {}
    with JobClient(settings) as client:
        started = time.perf_counter()

        def on_status(status: JobStatus) -> None:
            state = status.state.value
            if state not in stages:
                stages[state] = time.perf_counter() - started
                progress(f"  {state} at {stages[state]:.1f} s")

        job_id = client.submit(str(source.resolve()))
        result = client.wait(job_id, timeout_s, on_status=on_status, alive=alive)
        paths = result.write(out_dir)
        seconds = time.perf_counter() - started
    if result.state is not JobState.COMPLETED:
        raise RuntimeError(f"job ended {result.state}: {result.status.reason}")
    srt = next(p for p in paths if p.suffix == ".srt").read_text(encoding="utf-8")
    text, gaps = srt_text(srt)
    return Run(seconds, text, gaps=gaps, stages=stages)


def load_average() -> float:
    return os.getloadavg()[0]


def quiet_enough() -> float:
    """The 1-minute load average at the start, with a warning when timings will be noisy."""
    load = load_average()
    if load > 0.5:
        progress(f"warning: 1-minute load average is {load:.2f}: timings will be noisy")
    return load
