"""kaption (broker + worker already running) against bare faster-whisper, on the same audio.

Measures, in one run:

1. bare faster-whisper: the same model (loaded and warmed up before timing), ``transcribe`` of a
   ~5-minute speech WAV with the same beam size and VAD options, generator consumed to the end;
2. kaption with the embedded broker and a ``kaption worker --role all`` already running and warmed
   up by one job: from ``submit`` of the same WAV to the subtitle files written;
3. the ratio of the two wall times, and the word error rates of both outputs against the
   reference text;
4. the cold start of ``kaption run`` (own broker, topics, worker) on a 10-second file, minus the
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
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from common import OUT, Inputs, build_inputs, cluster, progress

from agents.cues.model import DEFAULT_RULES
from agents.subtitles.render import parse_cues
from agents.transcribe.agent import configured_model
from agents.vad.agent import vad_options
from streams.client import JobClient
from streams.events import JobState, JobStatus
from streams.settings import KaptionSettings
from tests.paths import REPO
from tests.wer import word_error_rate as wer

WARMUP_FILE = REPO / "tests" / "media" / "speech.wav"
TARGET_RATIO = 1.10
TARGET_WER_PT = 1.0
TARGET_COLD_S = 10.0
# --- scoring ----------------------------------------------------------------------------------


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


# --- bare faster-whisper ----------------------------------------------------------------------


@dataclass
class Run:
    seconds: float
    text: str
    wer: float = 0.0
    gaps: int = 0
    stages: dict[str, float] = field(default_factory=dict)


def bare(settings: KaptionSettings, path: Path) -> Run:
    model = configured_model(settings)
    started = time.perf_counter()
    segments, _info = model.transcribe(
        str(path),
        language="en",
        beam_size=settings.whisper_beam_size,
        word_timestamps=True,
        vad_filter=True,
        vad_parameters=vad_options(settings),
    )
    texts = [segment.text.strip() for segment in segments]
    return Run(time.perf_counter() - started, " ".join(t for t in texts if t))


# --- kaption with broker and worker running ---------------------------------------------------


def kaption_job(
    settings: KaptionSettings,
    source: Path,
    out_dir: Path,
    worker: subprocess.Popen[bytes],
    timeout_s: float,
) -> Run:
    """One job on a running cluster; the reader is positioned before the clock starts."""
    stages: dict[str, float] = {}
    with JobClient(settings) as client:
        started = time.perf_counter()

        def on_status(status: JobStatus) -> None:
            state = status.state.value
            if state not in stages:
                stages[state] = time.perf_counter() - started
                progress(f"  {state} at {stages[state]:.1f} s")

        job_id = client.submit(str(source.resolve()))
        result = client.wait(
            job_id, timeout_s, on_status=on_status, alive=lambda: worker.poll() is None
        )
        paths = result.write(out_dir)
        seconds = time.perf_counter() - started
    if result.state is not JobState.COMPLETED:
        raise RuntimeError(f"job ended {result.state}: {result.status.reason}")
    srt = next(p for p in paths if p.suffix == ".srt").read_text(encoding="utf-8")
    text, gaps = srt_text(srt)
    return Run(seconds, text, gaps=gaps, stages=stages)


def kaption_warm(base: KaptionSettings, inputs: Inputs, tag: str, timeout_s: float) -> Run:
    with cluster(base, tag) as (settings, worker):
        progress(f"kaption warm-up job on {WARMUP_FILE.name}")
        warm = kaption_job(settings, WARMUP_FILE, OUT / "warmup", worker, 300.0)
        progress(f"warm-up done in {warm.seconds:.1f} s; timing {inputs.long_wav.name}")
        return kaption_job(settings, inputs.long_wav, OUT / f"kaption-{tag}", worker, timeout_s)


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
    load_start = os.getloadavg()[0]
    if load_start > 0.5:
        progress(f"warning: 1-minute load average is {load_start:.2f}: timings will be noisy")
    base = KaptionSettings(data_dir=OUT / "kaption-data")
    base.data_dir.mkdir(parents=True, exist_ok=True)  # Faust makes only its own subdirectory
    inputs = build_inputs(args.minutes)
    progress(
        f"input {inputs.long_wav} ({inputs.long_seconds:.1f} s, {inputs.pieces} pieces), "
        f"reference {inputs.long_wav.with_suffix('.txt').name}, cold-start input "
        f"{inputs.short_wav.name}"
    )

    started = time.perf_counter()
    bare(base, WARMUP_FILE)  # model load and first-call costs (VAD model), as the worker warm-up
    progress(f"bare model loaded and warmed up in {time.perf_counter() - started:.1f} s")

    timeout_s = max(900.0, 10 * inputs.long_seconds)
    bare_runs: list[Run] = []
    kaption_runs: list[Run] = []
    for rep in range(1, args.repeat + 1):
        progress(f"run {rep}/{args.repeat}: bare faster-whisper (nothing else running)")
        run = bare(base, inputs.long_wav)
        run.wer = wer(inputs.reference, run.text)
        bare_runs.append(run)
        progress(f"bare: {run.seconds:.1f} s, WER {run.wer:.3f}")
        progress(f"run {rep}/{args.repeat}: kaption with broker and worker running")
        run = kaption_warm(base, inputs, f"run{rep}", timeout_s)
        run.wer = wer(inputs.reference, run.text)
        kaption_runs.append(run)
        progress(f"kaption: {run.seconds:.1f} s, WER {run.wer:.3f}, gap markers {run.gaps}")

    cold_total = cold_bare = 0.0
    if not args.skip_cold:
        progress(f"bare faster-whisper on {inputs.short_wav.name}")
        cold_bare = bare(base, inputs.short_wav).seconds
        progress(f"kaption run {inputs.short_wav.name} (own broker and worker)")
        cold_total = cold_start(inputs.short_wav)
        progress(f"kaption run: {cold_total:.1f} s, bare {cold_bare:.1f} s")

    best_bare = min(bare_runs, key=lambda r: r.seconds)
    best_kaption = min(kaption_runs, key=lambda r: r.seconds)
    ratio = best_kaption.seconds / best_bare.seconds
    wer_pt = (best_kaption.wer - best_bare.wer) * 100
    cold = cold_total - cold_bare
    load_end = os.getloadavg()[0]

    (OUT / "bare.txt").write_text(best_bare.text + "\n", encoding="utf-8")
    (OUT / "kaption.txt").write_text(best_kaption.text + "\n", encoding="utf-8")
    results = {
        "date": datetime.now(UTC).isoformat(timespec="seconds"),
        "cpus": os.cpu_count(),
        "input_seconds": inputs.long_seconds,
        "bare": [asdict(r) | {"text": None} for r in bare_runs],
        "kaption": [asdict(r) | {"text": None} for r in kaption_runs],
        "ratio": ratio,
        "wer_difference_pt": wer_pt,
        "cold_total_s": cold_total,
        "cold_bare_s": cold_bare,
        "load_average_start_end": [load_start, load_end],
    }
    (OUT / "results.json").write_text(json.dumps(results, indent=2) + "\n", encoding="utf-8")

    stages = ", ".join(f"{state} {t:.1f} s" for state, t in best_kaption.stages.items())
    best = f"best of {args.repeat} runs each (min wall time)" if args.repeat > 1 else "1 run each"
    print(f"input: {inputs.long_seconds:.1f} s of speech ({inputs.pieces} pieces), {best}")
    print(f"{'bare faster-whisper':<24} {best_bare.seconds:5.1f} s   WER {best_bare.wer:.3f}")
    print(f"{'kaption (warm)':<24} {best_kaption.seconds:5.1f} s   WER {best_kaption.wer:.3f}")
    print(
        f"{'ratio':<24} {ratio:.3f}    target <= {TARGET_RATIO:.2f}  "
        f"{verdict(ratio <= TARGET_RATIO)}"
    )
    print(
        f"{'WER difference':<24} {wer_pt:+.1f} pt  target |d| <= {TARGET_WER_PT:.1f}   "
        f"{verdict(abs(wer_pt) <= TARGET_WER_PT)}"
    )
    if args.skip_cold:
        print(f"{'kaption run cold start':<24} skipped")
    else:
        print(
            f"{'kaption run cold start':<24} {cold:.1f} s    (total {cold_total:.1f} s - bare "
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
