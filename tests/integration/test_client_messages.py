"""`kaption submit --wait` says what is happening: an unreachable broker (one line, updated
every few seconds, then a clear error), a broker lost mid-wait, and no worker to take the job;
librdkafka's own log lines stay off the console unless asked for."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import pytest

from streams.runtime.processes import free_port, settings_env
from streams.settings import KaptionSettings
from tests.integration.conftest import create_topics, fresh_settings
from tests.integration.tcp_proxy import proxied_broker
from tests.paths import SAMPLES

pytestmark = pytest.mark.integration

SAMPLE = str(SAMPLES / "demo.mp4")
GIVE_UP_S = 6.0
LIBRDKAFKA_MARKS = ("rdkafka", "|FAIL|", "|ERROR|", "librdkafka")


@dataclass
class Finished:
    returncode: int
    stderr: str
    seconds: float

    def lines_with(self, text: str) -> list[str]:
        return [line for line in self.stderr.splitlines() if text in line]


def cli(settings: KaptionSettings, args: Sequence[str], stderr: Path) -> subprocess.Popen[bytes]:
    env = {
        **os.environ,
        **settings_env(settings),
        "KAPTION_CLIENT_UNREACHABLE_TIMEOUT_S": str(GIVE_UP_S),
    }
    with stderr.open("wb") as err:
        return subprocess.Popen(
            [sys.executable, "-m", "clients.cli", *args],
            env=env,
            stdout=subprocess.DEVNULL,
            stderr=err,
        )


def finish(process: subprocess.Popen[bytes], stderr: Path, started: float) -> Finished:
    try:
        process.wait(timeout=90)
    finally:
        if process.poll() is None:
            process.kill()
    return Finished(process.returncode, stderr.read_text(), time.monotonic() - started)


def wait_for_line(stderr: Path, text: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while text not in stderr.read_text():
        assert time.monotonic() < deadline, f"no {text!r} in:\n{stderr.read_text()}"
        time.sleep(0.2)


def assert_no_library_chatter(run: Finished) -> None:
    assert not [m for m in LIBRDKAFKA_MARKS if m in run.stderr], run.stderr
    assert len(run.stderr) < 2000, run.stderr  # lines, not a flood


def test_an_unreachable_broker_is_one_line_then_a_clear_error(tmp_path: Path) -> None:
    """Nothing listens on the port: a line or two that say so, then exit 1 with the reason
    after KAPTION_CLIENT_UNREACHABLE_TIMEOUT_S."""
    address = f"127.0.0.1:{free_port()}"
    settings = KaptionSettings(bootstrap_servers=address, data_dir=tmp_path)
    stderr = tmp_path / "stderr"
    started = time.monotonic()
    run = finish(cli(settings, ["submit", SAMPLE], stderr), stderr, started)
    assert run.returncode == 1, run.stderr
    notices = run.lines_with(f"broker {address} unreachable for")
    assert 1 <= len(notices) <= 2 and notices[0].endswith("s, retrying"), run.stderr
    error = run.lines_with("Error:")
    assert (
        len(error) == 1
        and f"gave up after KAPTION_CLIENT_UNREACHABLE_TIMEOUT_S={GIVE_UP_S:g}" in error[0]
    )
    assert GIVE_UP_S <= run.seconds < GIVE_UP_S + 20, run.seconds
    assert_no_library_chatter(run)


def test_librdkafka_lines_appear_when_asked_for(tmp_path: Path) -> None:
    settings = KaptionSettings(
        bootstrap_servers=f"127.0.0.1:{free_port()}", data_dir=tmp_path, log_level="debug"
    )
    stderr = tmp_path / "stderr"
    run = finish(cli(settings, ["submit", SAMPLE], stderr), stderr, time.monotonic())
    assert run.returncode == 1
    assert "librdkafka" in run.stderr, run.stderr


def test_with_no_worker_the_client_says_so_and_keeps_waiting(
    bootstrap: str, tmp_path: Path
) -> None:
    settings = fresh_settings(bootstrap, tmp_path)
    create_topics(settings)
    stderr = tmp_path / "stderr"
    started = time.monotonic()
    run = finish(cli(settings, ["submit", SAMPLE, "--timeout", "12"], stderr), stderr, started)
    assert run.returncode == 1, run.stderr
    [notice] = run.lines_with("no worker has picked up job")
    assert "is a worker running?" in notice, notice
    # It went on waiting, to its timeout.
    assert "not finished after 12 s: no worker has picked it up" in run.stderr, run.stderr
    assert not run.lines_with("unreachable")
    assert_no_library_chatter(run)


def test_a_broker_lost_while_waiting_is_reported_and_given_up_on(tmp_path: Path) -> None:
    """The job is submitted through a proxy, which is then cut: the client says the broker is
    unreachable and gives up after its limit, without waiting for the job's timeout."""
    with proxied_broker(tmp_path / "broker") as proxy:
        settings = fresh_settings(proxy.address, tmp_path)
        create_topics(settings)
        stderr = tmp_path / "stderr"
        started = time.monotonic()
        process = cli(settings, ["submit", SAMPLE, "--timeout", "600"], stderr)
        wait_for_line(stderr, "no worker has picked up job", 60)
        proxy.cut()
        run = finish(process, stderr, started)
    assert run.returncode == 1, run.stderr
    notices = run.lines_with(f"broker {proxy.address} unreachable for")
    assert 1 <= len(notices) <= 2, run.stderr
    [error] = run.lines_with("Error:")
    assert "gave up after KAPTION_CLIENT_UNREACHABLE_TIMEOUT_S" in error, error
    assert_no_library_chatter(run)
