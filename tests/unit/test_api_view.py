"""The API's read model (clients/api/view.py): events folded in any order into job views."""

from __future__ import annotations

import asyncio
from dataclasses import replace
from datetime import UTC, datetime, timedelta
from pathlib import Path

from clients.api.view import JobBoard, local_media, progress
from streams.events.model import JobRequested, JobState, JobStatus, SubtitlesReady

T0 = datetime(2026, 12, 4, 12, 0, tzinfo=UTC)
ROOT = Path("/srv/media")


def request(job_id: str, at: datetime = T0, source: str = "/srv/media/a.mp4") -> JobRequested:
    return JobRequested(job_id=job_id, source=source, name="a", language="en", requested_at=at)


def status(job_id: str, state: JobState, done: int = 0, total: int = 0, **kw: object) -> JobStatus:
    return JobStatus(
        job_id=job_id,
        name="a",
        source="/srv/media/a.mp4",
        state=state,
        segments_total=total,
        segments_done=done,
        segments_failed=0,
        requested_at=T0,
        updated_at=T0 + timedelta(seconds=done),
        **kw,  # type: ignore[arg-type]
    )


def subtitles(job_id: str, language: str = "en") -> SubtitlesReady:
    return SubtitlesReady(job_id=job_id, name="a", language=language, cue_count=3, srt="1", vtt="W")


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


def test_a_job_is_folded_from_its_request_status_and_subtitles() -> None:
    board = JobBoard(ROOT)
    board.apply(request("j1"))
    view = board.view("j1")
    assert view is not None
    assert (view["state"], view["stage"], view["progress"], view["final"]) == (
        "REQUESTED",
        "requested",
        None,
        False,
    )
    assert view["media"] is True and view["language"] == "en" and view["updated_at"] is None
    board.apply(status("j1", JobState.TRANSCRIBING, done=1, total=4))
    view = board.view("j1")
    assert view is not None and view["progress"] == 0.25 and view["stage"] == "transcribing"
    board.apply(status("j1", JobState.COMPLETED, done=4, total=4))
    assert not board.settled("j1"), "final, but its subtitles are not read yet"
    board.apply(subtitles("j1"))
    view = board.view("j1")
    assert view is not None and board.settled("j1")
    assert (view["state"], view["stage"], view["languages"], view["cue_count"]) == (
        "COMPLETED",
        None,
        ["en"],
        3,
    )


def test_a_detected_language_and_the_models_show_once_known() -> None:
    board = JobBoard(ROOT)
    board.apply(replace(request("j2"), language="auto", model="base"))
    view = board.view("j2")
    assert view is not None and (view["language"], view["model"], view["models"]) == (
        "auto",
        "base",
        [],
    )
    board.apply(status("j2", JobState.COMPLETED, 2, 2, language="es", models=("base@1",)))
    board.apply(subtitles("j2", "es"))
    view = board.view("j2")
    assert view is not None
    assert (view["language"], view["models"], view["cue_count"]) == ("es", ["base@1"], 3)


def test_order_between_topics_does_not_matter() -> None:
    forward, backward = JobBoard(ROOT), JobBoard(ROOT)
    events = [request("j"), status("j", JobState.FAILED, reason="decode: no"), subtitles("j")]
    for event in events:
        forward.apply(event)
    for event in reversed(events):
        backward.apply(event)
    assert forward.view("j") == backward.view("j")


def test_nothing_is_invented_and_a_tombstone_forgets() -> None:
    board = JobBoard(ROOT)
    assert board.view("nope") is None and board.views() == []
    board.apply(status("j", JobState.DECODING))
    board.forget("j")
    board.apply(request("j"))  # an older request, read after the tombstone
    assert board.view("j") is None
    board.apply(status("j", JobState.DECODING))  # the id is used again
    assert board.view("j") is not None


def test_the_first_request_wins_and_versions_count_changes() -> None:
    board = JobBoard(ROOT)
    board.apply(request("j", source="/srv/media/first.mp4"))
    board.apply(request("j", source="/srv/media/second.mp4"))
    assert board.source("j") == "/srv/media/first.mp4"
    assert board.version("j") == 1
    board.apply(status("j", JobState.DECODING))
    assert board.version("j") == 2


def test_newest_request_first() -> None:
    board = JobBoard(ROOT)
    for n in range(3):
        board.apply(request(f"j{n}", at=T0 + timedelta(minutes=n)))
    board.apply(status("old", JobState.COMPLETED))  # requested at T0 too, by its status
    assert [v["job_id"] for v in board.views()] == ["j2", "j1", "old", "j0"]


def test_a_final_job_without_subtitles_settles_after_the_grace() -> None:
    clock = Clock()
    board = JobBoard(ROOT, clock)
    board.apply(status("j", JobState.COMPLETED))
    assert not board.settled("j")
    clock.now += 10.0
    assert board.settled("j")
    board.apply(status("f", JobState.FAILED, reason="x"))
    assert board.settled("f"), "a failed job has no subtitles to wait for"


def test_progress() -> None:
    assert progress(None) is None
    assert progress(status("j", JobState.DECODING)) is None
    assert progress(status("j", JobState.TRANSCRIBING, done=2, total=3)) == 0.6667
    assert progress(status("j", JobState.PARTIAL, done=2, total=3)) == 1.0


def test_only_files_under_the_media_root_are_local_media() -> None:
    assert local_media("/srv/media/up/a.mp4", ROOT)
    assert not local_media("/etc/passwd", ROOT)
    assert not local_media("https://example.org/a.mp4", ROOT)
    assert not local_media("relative.mp4", ROOT)
    assert not local_media("/srv/media/a.mp4", None)


async def test_the_event_stream_sends_changes_and_ends_once_settled() -> None:
    from clients.api import jobs

    board = JobBoard(ROOT)
    board.apply(request("j"))
    stream = jobs.follow(board, "j")
    first = await anext(stream)
    assert first.startswith("event: status\ndata: {") and '"REQUESTED"' in first
    board.apply(status("j", JobState.DECODING))
    assert '"DECODING"' in await anext(stream)
    board.apply(status("j", JobState.DECODING))  # the same status again: no event

    async def finish() -> None:
        await asyncio.sleep(4 * jobs.SSE_POLL_S)
        board.apply(status("j", JobState.COMPLETED, done=2, total=2))
        board.apply(subtitles("j"))

    finishing = asyncio.create_task(finish())
    rest = [event async for event in stream]
    await finishing
    assert len(rest) == 1, rest
    assert '"COMPLETED"' in rest[0] and '"languages": ["en"]' in rest[0]
