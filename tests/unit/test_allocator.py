"""The malloc arena cap, on this machine's real glibc: threads allocating at once share at most
the capped number of arenas; without the cap they get more (so the test can fail)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest

from streams.runtime.allocator import limit_malloc_arenas

# Eight threads allocate and free large blocks at once, then glibc prints one "Arena N:" block
# per arena to stderr.
PROGRAM = """
import ctypes, sys, threading
from streams.runtime.allocator import limit_malloc_arenas
cap = int(sys.argv[1])
if cap:
    assert limit_malloc_arenas(cap)
libc = ctypes.CDLL("libc.so.6")
libc.malloc.restype = ctypes.c_void_p
libc.free.argtypes = [ctypes.c_void_p]
start = threading.Barrier(8)
def work():
    start.wait()
    for _ in range(2000):
        libc.free(libc.malloc(4096))
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
libc.malloc_stats()
"""

glibc_only = pytest.mark.skipif(
    not sys.platform.startswith("linux") or os.confstr("CS_GNU_LIBC_VERSION") is None,
    reason="glibc only",
)


def arenas(cap: int) -> int:
    env = {k: v for k, v in os.environ.items() if k != "MALLOC_ARENA_MAX"}
    done = subprocess.run(
        [sys.executable, "-c", PROGRAM, str(cap)],
        env=env,
        capture_output=True,
        text=True,
        timeout=60,
        check=True,
    )
    return sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))


@glibc_only
def test_the_cap_bounds_the_arenas_of_concurrent_threads() -> None:
    assert arenas(0) > 2  # glibc's default: a new arena for a thread that finds the heap busy
    assert 1 <= arenas(2) <= 2


def test_no_cap_or_the_operators_own_setting_leaves_malloc_alone(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    assert limit_malloc_arenas(0) is False
    monkeypatch.setenv("MALLOC_ARENA_MAX", "4")
    assert limit_malloc_arenas(2) is False
