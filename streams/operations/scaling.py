"""The autoscaler's decision: how many workers a stage should have, from its consumer group's lag
and the rate its workers process records. Pure (no clock, no Kafka): `kaption autoscale`
(streams/operations/autoscale.py) measures, calls ``decide`` once per poll and starts or stops
processes.

The policy, in one line: enough workers to drain the backlog within ``target_drain_s``::

    wanted = clamp(ceil(lag / (rate_per_worker * target_drain_s)), min, max, partitions)

* ``rate_per_worker`` is measured, not configured: the group's committed offsets advancing over
  ``rate_window_s``, divided by the workers that did it. It is only measured while every worker
  has work (lag above zero throughout; an idle worker's rate says nothing about its speed) and
  after ``settle_s`` since the last change (a joining worker loads its model and the group
  rebalances, pausing everyone). The last measurement is kept between windows.
* Until a rate is known (``initial_rate`` unset) a backlog gets one worker, to measure with;
  a stage with running workers and a backlog is never scaled down on a guess.
* More workers than partitions of the stage's input would sit idle: ``partitions`` caps it.
* Up at once, down slowly: scaling down goes to the highest recommendation of the last
  ``scale_down_window_s`` (the stabilisation window of Kubernetes' HPA), so a backlog that
  comes and goes between polls does not make workers flap. An empty backlog recommends
  ``min_workers``.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, replace


@dataclass(frozen=True)
class Policy:
    min_workers: int
    max_workers: int
    target_drain_s: float = 30.0
    scale_down_window_s: float = 60.0
    rate_window_s: float = 60.0
    settle_s: float = 15.0
    initial_rate: float | None = None  # records/s per worker assumed until one is measured

    def __post_init__(self) -> None:
        if not 0 <= self.min_workers <= self.max_workers:
            raise ValueError(f"need 0 <= min ({self.min_workers}) <= max ({self.max_workers})")
        if self.max_workers < 1:
            raise ValueError("max must be at least 1")
        for name in ("target_drain_s", "rate_window_s"):
            if getattr(self, name) <= 0:
                raise ValueError(f"{name} must be positive")
        if self.scale_down_window_s < 0 or self.settle_s < 0:
            raise ValueError("scale_down_window_s and settle_s cannot be negative")
        if self.initial_rate is not None and self.initial_rate <= 0:
            raise ValueError("initial_rate must be positive")


@dataclass(frozen=True)
class Sample:
    """One measurement of the stage's consumer group."""

    at: float  # seconds, monotonic
    lag: int  # records not yet processed, summed over the stage's input partitions
    processed: int  # committed offsets, summed over the same partitions
    workers: int  # this autoscaler's workers alive now
    partitions: int  # partitions of the stage's input (the most its group can use)
    # Members of the group this autoscaler did not start (another machine's workers, a
    # `--role all` process): they share the work, so they count in the rate per worker and
    # leave that much less to start. DescribeGroups says on Apache Kafka; 0 on Tansu.
    others: int = 0


@dataclass(frozen=True)
class ScalerState:
    """What ``decide`` remembers between polls."""

    workers: int | None = None  # the worker count of the last sample
    changed_at: float | None = None  # when the worker count last changed
    samples: tuple[Sample, ...] = ()  # saturated samples since then, within the rate window
    rate_per_worker: float | None = None  # records/s, the last measurement
    # (at, workers) recommendations within the scale-down window
    recommendations: tuple[tuple[float, int], ...] = field(default=())


@dataclass(frozen=True)
class Decision:
    workers: int
    reason: str
    state: ScalerState


def measured_rate(samples: tuple[Sample, ...], rate_window_s: float) -> float | None:
    """Records/s per worker over the samples, once they span at least half the window and
    show progress (a window without a commit, e.g. one long segment, says nothing)."""
    if len(samples) < 2:
        return None
    first, last = samples[0], samples[-1]
    span = last.at - first.at
    progress = last.processed - first.processed
    if span < rate_window_s / 2 or progress <= 0 or last.workers <= 0:
        return None
    return progress / span / (last.workers + last.others)


def track(policy: Policy, state: ScalerState, sample: Sample) -> ScalerState:
    """Adds the sample to the rate measurement, and measures when there is enough."""
    changed_at, samples = state.changed_at, state.samples
    if state.workers is not None and state.workers != sample.workers:  # started, stopped, died
        changed_at, samples = sample.at, ()
    settled = changed_at is None or sample.at - changed_at >= policy.settle_s
    if sample.workers == 0 or sample.lag == 0 or not settled:
        samples = ()  # idle or settling workers: their rate says nothing about their speed
    else:
        horizon = sample.at - policy.rate_window_s
        samples = (*(s for s in samples if s.at >= horizon), sample)
    rate = measured_rate(samples, policy.rate_window_s)
    return replace(
        state,
        workers=sample.workers,
        changed_at=changed_at,
        samples=samples,
        rate_per_worker=rate if rate is not None else state.rate_per_worker,
    )


def recommend(policy: Policy, sample: Sample, rate: float | None) -> tuple[int, str]:
    """The workers the backlog needs now, unclamped, and why."""
    if sample.lag == 0:
        return 0, "no lag"
    if rate is None:
        return max(sample.workers, 1), f"lag {sample.lag}, rate not measured yet"
    wanted = math.ceil(sample.lag / (rate * policy.target_drain_s))
    why = (
        f"lag {sample.lag}, {rate:.2f}/s per worker: "
        f"{sample.lag} / ({rate:.2f} * {policy.target_drain_s:g} s) = {wanted}"
    )
    if sample.others:
        why += f", {sample.others} of them running elsewhere"
        wanted = max(0, wanted - sample.others)
    return wanted, why


def clamp(policy: Policy, wanted: int, partitions: int) -> tuple[int, str]:
    if wanted > policy.max_workers:
        wanted, note = policy.max_workers, f", max {policy.max_workers}"
    else:
        note = ""
    if partitions > 0 and wanted > partitions:
        wanted, note = partitions, f", {partitions} partitions"
    if wanted < policy.min_workers:
        wanted, note = policy.min_workers, f", min {policy.min_workers}"
    return wanted, note


def decide(policy: Policy, state: ScalerState, sample: Sample) -> Decision:
    """The workers the stage should have after this sample, why, and the state to keep."""
    state = track(policy, state, sample)
    rate = state.rate_per_worker if state.rate_per_worker is not None else policy.initial_rate
    wanted, why = recommend(policy, sample, rate)
    # Partitions the others hold are not this autoscaler's to fill (0: the count is unknown).
    room = max(1, sample.partitions - sample.others) if sample.partitions else 0
    wanted, note = clamp(policy, wanted, room)
    horizon = sample.at - policy.scale_down_window_s
    recommendations = tuple(r for r in state.recommendations if r[0] > horizon)
    recommendations += ((sample.at, wanted),)
    current, reason = sample.workers, why + note
    if wanted >= current:
        workers = wanted
    else:  # down only as far as every recommendation of the window allows
        workers = min(current, max(n for _, n in recommendations))
        reason += f"; the most needed in the last {policy.scale_down_window_s:g} s: {workers}"
    if workers != current:  # the rate is measured again once the new count has settled
        state = replace(state, workers=workers, changed_at=sample.at, samples=())
    return Decision(workers, reason, replace(state, recommendations=recommendations))
