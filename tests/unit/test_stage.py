"""The stage runner's publishing checks, before anything reaches a broker."""

from __future__ import annotations

from dataclasses import replace

import pytest

from streams.broker.topics import Outgoing, WrongTopicError
from streams.runtime.stage import EventTooLargeError, Platform, reason, stage_failed
from streams.settings import KaptionSettings
from tests.examples import EXAMPLES


@pytest.fixture
def platform() -> Platform:
    return Platform.from_settings(KaptionSettings(bootstrap_servers="127.0.0.1:1"))


async def test_an_event_on_another_events_topic_fails_loudly(platform: Platform) -> None:
    with pytest.raises(WrongTopicError, match=r"JobStatus published on jobs\.requested"):
        await platform.publish(Outgoing("jobs.requested", EXAMPLES["JobStatus"]))


async def test_an_event_larger_than_its_topic_allows_is_refused(platform: Platform) -> None:
    huge = replace(EXAMPLES["StageFailed"], reason="x" * 70_000)  # type: ignore[type-var]
    with pytest.raises(EventTooLargeError, match=r"exceeds stage\.failed's 65536"):
        await platform.publish(Outgoing("stage.failed", huge))
    with pytest.raises(RuntimeError, match="not started"):  # a fitting one gets to the send
        await platform.publish(Outgoing("stage.failed", EXAMPLES["StageFailed"]))


def test_a_stage_failure_names_the_job_stage_and_a_bounded_reason() -> None:
    (out,) = stage_failed("decode")("job-1", ValueError("y" * 5000))
    assert out.topic == "stage.failed"
    assert getattr(out.event, "job_id", None) == "job-1"
    assert getattr(out.event, "stage", None) == "decode"
    assert len(reason(ValueError("y" * 5000))) == 2000
    assert reason(KeyError()) == "KeyError"
