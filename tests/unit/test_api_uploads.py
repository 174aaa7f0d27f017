"""Multipart uploads streamed to disk (clients/api/uploads.py), fed as an HTTP server would."""

from __future__ import annotations

from pathlib import Path

import pytest

from clients.api.uploads import MultipartUpload, UploadError, UploadTooLarge, safe_filename

BOUNDARY = "b0undary"
CONTENT_TYPE = f"multipart/form-data; boundary={BOUNDARY}"


def part(name: str, value: bytes, filename: str | None = None) -> bytes:
    disposition = f'form-data; name="{name}"'
    if filename is not None:
        disposition += f'; filename="{filename}"'
    return f"--{BOUNDARY}\r\nContent-Disposition: {disposition}\r\n\r\n".encode() + value + b"\r\n"


def body(*parts: bytes) -> bytes:
    return b"".join(parts) + f"--{BOUNDARY}--\r\n".encode()


def feed(upload: MultipartUpload, data: bytes, chunk: int = 7) -> None:
    for start in range(0, len(data), chunk):
        upload.write(data[start : start + chunk])


def test_the_file_goes_to_disk_and_the_fields_are_kept(tmp_path: Path) -> None:
    media = bytes(range(256)) * 40
    upload = MultipartUpload(CONTENT_TYPE, tmp_path / "job", 1 << 20)
    feed(
        upload,
        body(
            part("name", b"talk"),
            part("media", media, "../../etc/My Talk.mp4"),
            part("languages", b"en"),
            part("languages", b"fr,de"),
        ),
    )
    done = upload.finish()
    assert done.path == tmp_path / "job" / "My_Talk.mp4"
    assert done.path.read_bytes() == media and done.size == len(media)
    assert done.filename == "../../etc/My Talk.mp4"
    assert done.fields == {"name": ["talk"], "languages": ["en", "fr,de"]}


def test_past_the_limit_the_upload_stops_and_discard_deletes_it(tmp_path: Path) -> None:
    upload = MultipartUpload(CONTENT_TYPE, tmp_path / "job", 1000)
    data = body(part("media", b"x" * 5000, "big.mp4"))
    with pytest.raises(UploadTooLarge, match="limit of 1000 bytes"):
        feed(upload, data, chunk=100)
    stored = tmp_path / "job" / "big.mp4"
    assert stored.stat().st_size <= 1000  # never more than the limit written
    upload.discard()
    assert not (tmp_path / "job").exists()


@pytest.mark.parametrize(
    ("data", "reason"),
    [
        (body(part("media", b"", "e.mp4")), "empty"),
        (body(part("name", b"x")), "no file"),
        (body(part("media", b"a", "a.mp4"), part("media", b"b", "b.mp4")), "more than one file"),
        (body(part("video", b"a", "a.mp4")), "unexpected file in field 'video'"),
        (body(part("name", b"x" * 70_000)), "over 65536 bytes"),
        (body(part("name", b"\xff\xfe")), "not UTF-8"),
        (part("media", b"abc", "a.mp4"), "ended before its closing boundary"),
        (body(*[part(f"f{i}", b"v") for i in range(40)]), "more than 32 form fields"),
    ],
)
def test_bad_bodies_are_refused(tmp_path: Path, data: bytes, reason: str) -> None:
    upload = MultipartUpload(CONTENT_TYPE, tmp_path / "job", 1 << 20)
    with pytest.raises(UploadError, match=reason):
        feed(upload, data)
        upload.finish()
    upload.discard()
    assert not (tmp_path / "job").exists()


def test_a_content_type_without_boundary_is_refused(tmp_path: Path) -> None:
    with pytest.raises(UploadError, match="boundary"):
        MultipartUpload("multipart/form-data", tmp_path, 10)
    with pytest.raises(UploadError, match="boundary"):
        MultipartUpload("application/json", tmp_path, 10)


@pytest.mark.parametrize(
    ("given", "safe"),
    [
        ("talk.mp4", "talk.mp4"),
        ("../../etc/passwd", "passwd"),
        ("C:\\Users\\me\\clip.mov", "clip.mov"),
        (".htaccess", "htaccess"),
        ("..", "media"),
        ("", "media"),
        (None, "media"),
        ("a b;rm -rf.mp4", "a_b_rm_-rf.mp4"),
        ("x" * 300 + ".webm", "x" * 95 + ".webm"),
    ],
)
def test_safe_filenames_have_no_path(given: str | None, safe: str) -> None:
    assert safe_filename(given) == safe
