"""One transcription worker against two, one model thread each, on an ~18-minute speech file.

Each configuration gets a fresh embedded broker and topics, one process with every other stage
(orchestrator, decode, vad, cues, subtitles) and N ``kaption worker --role transcribe`` processes
(``KAPTION_WHISPER_CPU_THREADS=1``). Once every worker reports ready (/readyz: groups joined,
model loaded) and a warm-up job has gone through, the long file is timed from ``submit`` to the
subtitle files written. With ``--repeat`` the configurations take turns, so noise on a shared
machine hits both; the fastest run of each counts. Printed: both times, the speed-up (target
>= 1.7), whether the subtitle text is identical, the share of audio each worker transcribed
(from its /metrics) and the load average.

``--batch-sizes`` first times batched against one-by-one inference on the file's first
segments, for 1 and 2 model threads (what ``transcribe_batch_size=0`` decides from).

Run from anywhere: ``python bench/transcribe_scaling.py [--minutes 18] [--repeat 1]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import asdict
from datetime import UTC, datetime

from common import (
    OUT,
    Inputs,
    Run,
    broker_with_topics,
    build_inputs,
    kaption_job,
    load_average,
    progress,
    quiet_enough,
    worker,
)
from prometheus_client.parser import text_string_to_metric_families

from agents.decode.media import decode_audio
from agents.transcribe.whisper import Clip, load_model, resolve_model, transcribe_batch
from agents.vad.agent import vad_options
from agents.vad.plan import speech_segments
from streams.events.audio import SAMPLE_RATE, pcm_from_bytes
from streams.runtime.processes import free_port
from streams.runtime.roles import STAGES
from streams.settings import KaptionSettings
from tests.paths import REPO
from tests.wer import word_error_rate as wer

WARMUP_FILE = REPO / "tests" / "media" / "speech.wav"
TARGET_SPEEDUP = 1.7
OTHER_STAGES = [stage for stage in STAGES if stage != "transcribe"]
READY_TIMEOUT_S = 120.0
SETTLE_S = 5.0  # after every worker is ready: the group's last rebalance completes
SHARES: dict[str, list[float]] = {}  # audio seconds each transcription worker did, per run


def ready(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/readyz", timeout=2) as reply:
            return bool(reply.status == 200)
    except (urllib.error.URLError, OSError):
        return False


def transcribed_seconds(port: int) -> float:
    """Audio seconds this worker has transcribed (its kaption_audio_seconds_total)."""
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    return sum(
        sample.value
        for family in text_string_to_metric_families(text)
        if family.name == "kaption_audio_seconds"
        for sample in family.samples
        if sample.name == "kaption_audio_seconds_total"
        and sample.labels.get("stage") == "transcribe"
    )


@contextlib.contextmanager
def transcription_cluster(
    base: KaptionSettings, workers: int, tag: str
) -> Iterator[tuple[KaptionSettings, list[int], list[subprocess.Popen[bytes]]]]:
    """Every other stage in one process plus ``workers`` transcription processes, all ready."""
    with broker_with_topics(base, tag) as settings, contextlib.ExitStack() as stack:
        processes = [stack.enter_context(worker(settings, OTHER_STAGES, f"{tag}-rest"))]
        ports = []
        for number in range(1, workers + 1):
            port = free_port()
            ports.append(port)
            mine = settings.model_copy(update={"metrics_port": port})
            processes.append(stack.enter_context(worker(mine, "transcribe", f"{tag}-t{number}")))
        deadline = time.monotonic() + READY_TIMEOUT_S
        while not all(ready(port) for port in ports):
            if time.monotonic() > deadline or any(p.poll() is not None for p in processes):
                raise RuntimeError(f"transcription workers not ready; logs in {OUT}")
            time.sleep(0.5)
        time.sleep(SETTLE_S)
        yield settings, ports, processes


def timed_job(base: KaptionSettings, inputs: Inputs, workers: int, tag: str) -> Run:
    timeout_s = max(1800.0, 10 * inputs.long_seconds)
    with transcription_cluster(base, workers, tag) as (settings, ports, processes):

        def alive() -> bool:
            return all(p.poll() is None for p in processes)

        warm = kaption_job(settings, WARMUP_FILE, OUT / "warmup", alive, 300.0)
        progress(f"{tag}: warm-up done in {warm.seconds:.1f} s; timing {inputs.long_wav.name}")
        before = [transcribed_seconds(port) for port in ports]
        run = kaption_job(settings, inputs.long_wav, OUT / f"scaling-{tag}", alive, timeout_s)
        shares = [transcribed_seconds(port) - b for port, b in zip(ports, before, strict=True)]
    run.wer = wer(inputs.reference, run.text)
    progress(
        f"{tag}: {run.seconds:.1f} s, WER {run.wer:.3f}, audio per worker "
        + ", ".join(f"{s:.0f} s" for s in shares)
    )
    SHARES[tag] = shares
    return run


def batch_sizes(inputs: Inputs, base: KaptionSettings, count: int = 8, repeat: int = 2) -> None:
    """Batched against one-by-one inference on the first segments, threads 1 and 2, in turns."""
    pcm = decode_audio(str(inputs.long_wav)).pcm[: 300 * SAMPLE_RATE]
    segments = speech_segments("bench", 0, pcm, SAMPLE_RATE, 0.0, vad_options(base), 30.0, 3.0)
    clips = [Clip(pcm_from_bytes(s.pcm), s.start) for s in segments[:count]]
    audio = sum(s.end - s.start for s in segments[:count])
    name = resolve_model(base.whisper_model)
    models = {
        threads: load_model(name, base.whisper_device, base.whisper_compute_type, threads)
        for threads in (1, 2)
    }
    for model in models.values():
        transcribe_batch(model, clips[:1], SAMPLE_RATE, "en", base.whisper_beam_size)
    best: dict[tuple[int, int], float] = {}
    for _ in range(repeat):
        for threads, model in models.items():
            for size in (1, len(clips)):
                started = time.perf_counter()
                for first in range(0, len(clips), size):
                    batch = clips[first : first + size]
                    transcribe_batch(model, batch, SAMPLE_RATE, "en", base.whisper_beam_size)
                took = time.perf_counter() - started
                best[threads, size] = min(took, best.get((threads, size), took))
    print(f"inference only, {len(clips)} segments ({audio:.0f} s of audio), best of {repeat}:")
    for (threads, size), took in sorted(best.items()):
        print(f"  {threads} thread(s), batch size {size:2d}: {took:6.1f} s")


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=18.0, help="length of the input")
    parser.add_argument("--repeat", type=int, default=1, help="runs of each, in turns")
    parser.add_argument("--batch-sizes", action="store_true", help="also time batch sizes")
    parser.add_argument(
        "--fetch-max-wait-ms",
        type=int,
        default=None,
        help="the agents' fetch long-poll (KAPTION_FETCH_MAX_WAIT_MS; default: the broker's)",
    )
    args = parser.parse_args()
    if args.repeat < 1 or args.minutes <= 0:
        parser.error("--repeat must be >= 1 and --minutes > 0")

    OUT.mkdir(parents=True, exist_ok=True)
    load_start = quiet_enough()
    base = KaptionSettings(
        data_dir=OUT / "kaption-data",
        whisper_cpu_threads=1,
        fetch_max_wait_ms=args.fetch_max_wait_ms,
    )
    base.data_dir.mkdir(parents=True, exist_ok=True)
    inputs = build_inputs(args.minutes)
    progress(f"input {inputs.long_wav} ({inputs.long_seconds:.1f} s, {inputs.pieces} pieces)")
    if args.batch_sizes:
        batch_sizes(inputs, base)

    runs: dict[int, list[Run]] = {1: [], 2: []}
    for rep in range(1, args.repeat + 1):
        for workers in (1, 2):
            progress(f"run {rep}/{args.repeat}: {workers} transcription worker(s), 1 thread each")
            runs[workers].append(timed_job(base, inputs, workers, f"w{workers}-run{rep}"))

    one = min(runs[1], key=lambda r: r.seconds)
    two = min(runs[2], key=lambda r: r.seconds)
    speedup = one.seconds / two.seconds
    texts = {run.text for done in runs.values() for run in done}
    load_end = load_average()
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "input_seconds": inputs.long_seconds,
        "runs": {w: [asdict(r) | {"text": None} for r in done] for w, done in runs.items()},
        "audio_seconds_per_worker": SHARES,
        "fetch_max_wait_ms": args.fetch_max_wait_ms,
        "speedup": speedup,
        "identical_text": len(texts) == 1,
        "load_average_start_end": [load_start, load_end],
    }
    (OUT / "scaling.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    counted = "1 run each"
    if args.repeat > 1:
        counted = f"best of {args.repeat} runs each (min wall time)"
    print(
        f"input: {inputs.long_seconds:.1f} s of speech ({inputs.pieces} pieces), {counted}, "
        f"fetch long-poll {args.fetch_max_wait_ms or 'default'} ms"
    )
    for workers, run in ((1, one), (2, two)):
        stages = ", ".join(f"{state} {t:.1f} s" for state, t in run.stages.items())
        print(
            f"{workers} transcription worker(s), 1 thread each: {run.seconds:6.1f} s   "
            f"WER {run.wer:.3f}   ({stages})"
        )
    for tag, shares in SHARES.items():
        print(
            f"  {tag}: audio seconds per transcription worker "
            + ", ".join(f"{s:.0f}" for s in shares)
        )
    ok = speedup >= TARGET_SPEEDUP
    print(
        f"speed-up 2 vs 1: {speedup:.2f}x   target >= {TARGET_SPEEDUP}  {'PASS' if ok else 'MISS'}"
    )
    print(f"identical subtitle text in all {sum(map(len, runs.values()))} runs: {len(texts) == 1}")
    print(
        f"{os.cpu_count()} CPUs, 1-minute load average {load_start:.2f} at start, "
        f"{load_end:.2f} at end"
    )
    return 0 if len(texts) == 1 else 1


if __name__ == "__main__":
    sys.exit(main())
