"""streams/sources.py: paths confined to the media root, URLs only to global addresses."""

from __future__ import annotations

import socket
from pathlib import Path
from typing import Any

import pytest

from streams.sources import SourcePolicy, UnsafeSource, check_source, refused_address


def resolver(*addresses: str) -> Any:
    def resolve(host: str, port: int | None, **_: Any) -> list[tuple[Any, ...]]:
        return [(socket.AF_INET, socket.SOCK_STREAM, 6, "", (a, port or 80)) for a in addresses]

    return resolve


@pytest.mark.parametrize(
    "address",
    ["127.0.0.1", "10.1.2.3", "192.168.0.9", "172.16.5.5", "169.254.169.254", "::1",
     "fe80::1", "fd00:ec2::254", "::ffff:127.0.0.1", "0.0.0.0", "100.64.0.1", "224.0.0.1"],
)  # fmt: skip
def test_non_global_addresses_are_refused(address: str) -> None:
    assert refused_address(address) is not None
    with pytest.raises(UnsafeSource, match="refused"):
        check_source("https://media.example/v.mp4", SourcePolicy(), resolver(address))


def test_a_host_with_one_private_address_among_public_ones_is_refused() -> None:
    with pytest.raises(UnsafeSource, match=r"10\.0\.0\.1"):
        check_source("http://x.example/", SourcePolicy(), resolver("93.184.216.34", "10.0.0.1"))


def test_public_urls_pass_and_private_ones_when_allowed() -> None:
    url = "https://media.example/v.mp4"
    assert check_source(url, SourcePolicy(), resolver("93.184.216.34")) == url
    allowed = SourcePolicy(allow_private=True)
    assert check_source("http://127.0.0.1:8000/a.mp4", allowed, resolver("127.0.0.1"))


@pytest.mark.parametrize(
    "url",
    [
        "file:///etc/passwd",
        "ftp://h/x",
        "gopher://h/",
        "concat:a|b",
        "subfile:,,start,0,end,9,,:/etc/passwd",
    ],
)
def test_only_allowed_schemes(url: str) -> None:
    with pytest.raises(UnsafeSource):
        check_source(url, SourcePolicy(), resolver("93.184.216.34"))


def test_unresolvable_hosts_and_hostless_urls_are_refused() -> None:
    def fail(*_: Any, **__: Any) -> list[tuple[Any, ...]]:
        raise socket.gaierror("Name or service not known")

    with pytest.raises(UnsafeSource, match="cannot resolve"):
        check_source("https://nowhere.invalid/", SourcePolicy(), fail)
    with pytest.raises(UnsafeSource, match="no host"):
        check_source("https:///x.mp4", SourcePolicy(), fail)


def test_paths_stay_under_the_media_root(tmp_path: Path) -> None:
    root = tmp_path / "media"
    (root / "sub").mkdir(parents=True)
    (root / "sub" / "a.mp4").write_bytes(b"x")
    (tmp_path / "secret.mp4").write_bytes(b"x")
    (root / "escape.mp4").symlink_to(tmp_path / "secret.mp4")
    policy = SourcePolicy(media_root=root)
    assert check_source("sub/a.mp4", policy) == str(root / "sub" / "a.mp4")
    assert check_source(str(root / "sub" / "a.mp4"), policy) == str(root / "sub" / "a.mp4")
    for bad in ("../secret.mp4", "sub/../../secret.mp4", str(tmp_path / "secret.mp4"),
                "escape.mp4", "/etc/passwd"):  # fmt: skip
        with pytest.raises(UnsafeSource):
            check_source(bad, policy)


def test_without_a_media_root_paths_are_left_alone() -> None:
    assert check_source("/anywhere/v.mp4", SourcePolicy()) == "/anywhere/v.mp4"
    with pytest.raises(UnsafeSource, match="empty"):
        check_source("  ", SourcePolicy())
