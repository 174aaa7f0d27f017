"""`kaption autoscale` against a real broker and the real model: one job with sixteen speech
segments, every other stage in a separate worker, transcription workers started and stopped by
the autoscaler from its consumer group's lag and rate. Short windows (options) keep it brief:
about a minute on the 2-core development machine (56 s measured)."""

from __future__ import annotations

import os
import re
import signal
import subprocess
import sys
import threading
import time
import wave
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import pytest

from streams.events.model import JobState
from streams.runtime.processes import die_with_parent, settings_env, worker_process
from streams.runtime.roles import STAGES
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings, run_job
from tests.paths import MEDIA

pytestmark = pytest.mark.integration
REPEATS = 16  # one speech segment each: a backlog for a while, even on a fast machine
DECISION = re.compile(r" transcribe: (\d+) -> (\d+) workers \((.*)\)$")


def long_speech(path: Path, repeats: int, gap_s: float = 4.0) -> Path:
    """The 16 s speech sample ``repeats`` times with silences longer than speech detection
    merges across (3 s): one segment per repeat."""
    with wave.open(str(MEDIA / "speech.wav")) as source:
        params, frames = source.getparams(), source.readframes(source.getnframes())
    silence = b"\0" * int(gap_s * params.framerate) * params.sampwidth * params.nchannels
    with wave.open(str(path), "wb") as out:
        out.setparams(params)
        for _ in range(repeats):
            out.writeframes(frames + silence)
    return path


@dataclass
class Autoscaler:
    """`kaption autoscale` as a child process; its stdout lines with their arrival times."""

    process: subprocess.Popen[str]
    lines: list[tuple[float, str]] = field(default_factory=list)
    reader: threading.Thread | None = None

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:
            self.lines.append((time.monotonic(), line.rstrip("\n")))

    def decisions(self) -> list[tuple[float, int, int, str]]:
        found = []
        for at, line in self.lines:
            match = DECISION.search(line)
            if match:
                found.append((at, int(match[1]), int(match[2]), match[3]))
        return found

    def wait_for(self, predicate: str, timeout_s: float) -> None:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.process.poll() is None:
            if any(predicate in line for _, line in self.lines):
                return
            time.sleep(0.2)
        raise AssertionError(f"no {predicate!r} in time:\n" + self.text())

    def text(self) -> str:
        return "\n".join(line for _, line in self.lines)


@pytest.fixture
def autoscaler(settings: KaptionSettings) -> Iterator[Autoscaler]:
    options = {
        "--role": "transcribe",
        "--min": "1",
        "--max": "2",
        "--poll": "1",
        "--settle": "2",
        "--rate-window": "4",
        "--target-drain": "3",
        "--scale-down-window": "8",
        "--stop-timeout": "20",
    }
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "clients.cli",
            "autoscale",
            *(x for o in options.items() for x in o),
        ],
        env={**os.environ, **settings_env(settings)},
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
        preexec_fn=die_with_parent,
    )
    scaler = Autoscaler(process)
    scaler.reader = threading.Thread(target=scaler.read, daemon=True)
    scaler.reader.start()
    try:
        yield scaler
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGINT)
            try:
                process.wait(timeout=60)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


@pytest.fixture
def settings(bootstrap: str, tmp_path: Path) -> KaptionSettings:
    # One inference thread per worker: two workers on two cores.
    settings = fresh_settings(bootstrap, tmp_path, whisper_cpu_threads=1)
    create_topics(settings)
    return settings


def test_autoscaler_adds_a_worker_under_lag_and_removes_it_when_idle(
    settings: KaptionSettings, autoscaler: Autoscaler, tmp_path: Path
) -> None:
    media = long_speech(tmp_path / "long.wav", REPEATS)
    others = [stage for stage in STAGES if stage != "transcribe"]
    with worker_process(settings, others, tmp_path / "others.log") as worker:
        autoscaler.wait_for("-> 1 workers", timeout_s=60)  # --min 1, before any lag
        result = run_job(settings, str(media), timeout_s=150, alive=lambda: worker.poll() is None)
        finished = time.monotonic()
        assert result.state == JobState.COMPLETED, result.status
        assert result.status.segments_done == result.status.segments_total == REPEATS
        # Idle again: back to --min after the 8 s scale-down window.
        autoscaler.wait_for("2 -> 1 workers", timeout_s=60)

    # Up from --min while segments wait, back to --min once idle; never outside 1..2. (A lull
    # between audio windows may add a down and up again within the job: allowed.)
    decisions = autoscaler.decisions()
    counts = [(before, after) for _, before, after, _ in decisions]
    assert counts[0] == (0, 1) and counts[-1] == (2, 1), autoscaler.text()
    assert all(1 <= after <= 2 for _, after in counts[1:]), autoscaler.text()
    ups = [(at, why) for at, before, after, why in decisions if (before, after) == (1, 2)]
    assert ups and ups[0][0] < finished, autoscaler.text()
    for _, why in ups:  # the lag, the measured rate and the arithmetic
        assert re.fullmatch(r"lag \d+, \d+\.\d\d/s per worker: \d+ / \(.+\) = \d+(, max 2)?", why)
    assert decisions[-1][3].startswith("no lag, min 1;"), decisions[-1][3]

    # Ctrl-C stops the one it still runs, gracefully, and exits cleanly.
    pids = [int(p) for p in re.findall(r"started worker pid (\d+)", autoscaler.text())]
    assert len(pids) == len(ups) + 1
    autoscaler.process.send_signal(signal.SIGINT)
    assert autoscaler.process.wait(timeout=60) == 0, autoscaler.text()
    assert autoscaler.reader is not None
    autoscaler.reader.join(timeout=10)  # its output ends with the process
    for pid in pids:  # the added ones when idle, the first at Ctrl-C; Faust exits 0
        assert f"stopped worker pid {pid} (exit code 0)" in autoscaler.text()
    assert "stopping 1 workers" in autoscaler.text()
    for pid in pids:
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
