"""The platform's retry loop, declared per agent (``Stage.agent(retry=...)``) instead of written
by hand in each stage: how many attempts, which errors are permanent (never retried: the same
input fails the same way), and the back-off between attempts."""

from __future__ import annotations

import asyncio
import random
from collections.abc import Awaitable, Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import TypeVar

T = TypeVar("T")
_attempt: ContextVar[int] = ContextVar("kaption_attempt", default=1)


def current_attempt() -> int:
    """Which attempt the handler is in (1 the first), for results that say so."""
    return _attempt.get()


@dataclass(frozen=True)
class RetryPolicy:
    attempts: int = 1
    permanent: tuple[type[BaseException], ...] = ()
    # The wait before the second attempt, doubled for each one after (at most max_backoff_s),
    # jittered down to half so that the actors of a failed batch do not retry in lockstep.
    first_backoff_s: float = 0.0
    max_backoff_s: float = 5.0

    def delay_s(self, attempt: int, jitter: float = 1.0) -> float:
        """The wait after failed attempt ``attempt``; ``jitter`` in [0.5, 1]."""
        if self.first_backoff_s <= 0:
            return 0.0
        return min(self.max_backoff_s, self.first_backoff_s * 2 ** (attempt - 1)) * jitter


class RetriesExhaustedError(RuntimeError):
    """Every attempt failed; ``cause`` is the last error."""

    def __init__(self, attempts: int, cause: BaseException) -> None:
        super().__init__(f"failed {attempts} times, last: {type(cause).__name__}: {cause}")
        self.attempts = attempts
        self.cause = cause


async def retried(
    policy: RetryPolicy,
    call: Callable[[], Awaitable[T]],
    on_retry: Callable[[int, Exception], None],
    never: tuple[type[BaseException], ...] = (),
) -> T:
    """``call()``'s result, trying again on an error up to ``policy.attempts`` times. A
    permanent error (``policy.permanent``, or ``never``: bad input the stage reports itself) is
    raised at once as it is; the last of too many failures as RetriesExhaustedError.
    ``on_retry(attempt, error)`` is told of each failure that will be tried again."""
    attempt = 1
    while True:
        token = _attempt.set(attempt)
        try:
            return await call()
        except (*policy.permanent, *never):
            raise
        except Exception as exc:
            if attempt >= policy.attempts:
                raise RetriesExhaustedError(attempt, exc) from exc
            on_retry(attempt, exc)
        finally:
            _attempt.reset(token)
        await asyncio.sleep(policy.delay_s(attempt, random.uniform(0.5, 1.0)))
        attempt += 1
