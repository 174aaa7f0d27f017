"""Live captions: a speech file streamed at real-time pace into the live lane, on this machine.

Measures, in one run:

1. per final word, the caption latency from the capture of the audio that ends it to its first
   publication (in an interim, stable or still changing, or the final) and to its final
   publication (when it became stable, or its phrase's final): p50, p95, max, as the final cues
   carry them; from the interim cues, how many words were final before their phrase ended and
   how many still-changing words were later retracted (flicker);
2. the word error rate of the final captions against the reference text, and that of the same
   audio through ``kaption run``'s file lane (a job on the same broker);
3. transcription compute / elapsed: the live lane's inference seconds over the stream's length;
4. the resident memory of every process (broker, live worker, this ingest) at start and end.

Every minute of the stream the processes' memory is sampled too: ``--minutes 30 --no-file-lane``
is the live lane's memory over a 30-minute stream (issue 22: flat), printed as the live worker's
resident set per minute and its growth after the first ``WARM_S`` seconds.

Run: ``python bench/live.py [--minutes 5] [--no-file-lane]``. Progress goes to stderr, figures to
stdout; inputs and logs stay in bench/out/.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import threading
import time
import urllib.request
from dataclasses import dataclass, field
from pathlib import Path

import psutil
from common import (
    OUT,
    broker_with_topics,
    build_inputs,
    kaption_job,
    progress,
    quiet_enough,
    worker,
)

from clients.live.session import Captions, StreamClient, ingest, read_source
from clients.live.status import latency_summary
from streams.events.model import LiveCue, LiveKind
from streams.runtime.processes import wait_ready
from streams.runtime.roles import FILE_STAGES, LIVE_STAGES
from streams.settings import KaptionSettings
from tests.wer import normalise
from tests.wer import word_error_rate as wer

TARGET_FIRST_P95_S = 2.0
TARGET_FINAL_P95_S = 3.0
TARGET_WER_PT = 2.0
TARGET_COMPUTE = 0.8
TARGET_RSS_MB = 50.0
METRICS_PORT = 19_461


def rss_mb() -> dict[str, float]:
    """This process and its children (broker, worker), by name."""
    me = psutil.Process()
    found = {"ingest (this process)": me.memory_info().rss / 1e6}
    for child in me.children(recursive=True):
        try:
            name = " ".join(child.cmdline()[-4:]) or child.name()
            found[f"{child.pid} {name[-40:]}"] = child.memory_info().rss / 1e6
        except psutil.Error:
            continue
    return found


def live_inference_seconds() -> float:
    """The live lane's summed model time, from the worker's /metrics."""
    with urllib.request.urlopen(f"http://127.0.0.1:{METRICS_PORT}/metrics", timeout=5) as reply:
        text = reply.read().decode()
    pattern = r'kaption_inference_seconds_sum\{stage="transcribe-live"\} ([0-9.e+-]+)'
    found = re.search(pattern, text)
    return float(found.group(1)) if found else 0.0


@dataclass
class Hypotheses:
    """Interim cues as a player showing them would: how many shown words were later taken
    back, and how many words were final (stable) before their phrase's final; with each final
    word's latencies as the final cues carry them."""

    shown: dict[int, list[str]] = field(default_factory=dict)
    stable: dict[int, int] = field(default_factory=dict)  # stable words per open phrase
    retracted: int = 0
    committed: int = 0
    first: list[float] = field(default_factory=list)
    finals: list[float] = field(default_factory=list)

    def interim(self, cue: LiveCue) -> None:
        words = normalise(f"{cue.stable} {cue.unstable}").split()
        before = self.shown.get(cue.seq, [])
        self.retracted += sum(
            1 for i, word in enumerate(before) if i >= len(words) or words[i] != word
        )
        self.shown[cue.seq] = words
        self.stable[cue.seq] = len(cue.stable.split())

    def final(self, cue: LiveCue) -> None:
        self.shown.pop(cue.seq, None)
        self.committed += self.stable.pop(cue.seq, 0)
        self.first += [w.first_latency_s for w in cue.words]
        self.finals += [w.final_latency_s for w in cue.words]


