"""A model switch in a running worker: the file lane's throughput across it against the new
model's load time.

One embedded broker and one file-lane worker (segments of at most 10 s, batches of 2, so
results come often). After a warm-up job, the same long speech file runs twice: once without a
switch, once with `kaption models use transcribe NEW` sent when 40 % of its segments are done.
From each result's publish time on ``segments.transcribed``: the job's time and throughput
(audio seconds per second), the longest pause between two results (the swap's gap) and the
worker's load time for NEW (its answer on models.status). NEW is by default a declared copy of
tiny.en (the same speed, so any difference is the switch's); ``--to base`` switches to base.

Run from anywhere: ``python bench/swap.py [--minutes 3] [--to tiny-copy]``.
"""

from __future__ import annotations

import argparse
import itertools
import json
import shutil
import statistics
import sys
import threading
import time
from dataclasses import asdict, dataclass
from pathlib import Path

from common import OUT, broker_with_topics, build_inputs, load_average, progress, quiet_enough

from clients.jobs import JobClient
from clients.models import publish_and_wait, workers
from streams.events.codec import AvroCodec
from streams.events.model import JobState, JobStatus, SegmentTranscribed
from streams.models.catalog import load_catalog
from streams.models.control import switch
from streams.runtime.processes import free_port, wait_ready, worker_process
from streams.runtime.roles import FILE_STAGES
from streams.settings import KaptionSettings
from tests.integration.helpers import read, value_of
from tests.integration.models_fixtures import COPY, declare_models
from tests.paths import MEDIA

SWITCH_AT = 0.4


@dataclass
class Timeline:
    seconds: float  # submit to the job's final status
    audio_seconds: float
    longest_pause_s: float  # between two consecutive results
    median_pause_s: float  # between two batches' results (pauses over 10 ms)
    switch_pause_s: float  # from the last result of the old model to the first of the new
    labels: list[str]  # models in publish order, run-length encoded
    switch_answer_s: float = 0.0  # load time the worker reported
    switch_sent_at_s: float = 0.0  # after submit

    @property
    def throughput(self) -> float:
        return self.audio_seconds / self.seconds


def run_job(
    settings: KaptionSettings, source: Path, switch_to: str = ""
) -> tuple[str, float, float, float]:
    """Submits the file, sends the switch at SWITCH_AT of its segments; (job id, seconds,
    switch sent at, reported load time)."""
    sent: list[float] = []
    loaded: list[float] = []

    def do_switch() -> None:
        expected = {w.instance for w in workers(settings) if w.stage == "transcribe"}
        answers = publish_and_wait(settings, switch("transcribe", switch_to), expected, 120)
        for answer in answers.values():
            progress(f"  switch answer: {answer.state.value} {answer.model} {answer.reason}")
            loaded.append(answer.load_seconds)

    switching = threading.Thread(target=do_switch)
    with JobClient(settings) as client:
        started = time.perf_counter()

        def on_status(status: JobStatus) -> None:
            total = status.segments_total
            if switch_to and not sent and total and status.segments_done >= SWITCH_AT * total:
                sent.append(time.perf_counter() - started)
                progress(f"  switching to {switch_to} at {status.segments_done}/{total}")
                switching.start()

        job = client.submit(str(source.resolve()))
        result = client.wait(job, 3600, on_status=on_status)
        seconds = time.perf_counter() - started
    if sent:
        switching.join(120)
    if result.state is not JobState.COMPLETED:
        raise RuntimeError(f"job ended {result.state}: {result.status.reason}")
    return job, seconds, sent[0] if sent else 0.0, loaded[0] if loaded else 0.0


