"""streams.runtime.logs: JSON and text lines, job ids on job lines, one handler however often
called."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from datetime import datetime, timedelta

import pytest
from mode.utils.logging import setup_logging

from streams.runtime.logs import (
    NOISY_LOGGERS,
    KaptionHandler,
    configure_logging,
    job_log,
    level_number,
)

log = logging.getLogger("kaption.test")


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = list(root.handlers), root.level
    noisy = {name: logging.getLogger(name).level for name in NOISY_LOGGERS}
    yield
    for handler in list(root.handlers):
        if handler not in handlers:
            root.removeHandler(handler)
    for handler in handlers:
        if handler not in root.handlers:
            root.addHandler(handler)
    root.setLevel(level)
    for name, old in noisy.items():
        logging.getLogger(name).setLevel(old)


def ours() -> list[logging.Handler]:
    return [h for h in logging.getLogger().handlers if isinstance(h, KaptionHandler)]


def test_json_lines_parse_and_carry_the_job_id() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    job_log(log, logging.INFO, "job-1", "segment %d of %d", 3, 12, stage="transcribe")
    log.warning("no job here")
    first, second = (json.loads(line) for line in out.getvalue().splitlines())
    assert first["job_id"] == "job-1"
    assert first["stage"] == "transcribe"
    assert first["message"] == "segment 3 of 12"
    assert first["level"] == "INFO"
    assert first["logger"] == "kaption.test"
    assert datetime.fromisoformat(first["time"]).utcoffset() == timedelta(0)
    assert "job_id" not in second
    assert second["message"] == "no job here"


def test_json_lines_carry_the_traceback() -> None:
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    try:
        raise ValueError("boom")
    except ValueError:
        log.exception("failed", extra={"job_id": "j"})
    record = json.loads(out.getvalue())
    assert "ValueError: boom" in record["exc_info"]
    assert record["job_id"] == "j"


def test_text_lines_name_the_job() -> None:
    out = io.StringIO()
    configure_logging("info", "text", stream=out)
    job_log(log, logging.WARNING, "job-7", "decoded %s", "a.mp4")
    log.info("plain")
    job_line, plain = out.getvalue().splitlines()
    assert job_line.endswith("WARNING kaption.test: decoded a.mp4 job=job-7")
    assert plain.endswith("INFO kaption.test: plain")


def test_the_level_filters_and_noisy_libraries_stay_at_warning() -> None:
    out = io.StringIO()
    configure_logging("info", "text", stream=out)
    log.debug("hidden")
    logging.getLogger("aiokafka.conn").info("chatter")
    logging.getLogger("faust").warning("kept")
    assert out.getvalue().count("\n") == 1
    assert "kept" in out.getvalue()
    configure_logging("debug", "text", stream=out)
    logging.getLogger("aiokafka.conn").debug("now shown")
    assert "now shown" in out.getvalue()
    configure_logging("error", "text", stream=out)
    assert logging.getLogger("mode").level == logging.ERROR


def test_configuring_twice_leaves_one_handler() -> None:
    first, second = io.StringIO(), io.StringIO()
    configure_logging("info", "text", stream=first)
    configure_logging("info", "json", stream=second)
    assert len(ours()) == 1
    log.info("once")
    assert first.getvalue() == ""
    assert json.loads(second.getvalue())["message"] == "once"


def test_it_replaces_the_console_handler_mode_installs() -> None:
    setup_logging(loglevel="info")  # what mode.Worker does before on_setup_root_logger
    out = io.StringIO()
    configure_logging("info", "json", stream=out)
    consoles = [h for h in logging.getLogger().handlers if type(h).__name__ == "StreamHandler"]
    assert consoles == []
    assert len(ours()) == 1


def test_it_writes_to_stderr_by_default(capsys: pytest.CaptureFixture[str]) -> None:
    configure_logging("warn", "text")
    job_log(log, logging.ERROR, "j9", "bad")
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "bad job=j9" in captured.err


def test_bad_levels_and_formats_are_refused() -> None:
    assert level_number("crit") == logging.CRITICAL
    assert level_number("WARN") == logging.WARNING
    with pytest.raises(ValueError, match="log level"):
        configure_logging("loud", "text")
    with pytest.raises(ValueError, match="log format"):
        configure_logging("info", "xml")
