"""`kaption models use`: a stage's model switched in a running worker while a job runs, and a
model that fails to load, on the real broker with real models."""

from __future__ import annotations

import threading
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from subprocess import Popen

import pytest
from click.testing import Result

from clients.jobs import JobClient
from streams.events.model import JobState, JobStatus
from streams.models.catalog import load_catalog
from streams.runtime.processes import free_port, wait_ready, worker_process
from streams.runtime.roles import FILE_STAGES
from streams.settings import KaptionSettings
from tests.integration.conftest import ONE_SEGMENT_AT_A_TIME, create_topics, fresh_settings
from tests.integration.helpers import scrape
from tests.integration.models_fixtures import (
    BROKEN,
    COPY,
    declare_models,
    invoke,
    once_each,
    transcripts,
)
from tests.paths import MEDIA, SAMPLES

pytestmark = pytest.mark.integration


@dataclass
class Worker:
    settings: KaptionSettings
    process: Popen[bytes]
    port: int
    log: Path

    def metric(self, family: str, **labels: str) -> float:
        return sum(
            s.value
            for s in scrape(self.port, family)
            if all(s.labels.get(k) == v for k, v in labels.items())
            and not s.name.endswith("_created")
        )


@pytest.fixture(scope="module")
def worker(bootstrap: str, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Worker]:
    data = tmp_path_factory.mktemp("swap")
    port = free_port()
    settings = fresh_settings(
        bootstrap,
        data,
        metrics_port=port,
        models_file=declare_models(data),
        **ONE_SEGMENT_AT_A_TIME,
    )
    create_topics(settings)
    log = data / "worker.log"
    with worker_process(settings, FILE_STAGES, log) as process:
        wait_ready(port, lambda: process.poll() is None, 120)
        yield Worker(settings, process, port, log)
        assert process.poll() is None, log.read_text()[-4000:]
    # A worker that stops cleanly deletes its entry: `models list` shows running ones only.
    assert _list(settings)["workers"] == []


def test_a_switch_while_a_job_runs_loses_and_repeats_nothing(worker: Worker) -> None:
    """tiny.en -> a declared copy while a job is mid-way: both jobs complete, every segment
    is transcribed exactly once, the next job is all the new model's, the metrics and the
    command's answer say so."""
    settings = worker.settings
    declared = _list(settings)["declared"]
    assert isinstance(declared, list)
    # The file lane's default and the live lane's: the list says which is which.
    marks = {d["name"]: (d["default"], d["live_default"]) for d in declared}
    assert marks["tiny.en"] == (True, False) and marks["base"] == (False, True), marks
    old = load_catalog(settings).get("").label
    new = load_catalog(settings).get(COPY).label
    answer: list[Result] = []
    switched = threading.Thread(
        target=lambda: answer.append(invoke(settings, "models", "use", "transcribe", COPY))
    )

    def on_status(status: JobStatus) -> None:
        if status.segments_done >= 1 and not switched.is_alive() and not answer:
            switched.start()

    with JobClient(settings) as client:
        first = client.submit(str(SAMPLES / "demo.mp4"))
        a = client.wait(
            first, 180, on_status=on_status, alive=lambda: worker.process.poll() is None
        )
        switched.join(60)
        second = client.submit(str(MEDIA / "speech.wav"))
        b = client.wait(second, 120, alive=lambda: worker.process.poll() is None)
    assert a.state == b.state == JobState.COMPLETED, (a.status, b.status)
    assert answer and answer[0].exit_code == 0, answer and answer[0].output
    assert f"serving {new}" in answer[0].output, answer[0].output

    total = a.status.segments_total + b.status.segments_total
    found = transcripts(settings, "segments.transcribed", total + 1, timeout_s=10)
    counts = once_each(found)
    assert len(counts) == total and set(counts.values()) == {1}, counts
    labels: dict[str, set[str]] = {t.job_id: set() for t in found}
    for t in found:
        labels[t.job_id].add(f"{t.model}@{t.model_version}")
    assert old in labels[first] and labels[first] <= {old, new}, labels
    assert labels[second] == {new}, labels

    assert worker.metric("kaption_model_serving", stage="transcribe", model=new) == 1
    assert worker.metric("kaption_model_serving", stage="transcribe", model=old) == 0
    switches = worker.metric("kaption_model_switches", stage="transcribe", outcome="served")
    assert switches == 1
    assert f"transcribe: switched {old} -> {new}" in worker.log.read_text()


def test_a_model_that_does_not_load_leaves_the_old_one_serving(worker: Worker) -> None:
    """`models use` exits 1 with the worker's reason; the worker serves on with its model,
    `models list` says so, and a job completes with it."""
    settings = worker.settings
    before = _list(settings)["workers"]
    assert isinstance(before, list)
    serving = [row["model"] for row in before if row["stage"] == "transcribe"]
    assert len(serving) == 1
    answer = invoke(settings, "models", "use", "transcribe", BROKEN)
    assert answer.exit_code == 1, answer.output
    assert f"FAILED to load {BROKEN}" in answer.output, answer.output
    assert f"{serving[0]} serves on" in answer.output
    with JobClient(settings) as client:
        job = client.submit(str(MEDIA / "speech.wav"))
        result = client.wait(job, 120, alive=lambda: worker.process.poll() is None)
    assert result.state == JobState.COMPLETED
    mine = [t for t in transcripts(settings, "segments.transcribed", 100, 5) if t.job_id == job]
    assert mine and {f"{t.model}@{t.model_version}" for t in mine} == {serving[0]}
    assert worker.metric("kaption_model_switches", stage="transcribe", outcome="failed") == 1
    rows = _list(settings)["workers"]
    assert isinstance(rows, list)
    [row] = [r for r in rows if r["stage"] == "transcribe"]
    assert row["state"] == "FAILED" and row["model"] == serving[0] and row["reason"]
    assert invoke(settings, "models", "use", "transcribe", "no-such-model").exit_code != 0
    text = invoke(settings, "models", "list").output
    assert f"FAILED to load {BROKEN}" in text and f"{COPY}@copy" in text, text


def _list(settings: KaptionSettings) -> dict[str, object]:
    import json

    result = invoke(settings, "models", "list", "--json")
    assert result.exit_code == 0, result.output
    listed: dict[str, object] = json.loads(result.stdout)
    return listed
