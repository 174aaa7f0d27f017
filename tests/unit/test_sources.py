"""Network sources against real HTTP servers on 127.0.0.1: a source that hangs (not connecting,
connected and silent, headers then nothing, half the media then nothing) fails with a timeout
that names the URL; one that only trickles is read to the end. These servers are loopback
addresses, which the source policy refuses unless told otherwise (LOOPBACK_OK); the refusals
themselves are tested here too: before connecting, at the connect probe, on a redirect."""

from __future__ import annotations

import socket
import time
from pathlib import Path

import numpy as np
import pytest

from agents.decode.agent import source_limits
from agents.decode.media import (
    MAX_REDIRECTS,
    Abandoned,
    MediaError,
    decode_audio,
    decode_windows,
)
from agents.decode.sources import SourceLimits, check_connect, connect_address, ffmpeg_options
from streams.settings import KaptionSettings
from streams.sources import SourcePolicy, UnsafeSource, check_source
from tests.paths import MEDIA
from tests.slow_http import media_server, redirect_server, unreachable_host

SPEECH = (MEDIA / "speech.mp4").read_bytes()
QUICK = SourceLimits(connect_timeout_s=0.5, read_timeout_s=0.5)
SLACK_S = 2.0  # the machine is shared: a timeout may fire this much late, never early
LOOPBACK_OK = SourcePolicy(allow_private=True)


def decode_url(
    url: str, limits: SourceLimits = QUICK, policy: SourcePolicy = LOOPBACK_OK
) -> np.ndarray:
    found = list(decode_windows(url, 3600.0, limits=limits, policy=policy))
    return np.concatenate([w.pcm for w in found])