WARM_S = 60.0  # memory is sampled again this far into the stream: the first phrases allocate
SAMPLE_EVERY_S = 60.0


def stream(
    settings: KaptionSettings,
    wav: Path,
    warm: dict[str, float],
    timeline: list[tuple[float, dict[str, float]]] | None = None,
) -> tuple[Hypotheses, float, float]:
    """Streams ``wav``; ``warm`` gets every process's memory WARM_S into the stream,
    ``timeline`` (seconds into the stream, memory) every SAMPLE_EVERY_S."""
    captions = Captions("bench", lambda line: None)
    hypotheses = Hypotheses()
    finals: list[str] = []

    def take(cues: list[LiveCue]) -> None:
        for cue in cues:
            if cue.kind == LiveKind.INTERIM:
                hypotheses.interim(cue)
            elif cue.kind == LiveKind.FINAL:
                hypotheses.final(cue)
                finals.append(" ".join(w.word for w in cue.words))
        captions.take(cues)
        into = time.perf_counter() - started
        if not warm and into > WARM_S:
            warm.update(rss_mb())
        if timeline is not None and into >= SAMPLE_EVERY_S * (len(timeline) + 1):
            timeline.append((into, rss_mb()))

    stop = threading.Event()
    started = time.perf_counter()
    with StreamClient(settings) as client:
        started = time.perf_counter()
        computed = live_inference_seconds()
        ingest(
            client,
            "bench",
            read_source(str(wav), settings, True, stop),
            lambda: take(client.cues()),
        )
        elapsed = time.perf_counter() - started
        while captions.ended is None:
            take(client.cues(0.2))
            if time.perf_counter() - started > elapsed + 120:
                raise RuntimeError("no end of stream")
        computed = live_inference_seconds() - computed
    (OUT / "live-final.txt").write_text(" ".join(finals) + "\n", encoding="utf-8")
    return hypotheses, computed, elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--minutes", type=float, default=5.0)
    parser.add_argument(
        "--no-file-lane", action="store_true", help="skip kaption run's job (no WER comparison)"
    )
    args = parser.parse_args()
    load = quiet_enough()
    inputs = build_inputs(args.minutes)
    progress(f"input {inputs.long_wav} ({inputs.long_seconds:.0f} s)")
    out_dir = OUT / "live"
    base = KaptionSettings(data_dir=OUT / "data", live_out_dir=out_dir)
    with broker_with_topics(base, "live") as settings:
        run_text = None
        if not args.no_file_lane:
            with worker(settings, list(FILE_STAGES), "live-file") as file_worker:
                progress("file lane: kaption run's job on the same audio")
                run_text = kaption_job(
                    settings,
                    inputs.long_wav,
                    OUT / "live-run",
                    lambda: file_worker.poll() is None,
                    1800,
                ).text
        live_settings = settings.model_copy(update={"metrics_port": METRICS_PORT})
        with worker(live_settings, list(LIVE_STAGES), "live") as process:
            wait_ready(METRICS_PORT, lambda: process.poll() is None, 180.0)
            before = rss_mb()
            warm: dict[str, float] = {}
            timeline: list[tuple[float, dict[str, float]]] = []
            progress(f"streaming {inputs.long_seconds:.0f} s at real-time pace")
            hypotheses, computed, elapsed = stream(live_settings, inputs.long_wav, warm, timeline)
            live_pid = process.pid
            after = rss_mb()
    final_text = (OUT / "live-final.txt").read_text(encoding="utf-8")
    live_wer = wer(inputs.reference, final_text)
    run_wer = wer(inputs.reference, run_text) if run_text is not None else math.nan
    first = latency_summary(hypotheses.first)
    final = latency_summary(hypotheses.finals)
    shown = sum(len(v) for v in hypotheses.shown.values())
    figures = {
        "load_average_at_start": load,
        "stream_seconds": inputs.long_seconds,
        "live_agreement": settings.live_agreement,
        "live_confident_commit": settings.live_confident_commit,
        "live_whisper_model": settings.live_whisper_model,
        "live_context_s": settings.live_context_s,
        "first_appearance_s": first,
        "final_s": final,
        "words_final_before_phrase_end": hypotheses.committed,
        "retracted_hypothesis_words": hypotheses.retracted,
        "final_words": len(hypotheses.finals),
        "wer_live_final": live_wer,
        "wer_kaption_run": run_wer,
        "compute_over_elapsed": computed / elapsed,
        "rss_mb_start": before,
        f"rss_mb_after_{WARM_S:g}_s": warm,
        "rss_mb_end": after,
        "rss_mb_every_minute": [{"s": round(t, 1), "mb": mb} for t, mb in timeline],
        "unfinished_interim_phrases": shown,
    }
    (OUT / "live.json").write_text(json.dumps(figures, indent=2) + "\n")
    print(f"stream {inputs.long_seconds:.0f} s at real-time pace, load {load:.2f} at start")
    print(
        f"words final once {settings.live_agreement} interims agreed (KAPTION_LIVE_AGREEMENT),"
        f" {'or' if settings.live_confident_commit else 'not'} on one when confident"
        f" (KAPTION_LIVE_CONFIDENT_*); model {settings.live_whisper_model or 'the default'},"
        f" {settings.live_context_s:g} s of context (KAPTION_LIVE_CONTEXT_S)"
    )
    for label, s, target in (
        ("first appearance", first, TARGET_FIRST_P95_S),
        ("final", final, TARGET_FINAL_P95_S),
    ):
        verdict = "PASS" if s["p95"] <= target else "MISS"
        print(
            f"{label:38s} p50 {s['p50']:.2f} s  p95 {s['p95']:.2f} s  max {s['max']:.2f} s"
            f"  (target p95 <= {target}) {verdict}"
        )
    print(
        f"words final before their phrase ended  {hypotheses.committed}"
        f" of {len(hypotheses.finals)}; still-changing words retracted (flicker)"
        f" {hypotheses.retracted}"
    )
    gap = (live_wer - run_wer) * 100
    if run_text is None:
        print(f"WER final captions {live_wer:.1%} (no file lane run)")
    else:
        print(
            f"WER final captions {live_wer:.1%} vs kaption run {run_wer:.1%}: {gap:+.1f} pt"
            f" (target <= +{TARGET_WER_PT}) {'PASS' if gap <= TARGET_WER_PT else 'MISS'}"
        )
    ratio = computed / elapsed
    print(
        f"transcription compute/elapsed {ratio:.2f} (target < {TARGET_COMPUTE})"
        f" {'PASS' if ratio < TARGET_COMPUTE else 'MISS'}"
    )
    for name in after:
        if name in before:
            grew = after[name] - before[name]
            since = after[name] - warm.get(name, before[name])
            print(
                f"RSS {name:45s} {before[name]:6.1f} -> {after[name]:6.1f} MB ({grew:+.1f};"
                f" {since:+.1f} after the first {WARM_S:g} s)"
            )
    print_timeline(timeline, live_pid)


def print_timeline(timeline: list[tuple[float, dict[str, float]]], pid: int) -> None:
    """The live worker's resident set each minute, and its growth after the warm-up."""
    series = [
        (t, mb)
        for t, sample in timeline
        for name, mb in sample.items()
        if name.startswith(f"{pid} ")
    ]
    if not series:
        return
    print("live worker RSS per minute (MB): " + " ".join(f"{mb:.0f}" for _, mb in series))
    settled = [(t, mb) for t, mb in series if t >= WARM_S * 2]
    if len(settled) >= 2:
        (t0, first), (t1, last) = settled[0], settled[-1]
        slope = (last - first) / ((t1 - t0) / 60)
        print(
            f"live worker after {t0 / 60:.0f} min: {first:.1f} -> {last:.1f} MB at"
            f" {t1 / 60:.0f} min ({last - first:+.1f} MB, {slope:+.2f} MB/min)"
        )


if __name__ == "__main__":
    main()
