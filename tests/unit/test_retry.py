"""The platform's retry loop (streams/runtime/retry.py): attempts, permanent errors, back-off."""

from __future__ import annotations

import asyncio

import pytest

from streams.runtime.retry import RetriesExhaustedError, RetryPolicy, current_attempt, retried


class Flaky:
    """Fails with ``error`` the first ``failures`` calls, then answers with its attempt."""

    def __init__(self, failures: int, error: Exception) -> None:
        self.failures, self.error, self.calls = failures, error, 0

    async def __call__(self) -> int:
        self.calls += 1
        if self.calls <= self.failures:
            raise self.error
        return current_attempt()


def run(policy: RetryPolicy, call: Flaky, never: tuple[type[BaseException], ...] = ()) -> int:
    told: list[tuple[int, str]] = []
    result = asyncio.run(retried(policy, call, lambda n, e: told.append((n, str(e))), never))
    assert [n for n, _ in told] == list(range(1, call.calls))  # each retried failure, in order
    return result


def test_a_passing_failure_is_tried_again_and_the_handler_knows_its_attempt() -> None:
    call = Flaky(2, RuntimeError("device busy"))
    assert run(RetryPolicy(attempts=3), call) == 3
    assert call.calls == 3


def test_too_many_failures_give_up_with_the_count_and_the_last_cause() -> None:
    call = Flaky(5, RuntimeError("device busy"))
    with pytest.raises(RetriesExhaustedError) as failure:
        run(RetryPolicy(attempts=3), call)
    assert (failure.value.attempts, call.calls) == (3, 3)
    assert str(failure.value) == "failed 3 times, last: RuntimeError: device busy"
    assert isinstance(failure.value.cause, RuntimeError)


@pytest.mark.parametrize("declared", ["permanent", "never"])
def test_a_permanent_error_is_raised_at_once_as_it_is(declared: str) -> None:
    call = Flaky(5, KeyError("no such model"))
    policy = RetryPolicy(attempts=3, permanent=(KeyError,) if declared == "permanent" else ())
    never = (KeyError,) if declared == "never" else ()
    with pytest.raises(KeyError):
        run(policy, call, never)
    assert call.calls == 1


def test_the_back_off_doubles_up_to_its_cap_and_jitters_down_to_half() -> None:
    policy = RetryPolicy(attempts=9, first_backoff_s=0.5, max_backoff_s=3.0)
    assert [policy.delay_s(n) for n in range(1, 6)] == [0.5, 1.0, 2.0, 3.0, 3.0]
    assert policy.delay_s(2, jitter=0.5) == 0.5
    assert RetryPolicy(attempts=3).delay_s(4) == 0.0  # no back-off declared: at once


def test_the_loop_waits_between_attempts() -> None:
    loop = asyncio.new_event_loop()
    try:
        started = loop.time()
        call = Flaky(2, RuntimeError("x"))
        policy = RetryPolicy(attempts=3, first_backoff_s=0.05)
        loop.run_until_complete(retried(policy, call, lambda n, e: None))
        # 0.05 then 0.1, each jittered to at least half: at least 0.075 s in all.
        assert loop.time() - started >= 0.075
    finally:
        loop.close()