def timeline(settings: KaptionSettings, job: str, seconds: float) -> Timeline:
    codec = AvroCodec(settings.schemas_dir)
    results = []
    for message in read(settings, "segments.transcribed", 10**6, timeout_s=5):
        event = codec.decode_as(SegmentTranscribed, value_of(message))
        if event.job_id == job:
            results.append((message.timestamp()[1] / 1000, event))
    results.sort(key=lambda pair: pair[0])
    times = [t for t, _ in results]
    pauses = [b - a for a, b in itertools.pairwise(times)] or [0.0]
    names = [f"{e.model}@{e.model_version}" for _, e in results]
    changes = [i for i in range(1, len(names)) if names[i] != names[i - 1]]
    labels: list[str] = []
    for _, event in results:
        label = f"{event.model}@{event.model_version}"
        if not labels or labels[-1].split(" x")[0] != label:
            labels.append(f"{label} x1")
        else:
            name, count = labels[-1].rsplit(" x", 1)
            labels[-1] = f"{name} x{int(count) + 1}"
    return Timeline(
        seconds=seconds,
        audio_seconds=sum(e.end - e.start for _, e in results),
        longest_pause_s=max(pauses),
        median_pause_s=statistics.median([p for p in pauses if p > 0.01] or [0.0]),
        switch_pause_s=times[changes[0]] - times[changes[0] - 1] if changes else 0.0,
        labels=labels,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the input")
    parser.add_argument("--to", default=COPY, help="the model switched to (declared)")
    parser.add_argument("--repeat", type=int, default=2, help="runs of each, in turns")
    args = parser.parse_args()
    load = quiet_enough()
    inputs = build_inputs(args.minutes)
    models_dir = OUT / "swap-models"
    shutil.rmtree(models_dir, ignore_errors=True)
    models_dir.mkdir(parents=True)
    port = free_port()
    base = KaptionSettings(
        models_file=declare_models(models_dir),
        metrics_port=port,
        audio_window_s=10.0,
        max_merge_gap_s=0.0,
        transcribe_batch_size=2,
    )
    catalog = load_catalog(base)
    targets = [args.to, catalog.get("").name]  # there and back, in turns
    runs: list[tuple[str, Timeline]] = []
    with broker_with_topics(base, "swap") as settings:
        log = OUT / "worker-swap.log"
        log.unlink(missing_ok=True)
        with worker_process(settings, FILE_STAGES, log) as process:
            wait_ready(port, lambda: process.poll() is None, 300)
            progress("warm-up job")
            run_job(settings, MEDIA / "speech.wav")
            for turn in range(args.repeat):
                progress(f"{args.minutes:g}-minute job without a switch")
                job, seconds, _, _ = run_job(settings, inputs.long_wav)
                runs.append(("none", timeline(settings, job, seconds)))
                target = targets[turn % 2]
                progress(f"the same job with a switch to {target}")
                job, seconds, sent_at, loaded = run_job(settings, inputs.long_wav, target)
                switched = timeline(settings, job, seconds)
                switched.switch_sent_at_s, switched.switch_answer_s = sent_at, loaded
                runs.append((catalog.get(target).label, switched))
    report = {
        "minutes": args.minutes,
        "load_average_at_start": load,
        "load_average_at_end": load_average(),
        "runs": [
            {"switch_to": to, **asdict(t), "throughput": round(t.throughput, 3)} for to, t in runs
        ],
    }
    (OUT / "swap.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(
        f"{'switch to':32} {'job s':>7} {'audio s/s':>9} {'load s':>7} {'switch pause':>12} "
        f"{'median pause':>12} {'longest':>8}"
    )
    for to, t in runs:
        print(
            f"{to:32} {t.seconds:7.1f} {t.throughput:9.2f} {t.switch_answer_s:7.2f} "
            f"{t.switch_pause_s:12.2f} {t.median_pause_s:12.2f} {t.longest_pause_s:8.2f}"
        )
    best = min(t.seconds for to, t in runs if to == "none")
    best_switched = min(t.seconds for to, t in runs if to != "none")
    print(f"fastest job without a switch {best:.1f} s, with one {best_switched:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
