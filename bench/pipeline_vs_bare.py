"""kaption (broker + worker already running) against bare faster-whisper, on the same audio.

Measures, in one run:

1. bare sequential faster-whisper: the same model (loaded and warmed up before timing),
   ``WhisperModel.transcribe`` of a ~5-minute speech WAV with the same beam size and VAD options,
   generator consumed to the end;
2. bare batched faster-whisper: ``BatchedInferencePipeline.transcribe`` of the same WAV with the
   same model, threads, VAD options and kaption's batch size;
3. kaption with the embedded broker and a ``kaption worker --role all`` already running and warmed
   up by one job: from ``submit`` of the same WAV to the subtitle files written;
4. the ratios of kaption's wall time to both, and the word error rates of all three outputs
   against the reference text;
5. the cold start of ``kaption run`` (own broker, topics, worker) on a 10-second file, minus the
   bare transcription time of that file.

Run from anywhere: ``python bench/pipeline_vs_bare.py [--minutes 5] [--repeat 1]``.
Progress goes to stderr, the table to stdout; inputs, logs and outputs stay in bench/out/.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict
from datetime import UTC, datetime
from pathlib import Path

from common import (
    OUT,
    Inputs,
    Run,
    build_inputs,
    cluster,
    kaption_job,
    load_average,
    progress,
    quiet_enough,
)
from faster_whisper import BatchedInferencePipeline

from agents.transcribe.agent import configured_batch_size, configured_model, configured_threads
from agents.vad.agent import vad_options
from streams.settings import KaptionSettings
from tests.paths import REPO
from tests.wer import word_error_rate as wer

WARMUP_FILE = REPO / "tests" / "media" / "speech.wav"
TARGET_RATIO_SEQUENTIAL = 0.85
TARGET_RATIO_BATCHED = 1.10
TARGET_WER_PT = 0.5
TARGET_COLD_S = 10.0
# --- bare faster-whisper ----------------------------------------------------------------------


def bare(settings: KaptionSettings, path: Path, batch_size: int = 0) -> Run:
    """The library alone: sequential, or ``BatchedInferencePipeline`` with ``batch_size``."""
    model = configured_model(settings)
    transcriber = BatchedInferencePipeline(model) if batch_size else model
    batching = {"batch_size": batch_size} if batch_size else {}
    started = time.perf_counter()
    segments, _info = transcriber.transcribe(
        str(path),
        language="en",
        beam_size=settings.whisper_beam_size,
        word_timestamps=True,
        vad_filter=True,
        vad_parameters=vad_options(settings),
        **batching,
    )
    texts = [segment.text.strip() for segment in segments]
    return Run(time.perf_counter() - started, " ".join(t for t in texts if t))


# --- kaption with broker and worker running ---------------------------------------------------


def kaption_warm(base: KaptionSettings, inputs: Inputs, tag: str, timeout_s: float) -> Run:
    with cluster(base, tag) as (settings, worker):
        progress(f"kaption warm-up job on {WARMUP_FILE.name}")
        alive = lambda: worker.poll() is None  # noqa: E731
        warm = kaption_job(settings, WARMUP_FILE, OUT / "warmup", alive, 300.0)
        progress(f"warm-up done in {warm.seconds:.1f} s; timing {inputs.long_wav.name}")
        return kaption_job(settings, inputs.long_wav, OUT / f"kaption-{tag}", alive, timeout_s)


# --- kaption run cold start -------------------------------------------------------------------


def kaption_binary() -> str:
    beside = Path(sys.executable).parent / "kaption"
    if beside.exists():
        return str(beside)
    found = shutil.which("kaption")
    if found is None:
        raise RuntimeError("no `kaption` console script beside the interpreter or on PATH")
    return found


def cold_start(short_wav: Path) -> float:
    env = {
        k: v
        for k, v in os.environ.items()
        if k not in {"KAFKA_BOOTSTRAP_SERVERS", "KAPTION_BOOTSTRAP_SERVERS"}
    }
    with tempfile.TemporaryDirectory(prefix="kaption-cold-") as tmp:
        env["KAPTION_DATA_DIR"] = str(Path(tmp) / "data")
        command = [kaption_binary(), "run", str(short_wav), "--out", str(Path(tmp) / "out")]
        started = time.perf_counter()
        done = subprocess.run(command, env=env, capture_output=True, text=True, check=False)
        seconds = time.perf_counter() - started
        if done.returncode != 0 or not list((Path(tmp) / "out").glob("*.srt")):
            raise RuntimeError(f"kaption run failed ({done.returncode}):\n{done.stderr[-3000:]}")
    return seconds


# --- main -------------------------------------------------------------------------------------


def verdict(ok: bool) -> str:
    return "PASS" if ok else "MISS"


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0, help="length of the long input")
    parser.add_argument(
        "--repeat", type=int, default=1, help="bare and kaption runs, alternately; best counts"
    )
    parser.add_argument("--skip-cold", action="store_true", help="skip the kaption run cold start")
    args = parser.parse_args()
    if args.repeat < 1 or args.minutes <= 0:
        parser.error("--repeat must be >= 1 and --minutes > 0")

    OUT.mkdir(parents=True, exist_ok=True)
    load_start = quiet_enough()
    base = KaptionSettings(data_dir=OUT / "kaption-data")
    base.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes only its own subdirectory
    threads, batch_size = configured_threads(base), configured_batch_size(base)
    inputs = build_inputs(args.minutes)
    progress(
        f"input {inputs.long_wav} ({inputs.long_seconds:.1f} s, {inputs.pieces} pieces), "
        f"reference {inputs.long_wav.with_suffix('.txt').name}, cold-start input "
        f"{inputs.short_wav.name}; {threads} threads, batch size {batch_size}"
    )

    started = time.perf_counter()
    bare(base, WARMUP_FILE)  # model load and first-call costs (VAD model), as the worker warm-up
    bare(base, WARMUP_FILE, batch_size)
    progress(f"bare model loaded and warmed up in {time.perf_counter() - started:.1f} s")

    timeout_s = max(900.0, 10 * inputs.long_seconds)
    runs: dict[str, list[Run]] = {"sequential": [], "batched": [], "kaption": []}
    for rep in range(1, args.repeat + 1):
        progress(f"run {rep}/{args.repeat}: bare sequential faster-whisper")
        runs["sequential"].append(bare(base, inputs.long_wav))
        progress(f"run {rep}/{args.repeat}: bare batched faster-whisper (batch {batch_size})")
        runs["batched"].append(bare(base, inputs.long_wav, batch_size))
        progress(f"run {rep}/{args.repeat}: kaption with broker and worker running")
        runs["kaption"].append(kaption_warm(base, inputs, f"run{rep}", timeout_s))
        for name, done in runs.items():
            done[-1].wer = wer(inputs.reference, done[-1].text)
            progress(f"{name}: {done[-1].seconds:.1f} s, WER {done[-1].wer:.3f}")

    cold_total = cold_bare = 0.0
    if not args.skip_cold:
        progress(f"bare faster-whisper on {inputs.short_wav.name}")
        cold_bare = bare(base, inputs.short_wav).seconds
        progress(f"kaption run {inputs.short_wav.name} (own broker and worker)")
        cold_total = cold_start(inputs.short_wav)
        progress(f"kaption run: {cold_total:.1f} s, bare {cold_bare:.1f} s")

    best = {name: min(done, key=lambda r: r.seconds) for name, done in runs.items()}
    kaption = best["kaption"]
    ratio_sequential = kaption.seconds / best["sequential"].seconds
    ratio_batched = kaption.seconds / best["batched"].seconds
    wer_pt = (kaption.wer - best["sequential"].wer) * 100
    cold = cold_total - cold_bare
    load_end = load_average()

    for name, run in best.items():
        (OUT / f"{name}.txt").write_text(run.text + "\n", encoding="utf-8")
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "threads": threads,
        "batch_size": batch_size,
        "input_seconds": inputs.long_seconds,
        **{name: [asdict(r) | {"text": None} for r in done] for name, done in runs.items()},
        "ratio_sequential": ratio_sequential,
        "ratio_batched": ratio_batched,
        "wer_difference_pt": wer_pt,
        "cold_total_s": cold_total,
        "cold_bare_s": cold_bare,
        "load_average_start_end": [load_start, load_end],
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    stages = ", ".join(f"{state} {t:.1f} s" for state, t in kaption.stages.items())
    counted = "1 run each"
    if args.repeat > 1:
        counted = f"best of {args.repeat} runs each (min wall time)"
    print(f"input: {inputs.long_seconds:.1f} s of speech ({inputs.pieces} pieces), {counted}")
    print(f"model threads {threads}, batch size {batch_size}")
    labels = {
        "sequential": "bare sequential faster-whisper",
        "batched": f"bare batched (batch {batch_size})",
        "kaption": "kaption (warm)",
    }
    for name, label in labels.items():
        print(f"{label:<34} {best[name].seconds:6.1f} s   WER {best[name].wer:.3f}")
    print(
        f"{'ratio kaption / bare sequential':<34} {ratio_sequential:6.3f}    target <= "
        f"{TARGET_RATIO_SEQUENTIAL:.2f}  {verdict(ratio_sequential <= TARGET_RATIO_SEQUENTIAL)}"
    )
    print(
        f"{'ratio kaption / bare batched':<34} {ratio_batched:6.3f}    target <= "
        f"{TARGET_RATIO_BATCHED:.2f}  {verdict(ratio_batched <= TARGET_RATIO_BATCHED)}"
    )
    print(
        f"{'WER kaption - bare sequential':<34} {wer_pt:+6.1f} pt  target <= "
        f"+{TARGET_WER_PT:.1f} pt {verdict(wer_pt <= TARGET_WER_PT)}"
    )
    if args.skip_cold:
        print(f"{'kaption run cold start':<34} skipped")
    else:
        print(
            f"{'kaption run cold start':<34} {cold:6.1f} s  (total {cold_total:.1f} s - bare "
            f"{cold_bare:.1f} s) target <= {TARGET_COLD_S:.0f} s {verdict(cold <= TARGET_COLD_S)}"
        )
    print(f"kaption job states seen, from submit: {stages}")
    print(
        f"{os.cpu_count()} CPUs, 1-minute load average {load_start:.2f} at start, "
        f"{load_end:.2f} at end"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
