"""The transcription batcher (pure asyncio) and the transcription defaults."""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

import pytest

from agents.transcribe.agent import configured_batch_size, configured_threads
from agents.transcribe.batcher import Batcher
from agents.transcribe.whisper import cpu_threads
from streams.settings import KaptionSettings

# Bounds far beyond what a test waits for: reaching them would mean the other bound was ignored.
NEVER_S = 60.0
NEVER_BATCH = 1000
PROMPT_S = 10.0


class BadItemError(ValueError):
    pass


class Recorder:
    """A model stand-in: records each batch, doubles numbers and fails on negative ones."""

    def __init__(self, hold_s: float = 0.0) -> None:
        self.batches: list[list[int]] = []
        self.hold_s = hold_s
        self.running = 0
        self.most_running = 0

    async def __call__(self, items: Sequence[int]) -> list[int]:
        self.batches.append(list(items))
        self.running += 1
        self.most_running = max(self.most_running, self.running)
        try:
            await asyncio.sleep(self.hold_s)
            if any(i < 0 for i in items):
                raise BadItemError(f"bad item in {list(items)}")
            return [2 * i for i in items]
        finally:
            self.running -= 1


async def submit_all(batcher: Batcher[int, int], items: Sequence[int]) -> list[int | BaseException]:
    return await asyncio.wait_for(
        asyncio.gather(*(batcher.submit(i) for i in items), return_exceptions=True), PROMPT_S
    )


async def test_a_full_batch_runs_at_once_without_waiting() -> None:
    run = Recorder()
    batcher = Batcher(run, max_size=3, max_wait_s=NEVER_S)
    assert await submit_all(batcher, [1, 2, 3]) == [2, 4, 6]
    assert run.batches == [[1, 2, 3]]
    await batcher.close()


async def test_a_partial_batch_runs_once_its_first_item_has_waited() -> None:
    run = Recorder()
    batcher = Batcher(run, max_size=NEVER_BATCH, max_wait_s=0.05)
    assert await submit_all(batcher, [5, 6]) == [10, 12]
    assert run.batches == [[5, 6]]
    await batcher.close()


async def test_no_batch_exceeds_the_size_and_batches_run_one_at_a_time() -> None:
    run = Recorder(hold_s=0.02)
    batcher = Batcher(run, max_size=3, max_wait_s=0.01)
    items = list(range(10))
    assert await submit_all(batcher, items) == [2 * i for i in items]
    assert all(1 <= len(batch) <= 3 for batch in run.batches)
    assert [i for batch in run.batches for i in batch] == items  # each once, in arrival order
    assert run.most_running == 1
    await batcher.close()


async def test_items_arriving_during_a_batch_form_the_next_one() -> None:
    run = Recorder(hold_s=0.1)
    batcher = Batcher(run, max_size=4, max_wait_s=0.0)
    first = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0.03)  # the first batch ([1]) is running now
    later = [asyncio.ensure_future(batcher.submit(i)) for i in (2, 3, 4)]
    assert await asyncio.wait_for(asyncio.gather(first, *later), PROMPT_S) == [2, 4, 6, 8]
    assert run.batches == [[1], [2, 3, 4]]
    await batcher.close()


async def test_a_failing_batch_fails_only_its_bad_item() -> None:
    run = Recorder()
    batcher = Batcher(run, max_size=3, max_wait_s=NEVER_S)
    results = await submit_all(batcher, [1, -1, 3])
    assert results[0] == 2 and results[2] == 6
    assert isinstance(results[1], BadItemError)
    assert run.batches == [[1, -1, 3], [1], [-1], [3]]  # the batch, then each item alone
    await batcher.close()


async def test_a_batch_with_the_wrong_number_of_results_is_retried_item_by_item() -> None:
    calls: list[list[int]] = []

    async def short(items: Sequence[int]) -> list[int]:
        calls.append(list(items))
        return [0] if len(items) > 1 else [7 * items[0]]

    batcher = Batcher(short, max_size=2, max_wait_s=NEVER_S)
    assert await submit_all(batcher, [1, 2]) == [7, 14]
    assert calls == [[1, 2], [1], [2]]
    await batcher.close()


async def test_the_batcher_goes_on_after_a_failure() -> None:
    run = Recorder()
    batcher = Batcher(run, max_size=1, max_wait_s=0.0)
    with pytest.raises(BadItemError):
        await asyncio.wait_for(batcher.submit(-5), PROMPT_S)
    assert await asyncio.wait_for(batcher.submit(4), PROMPT_S) == 8
    await batcher.close()


async def test_a_cancelled_submitter_leaves_the_others_their_results() -> None:
    run = Recorder(hold_s=0.05)
    batcher = Batcher(run, max_size=NEVER_BATCH, max_wait_s=0.05)
    leaving = asyncio.ensure_future(batcher.submit(1))
    staying = asyncio.ensure_future(batcher.submit(2))
    await asyncio.sleep(0)
    leaving.cancel()
    assert await asyncio.wait_for(staying, PROMPT_S) == 4
    assert leaving.cancelled()
    await batcher.close()


async def test_close_cancels_waiting_items() -> None:
    batcher = Batcher(Recorder(), max_size=NEVER_BATCH, max_wait_s=NEVER_S)
    waiting = asyncio.ensure_future(batcher.submit(1))
    await asyncio.sleep(0.01)
    await batcher.close()
    with pytest.raises(asyncio.CancelledError):
        await waiting


@pytest.mark.parametrize(("size", "wait"), [(0, 0.1), (1, -0.1)])
def test_bounds_are_checked(size: int, wait: float) -> None:
    with pytest.raises(ValueError):
        Batcher(Recorder(), max_size=size, max_wait_s=wait)


@pytest.mark.parametrize(
    ("configured", "workers", "cores", "threads"),
    [(0, 1, 2, 2), (0, 2, 2, 1), (0, 3, 2, 1), (0, 2, 16, 8), (3, 2, 2, 3)],
)
def test_threads_default_to_the_cores_shared_by_local_workers(
    configured: int, workers: int, cores: int, threads: int
) -> None:
    assert cpu_threads(configured, workers, cores) == threads


def test_the_settings_pick_threads_and_batch_size() -> None:
    two_workers = KaptionSettings(transcribe_local_workers=2)
    assert configured_threads(two_workers) >= 1
    assert configured_threads(KaptionSettings(whisper_cpu_threads=3)) == 3
    one_thread = KaptionSettings(whisper_cpu_threads=1)
    assert configured_batch_size(one_thread) == 1  # one thread: one by one was faster
    assert configured_batch_size(KaptionSettings(whisper_cpu_threads=2)) == 8
    assert configured_batch_size(one_thread.model_copy(update={"whisper_device": "cuda"})) == 8
    assert configured_batch_size(KaptionSettings(transcribe_batch_size=4)) == 4
