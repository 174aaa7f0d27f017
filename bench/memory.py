"""Memory over many jobs: the worker's and the embedded broker's resident set after each job.

One embedded broker and one `kaption worker --role all`, then ``--jobs`` jobs of the same file
(samples/demo.mp4, 29 s, by default) one after another. Prints the RSS of both processes after
each job, the worker's growth from the first job to the last (target: < 50 MB over 30 jobs) and
the broker's growth per second of media processed.

Run: ``python bench/memory.py [--jobs 30] [--source FILE]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

from common import OUT, cluster, progress

from clients.jobs import JobClient
from streams.events.model import JobState
from streams.settings import KaptionSettings
from tests.paths import SAMPLES

TARGET_MB = 50.0


def rss_mb(pid: int) -> float:
    """Resident set size from /proc (Linux), in MB."""
    for line in Path(f"/proc/{pid}/status").read_text().splitlines():
        if line.startswith("VmRSS:"):
            return int(line.split()[1]) / 1024
    raise RuntimeError(f"no VmRSS for pid {pid}")


def broker_pid() -> int:
    """The local broker: the child process of this one running Kafka (or Tansu)."""
    own = Path("/proc/self").resolve().name
    for proc in Path("/proc").iterdir():
        if not proc.name.isdigit():
            continue
        try:
            stat = (proc / "stat").read_text()
            cmdline = (proc / "cmdline").read_bytes()
        except OSError:
            continue
        parent = stat.rsplit(")", 1)[1].split()[1]
        if parent == own and (b"kafka.Kafka" in cmdline or b"tansu" in cmdline):
            return int(proc.name)
    raise RuntimeError("local broker not found")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=30)
    parser.add_argument("--source", type=Path, default=SAMPLES / "demo.mp4")
    args = parser.parse_args()
    OUT.mkdir(parents=True, exist_ok=True)
    rows: list[tuple[int, float, float, float]] = []
    with cluster(KaptionSettings(), "memory") as (settings, worker):
        broker = broker_pid()
        with JobClient(settings) as client:
            media_s = 0.0
            for job in range(1, args.jobs + 1):
                started = time.perf_counter()
                result = client.wait(
                    client.submit(str(args.source)), 600, alive=lambda: worker.poll() is None
                )
                if result.state != JobState.COMPLETED:
                    raise RuntimeError(f"job {job} ended {result.state}: {result.status.reason}")
                media_s += result.status.audio_seconds_total or 0.0
                rows.append((job, rss_mb(worker.pid), rss_mb(broker), media_s))
                progress(
                    f"job {job}: {time.perf_counter() - started:.1f} s, worker {rows[-1][1]:.0f}"
                    f" MB, broker {rows[-1][2]:.0f} MB"
                )
    print(f"{'job':>4} {'worker MB':>10} {'broker MB':>10} {'speech s':>9}")
    for job, worker_mb, broker_mb, seconds in rows:
        print(f"{job:>4} {worker_mb:>10.1f} {broker_mb:>10.1f} {seconds:>9.0f}")
    first, last = rows[0], rows[-1]
    growth = last[1] - first[1]
    print(
        f"worker growth after the first job   {growth:8.1f} MB over {len(rows) - 1} jobs"
        f"   target < {TARGET_MB:.0f} MB"
    )
    speech = last[3] - first[3]
    if speech > 0:
        per_s = (last[2] - first[2]) / speech * 1000
        print(f"broker growth                       {per_s:8.1f} KB per second of speech")


if __name__ == "__main__":
    main()
