"""Logging for every kaption process: one stderr handler on the root logger, text or JSON lines,
and job lines that always carry the job id.

JSON lines (python-json-logger) have ``time`` (ISO 8601 UTC), ``level``, ``logger``,
``message`` and every ``extra`` field (``job_id``, ``stage``, ...). Text lines are
``<asctime> <LEVEL> <logger>: <message>`` plus `` job=<id>`` (and `` stage=<stage>``) when the
record carries them.

Under ``mode.Worker`` (the Faust worker), call :func:`configure_logging` from the worker's
``on_setup_root_logger`` hook: mode has then installed its own root handler, which this
replaces, and it has not yet redirected stdout and stderr into logging.
"""

from __future__ import annotations

import logging
import sys
from datetime import UTC, datetime
from typing import IO, Any

from pythonjsonlogger.json import JsonFormatter

LEVELS = {
    "crit": logging.CRITICAL,
    "critical": logging.CRITICAL,
    "error": logging.ERROR,
    "warn": logging.WARNING,
    "warning": logging.WARNING,
    "info": logging.INFO,
    "debug": logging.DEBUG,
}
FORMATS = ("text", "json")
# Chatty libraries: at WARNING (or the chosen level, when higher) unless the level is debug.
NOISY_LOGGERS = ("aiokafka", "faust", "mode", "faster_whisper")  # one line per segment
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s: %(message)s"


class TextFormatter(logging.Formatter):
    """The plain format, plus `` job=<id>`` and `` stage=<stage>`` from the record's extras."""

    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        # Appended after the traceback, if any, would be lost: put them on the first line.
        first, sep, rest = line.partition("\n")
        for field, label in (("job_id", "job"), ("stage", "stage")):
            value = getattr(record, field, None)
            if value is not None:
                first += f" {label}={value}"
        return first + sep + rest


class JsonLineFormatter(JsonFormatter):
    """One JSON object per line: time (ISO 8601 UTC), level, logger, message, extras."""

    def __init__(self) -> None:
        super().__init__(
            "{asctime}{levelname}{name}{message}",
            style="{",
            rename_fields={"asctime": "time", "levelname": "level", "name": "logger"},
        )

    def formatTime(self, record: logging.LogRecord, datefmt: str | None = None) -> str:
        return datetime.fromtimestamp(record.created, UTC).isoformat(timespec="milliseconds")


class KaptionHandler(logging.StreamHandler):
    """The one console handler kaption installs (recognised, and replaced, on a second call)."""


def level_number(level: str) -> int:
    try:
        return LEVELS[level.lower()]
    except KeyError:
        raise ValueError(f"unknown log level {level!r}: one of {', '.join(LEVELS)}") from None


def configure_logging(level: str, fmt: str, stream: IO[str] | None = None) -> None:
    """Logs at ``level`` (crit|error|warn|info|debug) in ``fmt`` ("text" or "json") to stderr
    (or ``stream``).

    Replaces every console handler of the root logger (a previous call's, mode's, a
    ``basicConfig`` one) with one of its own, so calling it again, or after mode set up logging,
    leaves exactly one. File handlers and other handlers stay.
    """
    number = level_number(level)
    if fmt not in FORMATS:
        raise ValueError(f"unknown log format {fmt!r}: one of {', '.join(FORMATS)}")
    handler = KaptionHandler(stream if stream is not None else _stderr())
    handler.setFormatter(JsonLineFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    for old in list(root.handlers):
        if _is_console(old):
            root.removeHandler(old)
            if isinstance(old, KaptionHandler):
                old.close()
    root.addHandler(handler)
    root.setLevel(number)
    quiet = number if number <= logging.DEBUG else max(number, logging.WARNING)
    for name in NOISY_LOGGERS:
        logging.getLogger(name).setLevel(quiet)


def job_log(
    logger: logging.Logger,
    level: int,
    job_id: str,
    message: str,
    *args: object,
    **fields: object,
) -> None:
    """Logs one line about a job: ``job_id`` and ``fields`` (e.g. ``stage="decode"``) go into
    the record's extras. A field may not be named like a LogRecord attribute (``name``,
    ``message``, ...): logging raises KeyError for that."""
    if logger.isEnabledFor(level):
        extra: dict[str, Any] = {"job_id": job_id, **fields}
        logger.log(level, message, *args, extra=extra, stacklevel=2)


def _is_console(handler: logging.Handler) -> bool:
    if isinstance(handler, KaptionHandler):
        return True
    if isinstance(handler, logging.FileHandler) or not isinstance(handler, logging.StreamHandler):
        return False
    consoles = (sys.stderr, sys.stdout, sys.__stderr__, sys.__stdout__)
    return any(handler.stream is console for console in consoles if console is not None)


def _stderr() -> IO[str]:
    """sys.stderr, unless mode has redirected it into logging (writing there would loop)."""
    mode_logging = sys.modules.get("mode.utils.logging")
    proxy = getattr(mode_logging, "FileLogProxy", None)
    if proxy is not None and isinstance(sys.stderr, proxy) and sys.__stderr__ is not None:
        return sys.__stderr__
    return sys.stderr
