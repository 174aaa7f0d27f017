"""Gathers items submitted one at a time by concurrent actors into batches for one model call.

A batch runs when ``max_size`` items wait or the oldest has waited ``max_wait_s``; batches run
one at a time (the model is one device), and items that arrive meanwhile form the next batch.
A failing batch of several items is split into single-item calls, so one bad item fails alone
and the others still get their results.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable, Sequence
from dataclasses import dataclass, field
from typing import Generic, TypeVar

log = logging.getLogger(__name__)
I = TypeVar("I")  # noqa: E741 - the conventional name for an input type
R = TypeVar("R")
RunBatch = Callable[[Sequence[I]], Awaitable[Sequence[R]]]


@dataclass
class _Waiting(Generic[I, R]):
    item: I
    result: asyncio.Future[R]
    since: float


@dataclass
class Batcher(Generic[I, R]):
    """``run`` takes a batch and returns one result per item, in order."""

    run: RunBatch[I, R]
    max_size: int
    max_wait_s: float
    _waiting: list[_Waiting[I, R]] = field(default_factory=list, init=False)
    _arrived: asyncio.Event | None = field(default=None, init=False)
    _loop_task: asyncio.Task[None] | None = field(default=None, init=False)

    def __post_init__(self) -> None:
        if self.max_size < 1:
            raise ValueError(f"batch size must be at least 1, got {self.max_size}")
        if self.max_wait_s < 0:
            raise ValueError(f"batch wait must not be negative, got {self.max_wait_s}")

    async def submit(self, item: I) -> R:
        """The item's result once its batch has run; its exception if it failed on its own."""
        loop = asyncio.get_running_loop()
        if self._loop_task is None or self._loop_task.done():
            self._arrived = asyncio.Event()
            self._loop_task = loop.create_task(self._batches(), name="batcher")
        assert self._arrived is not None
        waiting: _Waiting[I, R] = _Waiting(item, loop.create_future(), loop.time())
        self._waiting.append(waiting)
        self._arrived.set()
        return await waiting.result

    async def close(self) -> None:
        """Stops the batch loop; items still waiting get CancelledError."""
        if self._loop_task is not None:
            self._loop_task.cancel()
            await asyncio.gather(self._loop_task, return_exceptions=True)
        for waiting in self._waiting:
            waiting.result.cancel()
        self._waiting.clear()

    async def _batches(self) -> None:
        try:
            await self._batch_loop()
        except BaseException as exc:  # cancelled with its event loop: no submitter waits forever
            for waiting in self._waiting:
                _settle(waiting.result, error=exc)
            raise

    async def _batch_loop(self) -> None:
        assert self._arrived is not None
        arrived = self._arrived
        loop = asyncio.get_running_loop()
        while True:
            self._waiting = [w for w in self._waiting if not w.result.done()]  # cancelled
            if not self._waiting:
                arrived.clear()
                await arrived.wait()
                continue
            deadline = self._waiting[0].since + self.max_wait_s
            if len(self._waiting) < self.max_size and loop.time() < deadline:
                arrived.clear()
                with contextlib.suppress(TimeoutError):
                    await asyncio.wait_for(arrived.wait(), deadline - loop.time())
                continue
            batch, self._waiting = self._waiting[: self.max_size], self._waiting[self.max_size :]
            await self._run(batch)

    async def _run(self, batch: list[_Waiting[I, R]]) -> None:
        try:
            results = await self.run([w.item for w in batch])
            if len(results) != len(batch):
                raise RuntimeError(f"a batch of {len(batch)} gave {len(results)} results")
        except Exception as exc:
            if len(batch) == 1:
                _settle(batch[0].result, error=exc)
                return
            log.warning("a batch of %d failed (%s); running its items one by one", len(batch), exc)
            for waiting in batch:
                await self._run([waiting])
            return
        for waiting, result in zip(batch, results, strict=True):
            _settle(waiting.result, result=result)


def _settle(
    future: asyncio.Future[R], result: R | None = None, error: BaseException | None = None
) -> None:
    if future.done():  # its submitter was cancelled meanwhile
        return
    if isinstance(error, asyncio.CancelledError):
        future.cancel()
    elif error is not None:
        future.set_exception(error)
    else:
        future.set_result(result)  # type: ignore[arg-type]