@pytest.mark.parametrize(
    ("silent", "stall_at"),
    [(True, None), (False, 0), (False, len(SPEECH) // 2)],
    ids=["connected-silent", "headers-then-nothing", "half-the-media-then-nothing"],
)
def test_a_url_that_stops_sending_times_out_with_the_read_timeout(
    silent: bool, stall_at: int | None
) -> None:
    with media_server(SPEECH, stall_at=stall_at, silent=silent) as server:
        started = time.monotonic()
        with pytest.raises(MediaError) as failure:
            decode_url(server.url)
        took = time.monotonic() - started
    assert str(failure.value) == f"timed out after 0.5 s reading URL {server.url}"
    # Each read waits the timeout; FFmpeg may try a read again (a probe, a seek) before it
    # gives up, so a stalled source fails after one to a few times the timeout.
    assert 0.5 <= took < 5 * 0.5 + SLACK_S


def test_a_host_that_never_accepts_times_out_with_the_connect_timeout() -> None:
    with unreachable_host() as url:
        started = time.monotonic()
        with pytest.raises(MediaError) as failure:
            decode_url(url)
        took = time.monotonic() - started
    assert str(failure.value) == f"timed out after 0.5 s connecting to URL {url}"
    assert 0.5 <= took < 0.5 + SLACK_S


def test_a_refused_connection_says_so() -> None:
    with socket.socket() as closed:
        closed.bind(("127.0.0.1", 0))
        port = closed.getsockname()[1]  # bound, not listening: refused
        url = f"http://127.0.0.1:{port}/media.mp4"
        with pytest.raises(MediaError, match=rf"cannot connect to 127.0.0.1:{port} for URL "):
            decode_url(url)


def test_a_trickling_url_is_read_to_the_end_however_long_it_takes() -> None:
    """60 KB/s: the transfer lasts several read timeouts, no read waits that long."""
    with media_server(SPEECH, bytes_per_s=60_000) as server:
        started = time.monotonic()
        pcm = decode_url(server.url)
        took = time.monotonic() - started
    assert took > 3 * QUICK.read_timeout_s  # in all, far longer than the read timeout
    assert np.array_equal(pcm, decode_audio(str(MEDIA / "speech.mp4")).pcm)


@pytest.mark.parametrize(
    "name",
    ["speech.mp4", "speech.mp3"],  # mp4: its index is at the end, opening reads nearly all
    ids=["while-opening", "while-decoding"],
)
def test_the_decode_deadline_stops_a_trickle(name: str) -> None:
    limits = SourceLimits(connect_timeout_s=1.0, read_timeout_s=1.0, deadline_s=0.5)
    with media_server((MEDIA / name).read_bytes(), bytes_per_s=10_000) as server:
        started = time.monotonic()
        with pytest.raises(MediaError) as failure:
            decode_url(server.url, limits)
        took = time.monotonic() - started
    assert str(failure.value) == f"still reading {server.url} after 0.5 s: gave up"
    assert took < 0.5 + SLACK_S


def test_a_decode_nobody_waits_for_stops_at_its_next_chunk() -> None:
    with media_server(SPEECH, bytes_per_s=200_000) as server:
        windows = decode_windows(
            server.url, 3600.0, limits=QUICK, should_stop=lambda: True, policy=LOOPBACK_OK
        )
        with pytest.raises(Abandoned):
            next(windows)


def test_local_files_are_decoded_as_before() -> None:
    assert len(decode_audio(str(MEDIA / "speech.mp4")).pcm) > 0
    with pytest.raises(MediaError, match="file not found"):
        decode_audio(str(MEDIA / "missing.mp4"))


def test_the_read_timeout_is_ffmpegs_protocol_neutral_rw_timeout() -> None:
    assert ffmpeg_options(SourceLimits(read_timeout_s=2.5)) == {
        "rw_timeout": "2500000",
        "max_redirects": "0",  # kaption follows redirects itself, checking each
    }


def test_the_connect_check_goes_where_ffmpeg_connects(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("http_proxy", raising=False)
    monkeypatch.delenv("no_proxy", raising=False)
    assert connect_address("http://example.org/a.mp4") == ("example.org", 80)
    assert connect_address("https://example.org:8443/a.mp4") == ("example.org", 8443)
    assert connect_address("rtmp://live.example.org/app/key") == ("live.example.org", 1935)
    assert connect_address("udp://239.0.0.1:1234") is None  # no connection to make
    assert connect_address("tcp://example.org/") is None  # no port: FFmpeg refuses it itself
    monkeypatch.setenv("http_proxy", "http://proxy.internal:3128")
    monkeypatch.setenv("no_proxy", "cdn.example.org")
    assert connect_address("https://example.org/a.mp4") == ("proxy.internal", 3128)
    assert connect_address("http://cdn.example.org/a.mp4") == ("cdn.example.org", 80)


def test_the_decode_deadline_is_the_job_deadline_unless_set() -> None:
    settings = KaptionSettings(job_deadline_s=7200.0, source_read_timeout_s=12.0)
    assert source_limits(settings) == SourceLimits(10.0, 12.0, deadline_s=7200.0)
    assert source_limits(settings.model_copy(update={"decode_deadline_s": 60.0})).deadline_s == 60


def test_a_loopback_url_is_refused_before_anything_connects_to_it() -> None:
    with media_server(SPEECH) as server:
        with pytest.raises(UnsafeSource) as refused:
            decode_url(server.url, policy=SourcePolicy())
        assert server.requests == 0
    assert str(refused.value) == (
        "'127.0.0.1' resolves to 127.0.0.1, a loopback address: refused "
        "(KAPTION_ALLOW_PRIVATE_SOURCES=1 allows such sources)"
    )


def test_a_path_outside_the_media_root_is_refused(tmp_path: Path) -> None:
    root = tmp_path / "media"
    root.mkdir()
    (root / "speech.wav").write_bytes((MEDIA / "speech.wav").read_bytes())
    policy = SourcePolicy(media_root=root)
    inside = list(decode_windows("speech.wav", 3600.0, policy=policy))  # relative to the root
    assert len(inside[0].pcm) > 0
    with pytest.raises(UnsafeSource, match="is outside the media root"):
        next(decode_windows(str(MEDIA / "speech.wav"), 3600.0, policy=policy))


def test_a_source_with_a_nul_character_is_refused_not_an_error(tmp_path: Path) -> None:
    # Found by the API's property test: Path.resolve raised ValueError (a 500).
    with pytest.raises(UnsafeSource, match="NUL"):
        check_source("speech\x00.wav", SourcePolicy(media_root=tmp_path))
    with pytest.raises(UnsafeSource, match="NUL"):
        check_source("https://example.com/a\x00b", SourcePolicy())


def test_the_connect_probe_refuses_a_name_that_now_answers_from_loopback() -> None:
    """DNS rebinding: the name passed the check (a public address then), the host it connects
    to now is a loopback one."""
    with media_server(SPEECH) as server:
        url = server.url.replace("127.0.0.1", "localhost")
        with pytest.raises(UnsafeSource, match=r"'localhost' answered from (127\.0\.0\.1|::1)"):
            check_connect(url, QUICK)
        check_connect(url, QUICK, allow_private=True)


def test_redirects_are_followed_by_kaption_each_checked_like_a_new_source() -> None:
    with media_server(SPEECH) as server, redirect_server(server.url) as redirecting:
        assert np.array_equal(decode_url(redirecting), decode_audio(str(MEDIA / "speech.mp4")).pcm)
    unsafe = pytest.raises(UnsafeSource, match="URL scheme 'file' is not allowed")
    with redirect_server("file:///etc/passwd") as redirecting, unsafe:
        decode_url(redirecting)
    endless = pytest.raises(MediaError, match=f"more than {MAX_REDIRECTS} redirects from ")
    with redirect_server("{self}") as looping, endless:  # a relative Location: to itself
        decode_url(looping)
