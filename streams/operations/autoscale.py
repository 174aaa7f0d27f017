"""`kaption autoscale`: local `kaption worker --role ROLE` processes, as many as the stage's
backlog needs. Each poll measures the stage's consumer group (lag and committed offsets on its
input topics), asks the pure policy (streams/operations/scaling.py) and starts or stops
processes, printing one line per change. Workers it did not start (another machine's, a
``--role all`` process) share
the work: on Apache Kafka the group's members (DescribeGroups) count them, and it starts that
many fewer; Tansu lists no members, so there they are not counted.
"""

from __future__ import annotations

import logging
import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import FrameType

from streams.broker.admin import admin_client, consumer_lag, group_members
from streams.broker.kind import broker_kind
from streams.operations.scaling import Decision, Policy, Sample, ScalerState, decide
from streams.runtime.processes import die_with_parent, role_args, settings_env
from streams.runtime.roles import stage_inputs
from streams.settings import KaptionSettings

log = logging.getLogger(__name__)


def group_of(settings: KaptionSettings, stage: str) -> str:
    """The stage's consumer group: its Faust app id (streams/runtime/app.py, kept free of Faust
    here)."""
    return f"{settings.topic_prefix}{stage}"


def measure(settings: KaptionSettings, stage: str, workers: int, at: float) -> Sample:
    """Lag and committed offsets of the stage's group on its inputs (true end offsets on
    Tansu too: streams/broker/admin.py), and the group's members beyond this autoscaler's
    workers."""
    topics = [settings.topic_prefix + logical for logical in stage_inputs(stage)]
    group = group_of(settings, stage)
    partitions = consumer_lag(settings, [group], topics)
    others = 0
    if broker_kind(settings) == "kafka":
        members = group_members(admin_client(settings), [group]).get(group, 0)
        others = max(0, members - workers)
    if not partitions:
        raise RuntimeError(f"no topic {', '.join(topics)} (`kaption topics apply` creates them)")
    per_topic: dict[str, int] = {}
    for p in partitions:
        per_topic[p.topic] = per_topic.get(p.topic, 0) + 1
    return Sample(
        at=at,
        lag=sum(p.lag for p in partitions),
        processed=sum(p.committed or 0 for p in partitions),
        workers=workers,
        partitions=max(per_topic.values(), default=0),
        others=others,
    )


@dataclass
class WorkerPool:
    """The worker processes this autoscaler started, oldest first."""

    settings: KaptionSettings
    command: Sequence[str]
    log_dir: Path
    stop_timeout_s: float = 30.0
    say: Callable[[str], None] = field(default=lambda line: print(line, flush=True))
    processes: list[subprocess.Popen[bytes]] = field(default_factory=list)
    started: int = 0

    def alive(self) -> int:
        """Forgets (and reports) workers that exited by themselves; how many remain."""
        for process in list(self.processes):
            code = process.poll()
            if code is not None:
                self.processes.remove(process)
                self.say(f"worker pid {process.pid} exited by itself with code {code}")
        return len(self.processes)

    def start(self) -> subprocess.Popen[bytes]:
        self.started += 1
        self.log_dir.mkdir(parents=True, exist_ok=True)
        path = self.log_dir / f"worker-{self.started}.log"
        env = {**os.environ, **settings_env(self.settings)}
        if self.settings.metrics_port is not None:
            env["KAPTION_METRICS_PORT"] = "0"  # one port cannot serve several workers
        with path.open("ab") as out:
            process = subprocess.Popen(
                list(self.command),
                env=env,
                stdout=out,
                stderr=subprocess.STDOUT,
                preexec_fn=die_with_parent,
                # Its own process group: a Ctrl-C reaches the autoscaler only, which stops
                # its workers in order.
                start_new_session=True,
            )
        self.processes.append(process)
        self.say(f"started worker pid {process.pid} (log {path})")
        return process

    def stop_newest(self, count: int) -> None:
        """SIGTERM to the ``count`` newest workers at once (newest first), then SIGKILL to any
        still running after the timeout; a graceful Faust shutdown leaves its group cleanly
        and commits what it finished."""
        leaving = list(reversed(self.processes[len(self.processes) - count :])) if count else []
        for process in leaving:
            self.processes.remove(process)
            process.terminate()
        deadline = time.monotonic() + self.stop_timeout_s
        for process in leaving:
            try:
                code = process.wait(timeout=max(0.0, deadline - time.monotonic()))
                self.say(f"stopped worker pid {process.pid} (exit code {code})")
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
                self.say(f"killed worker pid {process.pid}: still running after SIGTERM")

    def scale_to(self, workers: int) -> None:
        while len(self.processes) < workers:
            self.start()
        if len(self.processes) > workers:
            self.stop_newest(len(self.processes) - workers)

    def stop_all(self) -> None:
        self.stop_newest(len(self.processes))


def worker_command(stage: str) -> list[str]:
    return [sys.executable, "-m", "clients.cli", "worker", *role_args(stage)]


def decision_line(stage: str, before: int, decision: Decision) -> str:
    now = datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
    return f"{now} {stage}: {before} -> {decision.workers} workers ({decision.reason})"


class StopRequested:
    """SIGINT and SIGTERM end the loop (then every worker is stopped)."""

    def __init__(self) -> None:
        self.event = threading.Event()

    def __call__(self, signum: int, frame: FrameType | None) -> None:
        self.event.set()

    def install(self) -> None:
        signal.signal(signal.SIGINT, self)
        signal.signal(signal.SIGTERM, self)


def run_autoscaler(
    settings: KaptionSettings,
    stage: str,
    policy: Policy,
    poll_s: float,
    pool: WorkerPool,
    stop: threading.Event,
) -> None:
    """Polls, decides and scales until ``stop`` is set; then stops every worker it started."""
    state = ScalerState()
    say = pool.say
    say(
        f"autoscaling {stage} (group {group_of(settings, stage)}): "
        f"{policy.min_workers}..{policy.max_workers} workers, drain target "
        f"{policy.target_drain_s:g} s, poll {poll_s:g} s"
    )
    try:
        while not stop.is_set():
            current = pool.alive()
            try:
                sample = measure(settings, stage, current, time.monotonic())
            except Exception as exc:  # unreachable broker, a failed request: keep the workers
                say(f"cannot measure the lag, keeping {current} workers: {exc}")
                stop.wait(poll_s)
                continue
            decision = decide(policy, state, sample)
            state = decision.state
            if decision.workers != current:
                say(decision_line(stage, current, decision))
                pool.scale_to(decision.workers)
            stop.wait(poll_s)
    finally:
        say(f"stopping {len(pool.processes)} workers")
        pool.stop_all()
