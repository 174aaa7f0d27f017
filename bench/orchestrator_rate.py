"""The orchestrator's bookkeeping rate: segment results a second it can account for.

Synthetic jobs (``--jobs`` of ``--windows`` windows with ``--segments`` each) are requested and
planned, then every segment result is fed through what the orchestrator's agent does with one
record, minus the broker: decode the Avro bytes of its SegmentDone, load the job
and the window lookup from JSON as the tables hold them, ``decide``, write the changed records
back as JSON (what the changelog receives) and encode the events it publishes. Results arrive
interleaved across jobs and windows, in a shuffled order. Target: at least 5,000 a second.

Run: ``python bench/orchestrator_rate.py``.
"""

from __future__ import annotations

import argparse
import json
import random
import time
from datetime import UTC, datetime
from typing import Any

from agents.orchestrator.agent import job_of
from agents.orchestrator.decide import Policy, decide
from agents.orchestrator.tables import JobTables
from streams.events.codec import AvroCodec
from streams.events.ids import SegmentId
from streams.events.model import (
    Event,
    JobRequested,
    PlannedSegment,
    SegmentDone,
    SegmentsPlanned,
)
from streams.resources import SCHEMAS_DIR

TARGET = 5_000
SEGMENT_S = 20.0


class Counted(dict[str, Any]):
    """A table that counts the JSON bytes written to it, as its changelog would receive."""

    written = 0

    def __setitem__(self, key: str, value: Any) -> None:
        Counted.written += len(json.dumps(value))
        super().__setitem__(key, value)


def handle(codec: AvroCodec, tables: JobTables, value: bytes, policy: Policy, now: int) -> int:
    """One record as the agent handles it; returns the bytes it publishes."""
    event = codec.decode(value)
    job_id = job_of(event)
    job = tables.job(job_id)
    decision = decide(job, event, now, policy, tables.windows_of(job_id))
    published = sum(len(codec.encode(out.event)) for out in decision.outgoing)
    tables.store(job_id, job, decision)
    return published


def synthetic(jobs: int, windows: int, segments: int) -> tuple[list[Event], list[Event]]:
    """(requests and plans, results) for the synthetic jobs."""
    setup: list[Event] = []
    results: list[Event] = []
    for j in range(jobs):
        job_id = f"bench-{j}"
        setup.append(
            JobRequested(
                job_id=job_id,
                source="/bench.mp4",
                name="bench",
                language="en",
                requested_at=datetime.now(UTC),
            )
        )
        for w in range(windows):
            spans = [
                (w * 120.0 + p * SEGMENT_S / 4, w * 120.0 + p * SEGMENT_S / 4 + 5)
                for p in range(segments)
            ]
            ids = [SegmentId(job_id, w, p) for p in range(segments)]
            setup.append(
                SegmentsPlanned(
                    job_id=job_id,
                    window=w,
                    last=w == windows - 1,
                    offset=w * 120.0,
                    duration=120.0,
                    segments=tuple(
                        PlannedSegment(segment_id=str(i), index=i.index, start=s, end=e)
                        for i, (s, e) in zip(ids, spans, strict=True)
                    ),
                )
            )
            results += [transcribed(i) for i in ids]
    return setup, results


def transcribed(segment: SegmentId) -> SegmentDone:
    return SegmentDone(job_id=segment.job_id, segment_id=str(segment), attempt=1)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--jobs", type=int, default=100)
    parser.add_argument("--windows", type=int, default=10)
    # About what the benchmark files give: 13 segments in 311 s, 55 in 20 minutes (120-s windows).
    parser.add_argument("--segments", type=int, default=5, help="per window")
    args = parser.parse_args()
    codec = AvroCodec(SCHEMAS_DIR)
    setup, results = synthetic(args.jobs, args.windows, args.segments)
    random.Random(7).shuffle(results)
    encoded = [codec.encode(event) for event in results]
    jobs, windows = Counted(), Counted()
    tables, policy = JobTables(jobs, windows), Policy()
    now = int(time.time() * 1000)
    for event in setup:
        handle(codec, tables, codec.encode(event), policy, now)
    Counted.written = 0
    started = time.perf_counter()
    published = sum(handle(codec, tables, value, policy, now) for value in encoded)
    elapsed = time.perf_counter() - started
    rate = len(encoded) / elapsed
    states = {str(job["state"]) for job in jobs.values()}
    shape = f"{args.jobs} jobs x {args.windows} windows x {args.segments}"
    print(f"segment results        {len(encoded):>10,}  ({shape})")
    print(f"mean result record     {sum(map(len, encoded)) / len(encoded):>10,.0f} B")
    print(f"elapsed                {elapsed:>10.3f} s")
    print(f"bookkeeping rate       {rate:>10,.0f} results/s   target >= {TARGET:,}")
    print(f"per result             {1e6 / rate:>10.1f} us")
    print(f"published per result   {published / len(encoded):>10,.0f} B")
    print(f"changelog per result   {Counted.written / len(encoded):>10,.0f} B")
    print(f"job states at the end  {', '.join(sorted(states))}")


if __name__ == "__main__":
    main()
