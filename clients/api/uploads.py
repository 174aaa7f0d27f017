"""Multipart uploads streamed to disk: the ``media`` part goes to its file chunk by chunk as
the body arrives (never whole in memory, nor in a temporary file first), the other parts are
small form fields. Past the size limit the upload stops at once and its file is deleted.

Pure of HTTP: the handler feeds it the body's chunks (on a worker thread, the writes block)."""

from __future__ import annotations

import re
import shutil
from dataclasses import dataclass, field
from pathlib import Path, PurePosixPath
from typing import IO

from python_multipart.exceptions import FormParserError
from python_multipart.multipart import MultipartParser, parse_options_header

FILE_FIELD = "media"
FIELD_LIMIT = 64 * 1024  # bytes of one form field
MAX_FIELDS = 32
MAX_NAME = 100  # characters of a stored file name
UNSAFE = re.compile(r"[^A-Za-z0-9._-]+")


class UploadError(ValueError):
    """An upload refused; ``status`` is the HTTP status that says why."""

    status = 422


class UploadTooLarge(UploadError):
    status = 413


def safe_filename(given: str | None) -> str:
    """A file name with no path in it: the client's last path part (either slash), other
    characters than letters, digits, ``.``, ``_`` and ``-`` replaced, no leading dot, at most
    MAX_NAME characters (the extension kept)."""
    last = PurePosixPath((given or "").replace("\\", "/")).name
    name = UNSAFE.sub("_", last).lstrip(".")
    if len(name) > MAX_NAME:
        stem, dot, ext = name.rpartition(".")
        ext = ext[:16] if dot and stem else ""
        name = f"{name[: MAX_NAME - len(ext) - 1]}.{ext}" if ext else name[:MAX_NAME]
    return name or "media"


@dataclass
class Upload:
    """What a complete multipart body carried."""

    fields: dict[str, list[str]] = field(default_factory=dict)
    path: Path | None = None  # the stored media file
    filename: str | None = None  # as the client named it
    size: int = 0


@dataclass
class _Part:
    headers: list[tuple[bytes, bytes]] = field(default_factory=list)
    name: str = ""
    data: bytearray = field(default_factory=bytearray)
    is_file: bool = False


class MultipartUpload:
    """Feed :meth:`write` the body's chunks, then :meth:`finish`; :meth:`discard` deletes
    what was stored (on any error, and whenever the job is not submitted after all)."""

    def __init__(self, content_type: str, directory: Path, limit_bytes: int) -> None:
        kind, params = parse_options_header(content_type)
        boundary = params.get(b"boundary")
        if kind != b"multipart/form-data" or not boundary:
            raise UploadError("expected multipart/form-data with a boundary")
        self.directory = directory
        self.limit = limit_bytes
        self.upload = Upload()
        self._part = _Part()
        self._header_field = bytearray()
        self._header_value = bytearray()
        self._file: IO[bytes] | None = None
        self._ended = False
        try:
            self._parser = MultipartParser(
                boundary,
                {
                    "on_part_begin": self._on_part_begin,
                    "on_header_field": self._on_header_field,
                    "on_header_value": self._on_header_value,
                    "on_header_end": self._on_header_end,
                    "on_headers_finished": self._on_headers_finished,
                    "on_part_data": self._on_part_data,
                    "on_part_end": self._on_part_end,
                    "on_end": self._on_end,
                },
            )
        except FormParserError as exc:
            raise UploadError(f"bad multipart boundary: {exc}") from exc

    def write(self, chunk: bytes) -> None:
        try:
            self._parser.write(chunk)
        except FormParserError as exc:
            raise UploadError(f"malformed multipart body: {exc}") from exc

    def finish(self) -> Upload:
        try:
            self._parser.finalize()
        except FormParserError as exc:
            raise UploadError(f"malformed multipart body: {exc}") from exc
        self._close_file()
        if not self._ended:
            raise UploadError("the multipart body ended before its closing boundary")
        if self.upload.path is None:
            raise UploadError(f"no file: send the media in the form field {FILE_FIELD!r}")
        if self.upload.size == 0:
            raise UploadError("the uploaded file is empty")
        return self.upload

    def discard(self) -> None:
        self._close_file()
        shutil.rmtree(self.directory, ignore_errors=True)

    # --- parser callbacks -------------------------------------------------------------------

    def _on_part_begin(self) -> None:
        self._part = _Part()

    def _on_header_field(self, data: bytes, start: int, end: int) -> None:
        self._header_field += data[start:end]

    def _on_header_value(self, data: bytes, start: int, end: int) -> None:
        self._header_value += data[start:end]

    def _on_header_end(self) -> None:
        self._part.headers.append((bytes(self._header_field).lower(), bytes(self._header_value)))
        self._header_field.clear()
        self._header_value.clear()

    def _on_headers_finished(self) -> None:
        disposition = dict(self._part.headers).get(b"content-disposition", b"")
        _, options = parse_options_header(disposition)
        if b"name" not in options:
            raise UploadError("a multipart part has no name")
        name = options[b"name"].decode("utf-8", errors="replace")
        self._part.name = name
        filename = options.get(b"filename")
        if name == FILE_FIELD:
            self._open_file(None if filename is None else filename.decode("utf-8", "replace"))
        elif filename is not None:
            raise UploadError(f"unexpected file in field {name!r}: send it as {FILE_FIELD!r}")
        elif sum(len(v) for v in self.upload.fields.values()) >= MAX_FIELDS:
            raise UploadError(f"more than {MAX_FIELDS} form fields")

    def _on_part_data(self, data: bytes, start: int, end: int) -> None:
        if self._part.is_file:
            assert self._file is not None
            self.upload.size += end - start
            if self.upload.size > self.limit:
                raise UploadTooLarge(
                    f"the upload is larger than the limit of {self.limit} bytes "
                    "(KAPTION_API_MAX_UPLOAD_MB)"
                )
            self._file.write(data[start:end])
            return
        self._part.data += data[start:end]
        if len(self._part.data) > FIELD_LIMIT:
            raise UploadError(f"form field {self._part.name!r} is over {FIELD_LIMIT} bytes")

    def _on_part_end(self) -> None:
        if self._part.is_file:
            self._close_file()
            return
        try:
            value = self._part.data.decode("utf-8")
        except UnicodeDecodeError as exc:
            raise UploadError(f"form field {self._part.name!r} is not UTF-8") from exc
        self.upload.fields.setdefault(self._part.name, []).append(value)

    def _on_end(self) -> None:
        self._ended = True

    def _open_file(self, filename: str | None) -> None:
        if self.upload.path is not None:
            raise UploadError(f"more than one file in field {FILE_FIELD!r}")
        self.directory.mkdir(parents=True, exist_ok=True)
        path = self.directory / safe_filename(filename)
        self._file = path.open("xb")
        self.upload.path, self.upload.filename = path, filename
        self._part.is_file = True

    def _close_file(self) -> None:
        if self._file is not None:
            self._file.close()
            self._file = None
