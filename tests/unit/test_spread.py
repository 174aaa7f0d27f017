"""Weighted events spread evenly over partitions, whichever partitions a consumer owns."""

from __future__ import annotations

import itertools

import pytest

from streams.runtime.spread import Spread


def test_each_event_goes_to_the_least_loaded_partition() -> None:
    spread = Spread()
    chosen = [spread.partition("t", 3, w) for w in (5.0, 1.0, 1.0, 1.0, 3.0)]
    assert chosen == [0, 1, 2, 1, 2]
    assert spread.sent["t"] == [5.0, 2.0, 4.0]


def test_alternating_lengths_give_every_half_of_the_partitions_half_the_audio() -> None:
    """The benchmark's pattern (28 s and 14 s segments in turn) on 8 partitions: any 4 of them
    (one of two consumers) get half the audio, give or take one long segment."""
    spread = Spread()
    loads = [0.0] * 8
    for number in range(60):
        weight = 28.0 if number % 2 == 0 else 14.0
        loads[spread.partition("segments", 8, weight)] += weight
    total = sum(loads)
    for half in itertools.combinations(range(8), 4):
        assert abs(sum(loads[p] for p in half) - total / 2) <= 28.0 * 2


def test_topics_are_counted_apart_and_a_new_partition_count_starts_over() -> None:
    spread = Spread()
    assert spread.partition("a", 2, 10.0) == 0
    assert spread.partition("b", 2, 1.0) == 0
    assert spread.partition("a", 2, 1.0) == 1
    assert spread.partition("a", 4, 1.0) == 0
    assert spread.sent["a"] == [1.0, 0.0, 0.0, 0.0]


def test_no_partitions_is_an_error() -> None:
    with pytest.raises(ValueError):
        Spread().partition("t", 0, 1.0)
