"""A shadow model's cost to the primary path: the same long job timed with one file-lane
worker alone, then beside a `kaption worker --role transcribe-shadow` of another model.

One embedded broker, topics under a fresh prefix for each configuration. Each gets a warm-up
job first (and, with the shadow, waits until the shadow has transcribed it too), then the long
speech file is timed from submit to the job's final status. Printed: both times, their ratio
(the target is at most 1.05 where the machine has spare cores: the shadow runs at nice 19),
how long after the job the shadow finished its segments, and the load average.

``--spare-core`` measures the case the target is for, a machine with a core to spare: the
primary worker gets one thread pinned to CPU 0 and the shadow one thread pinned to CPU 1 (both
configurations alike), so the shadow takes no core the primary's transcription uses; the broker
and this script float.

Run from anywhere: ``python bench/shadow.py [--minutes 3] [--shadow base] [--spare-core]``.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

from common import OUT, broker_with_topics, build_inputs, load_average, progress, quiet_enough

from clients.jobs import JobClient
from streams.broker.admin import apply_topics
from streams.events.model import JobState
from streams.models.catalog import load_catalog
from streams.runtime.processes import free_port, wait_ready, worker_process
from streams.runtime.roles import FILE_STAGES
from streams.settings import KaptionSettings
from tests.integration.helpers import read
from tests.paths import MEDIA

TARGET_RATIO = 1.05


def timed_job(settings: KaptionSettings, source: Path) -> tuple[int, float]:
    """(segments, seconds from submit to the final status)."""
    with JobClient(settings) as client:
        started = time.perf_counter()
        result = client.wait(client.submit(str(source.resolve())), 3600)
        seconds = time.perf_counter() - started
    if result.state is not JobState.COMPLETED:
        raise RuntimeError(f"job ended {result.state}: {result.status.reason}")
    return result.status.segments_total, seconds


def shadow_caught_up(settings: KaptionSettings, count: int, timeout_s: float) -> float:
    """Seconds until shadow.transcripts holds ``count`` results."""
    started = time.perf_counter()
    while len(read(settings, "shadow.transcripts", count, timeout_s=5)) < count:
        if time.perf_counter() - started > timeout_s:
            raise TimeoutError(f"the shadow did not reach {count} results in {timeout_s:.0f} s")
    return time.perf_counter() - started


def pin(pid: int, cpus: set[int]) -> None:
    """Every thread of the process on ``cpus`` (threads it starts later inherit it)."""
    for task in Path(f"/proc/{pid}/task").iterdir():
        with contextlib.suppress(ProcessLookupError):
            os.sched_setaffinity(int(task.name), cpus)


@contextlib.contextmanager
def started(
    settings: KaptionSettings, roles: str | list[str], tag: str, cpus: set[int] | None = None
) -> Iterator[None]:
    port = free_port()
    log = OUT / f"worker-shadow-{tag}.log"
    log.unlink(missing_ok=True)
    with worker_process(settings.model_copy(update={"metrics_port": port}), roles, log) as proc:
        wait_ready(port, lambda: proc.poll() is None, 300)
        if cpus is not None:
            pin(proc.pid, cpus)
        progress(f"worker {tag} ready (pid {proc.pid}, cpus {sorted(cpus or []) or 'any'})")
        yield


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--minutes", type=float, default=3.0, help="length of the input")
    parser.add_argument("--shadow", default="base", help="the shadow model (declared)")
    parser.add_argument(
        "--spare-core",
        action="store_true",
        help="primary on CPU 0, shadow on CPU 1, one model thread each",
    )
    args = parser.parse_args()
    primary_cpus, shadow_cpus = ({0}, {1}) if args.spare_core else (None, None)
    load = quiet_enough()
    inputs = build_inputs(args.minutes)
    warmup = MEDIA / "speech.wav"
    base = KaptionSettings()
    if args.spare_core:
        base = base.model_copy(update={"whisper_cpu_threads": 1})
    shadow_label = load_catalog(base).get(args.shadow).label
    with broker_with_topics(base, "shadow") as alone:
        with started(alone, list(FILE_STAGES), "alone", primary_cpus):
            timed_job(alone, warmup)
            progress(f"{args.minutes:g}-minute job, no shadow")
            segments, without = timed_job(alone, inputs.long_wav)
        beside = alone.model_copy(update={"topic_prefix": f"bench{uuid.uuid4().hex[:8]}."})
        apply_topics(beside)
        shadow = beside.model_copy(update={"shadow_model": args.shadow})
        with (
            started(beside, list(FILE_STAGES), "primary", primary_cpus),
            started(shadow, "transcribe-shadow", "shadow", shadow_cpus),
        ):
            warm_segments, _ = timed_job(beside, warmup)
            shadow_caught_up(beside, warm_segments, 600)
            progress(f"the same job beside a shadow of {shadow_label}")
            _, with_shadow = timed_job(beside, inputs.long_wav)
            lag = shadow_caught_up(beside, warm_segments + segments, 1800)
    ratio = with_shadow / without
    report = {
        "minutes": args.minutes,
        "shadow": shadow_label,
        "cores": os.cpu_count(),
        "spare_core": args.spare_core,
        "segments": segments,
        "without_s": round(without, 2),
        "with_shadow_s": round(with_shadow, 2),
        "ratio": round(ratio, 3),
        "shadow_done_after_job_s": round(lag, 1),
        "load_average_at_start": load,
        "load_average_at_end": load_average(),
    }
    (OUT / "shadow.json").write_text(json.dumps(report, indent=2) + "\n", encoding="utf-8")
    print(
        f"primary path alone {without:.1f} s, beside a shadow of {shadow_label} "
        f"{with_shadow:.1f} s: ratio {ratio:.3f} (target <= {TARGET_RATIO} with spare cores; "
        f"this machine has {os.cpu_count()})"
    )
    print(f"the shadow finished the job's {segments} segments {lag:.1f} s after it")
    return 0


if __name__ == "__main__":
    sys.exit(main())
