"""Apache Kafka against Tansu in one run: an idle worker's CPU, and the hop between stages.

For each broker kind: a local broker (streams/broker/launch.py), topics under a fresh prefix
and one `kaption worker --role all` (every stage, file and live lane), ready (groups joined,
model loaded). Then

- **idle CPU**: the worker's and the broker's CPU time over ``--idle-s`` seconds with nothing
  to do, as a fraction of one core (target for the worker on Kafka: <= 0.02). Idle consumers
  fetch in a loop: on Apache Kafka each fetch waits up to Faust's 1.5 s for data; on Tansu the
  wait is cut to 100 ms (an empty fetch is held for the whole wait there, so it is the hop);
  then the same for an idle `--role transcribe` worker beside it (one stage's consumers);
- **hop**: ``--jobs`` jobs of samples/demo.mp4, then the mean time an event waited in Kafka
  before its stage picked it up (``kaption_stage_queue_seconds``: produce timestamp to pick-up)
  for the stages whose events are small and never queue behind work (orchestrator, cues,
  subtitles), and the job's wall time.

Run: ``python bench/brokers.py [--idle-s 30] [--jobs 3] [--kinds kafka,tansu]``.
"""

from __future__ import annotations

import argparse
import os
import time
import urllib.request
from dataclasses import dataclass
from pathlib import Path

from common import OUT, broker_with_topics, progress, worker
from memory import broker_pid
from prometheus_client.parser import text_string_to_metric_families

from clients.jobs import JobClient
from streams.events.model import JobState
from streams.runtime.processes import free_port, wait_ready
from streams.settings import KaptionSettings
from tests.paths import SAMPLES

HOP_STAGES = ("orchestrator", "cues", "subtitles")
TICKS = os.sysconf("SC_CLK_TCK")


def cpu_seconds(pid: int) -> float:
    """User plus system CPU time of a process so far (/proc/PID/stat)."""
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def queue_means(port: int) -> dict[str, float]:
    """Mean seconds an event waited in Kafka, per stage, from the worker's /metrics."""
    text = urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10).read().decode()
    sums: dict[str, float] = {}
    counts: dict[str, float] = {}
    for family in text_string_to_metric_families(text):
        if family.name != "kaption_stage_queue_seconds":
            continue
        for sample in family.samples:
            stage = sample.labels.get("stage", "")
            if sample.name.endswith("_sum"):
                sums[stage] = sample.value
            elif sample.name.endswith("_count"):
                counts[stage] = sample.value
    return {stage: sums[stage] / counts[stage] for stage in sums if counts.get(stage)}


@dataclass
class Figures:
    kind: str
    worker_idle: float
    broker_idle: float
    hops: dict[str, float]
    job_s: float
    one_stage_idle: float  # a `--role transcribe` worker beside it, idle too


def idle_share(pid: int, seconds: float) -> float:
    """The fraction of one core a process uses over the next ``seconds``."""
    start = cpu_seconds(pid)
    time.sleep(seconds)
    return (cpu_seconds(pid) - start) / seconds


def measure(kind: str, idle_s: float, jobs: int) -> Figures:
    port = free_port()
    base = KaptionSettings.model_validate(
        {"broker_kind": kind, "data_dir": OUT / "kaption-data", "metrics_port": port}
    )
    with (
        broker_with_topics(base, f"brokers-{kind}") as settings,
        worker(settings, "all", f"brokers-{kind}") as process,
    ):
        wait_ready(port, lambda: process.poll() is None, 180)
        broker = broker_pid()
        time.sleep(5)  # joins and rebalances settle
        broker_start = cpu_seconds(broker)
        worker_idle = idle_share(process.pid, idle_s)
        broker_idle = (cpu_seconds(broker) - broker_start) / idle_s
        progress(f"{kind}: idle worker {worker_idle:.3f}, broker {broker_idle:.3f} of a core")
        one_port = free_port()
        one = settings.model_copy(update={"metrics_port": one_port})
        with worker(one, "transcribe", f"brokers-{kind}-transcribe") as single:
            wait_ready(one_port, lambda: single.poll() is None, 180)
            time.sleep(5)
            one_stage_idle = idle_share(single.pid, idle_s)
        progress(f"{kind}: idle --role transcribe worker {one_stage_idle:.3f} of a core")
        walls = []
        with JobClient(settings) as client:
            for _ in range(jobs):
                started = time.perf_counter()
                result = client.wait(
                    client.submit(str(SAMPLES / "demo.mp4")),
                    300,
                    alive=lambda: process.poll() is None,
                )
                if result.state != JobState.COMPLETED:
                    raise RuntimeError(f"{kind}: job ended {result.state}: {result.status.reason}")
                walls.append(time.perf_counter() - started)
        means = queue_means(port)
    hops = {stage: means.get(stage, 0.0) for stage in HOP_STAGES}
    return Figures(kind, worker_idle, broker_idle, hops, min(walls), one_stage_idle)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--idle-s", type=float, default=30.0)
    parser.add_argument("--jobs", type=int, default=3)
    parser.add_argument("--kinds", default="kafka,tansu")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rows = [measure(kind, args.idle_s, args.jobs) for kind in args.kinds.split(",")]
    hops = " ".join(f"{s + ' hop ms':>17}" for s in HOP_STAGES)
    print(
        f"{'broker':>7} {'idle worker':>12} {'idle 1 stage':>13} {'idle broker':>12} {hops}"
        f" {'demo job s':>11}"
    )
    for row in rows:
        cells = " ".join(f"{row.hops[s] * 1000:>17.1f}" for s in HOP_STAGES)
        print(
            f"{row.kind:>7} {row.worker_idle:>12.3f} {row.one_stage_idle:>13.3f}"
            f" {row.broker_idle:>12.3f} {cells} {row.job_s:>11.2f}"
        )
    print(
        "idle: fraction of one core over the idle period (worker: every stage; 1 stage: a"
        " `--role transcribe` worker); hop: mean wait in Kafka per event"
    )


if __name__ == "__main__":
    main()
