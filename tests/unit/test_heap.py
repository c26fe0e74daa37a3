"""``voltbill.heap``: malloc's arenas limited (glibc), counted in a fresh interpreter by glibc's own report."""

from __future__ import annotations

import platform
import subprocess
import sys

import pytest

# Eight threads allocate at once, all alive together; glibc's malloc_stats() then prints one "Arena N:" per arena.
_THREADS_ALLOCATE = """
import ctypes, sys, threading
from voltbill import heap
if sys.argv[1] == "limited":
    heap.limit_arenas()
barrier = threading.Barrier(8)
kept = []
def work():
    kept.append(bytearray(20_000))  # below the mmap threshold: from the thread's arena
    barrier.wait()
threads = [threading.Thread(target=work) for _ in range(8)]
for t in threads: t.start()
for t in threads: t.join()
ctypes.CDLL(None).malloc_stats()
"""


def _arenas(mode: str) -> int:
    done = subprocess.run(
        [sys.executable, "-c", _THREADS_ALLOCATE, mode], capture_output=True, text=True, check=True, timeout=60
    )
    return sum(1 for line in done.stderr.splitlines() if line.startswith("Arena "))


@pytest.mark.skipif(platform.libc_ver()[0] != "glibc", reason="arenas are glibc's")
def test_threads_share_the_limited_arenas() -> None:
    assert _arenas("default") > 2  # each thread would get one of its own
    assert 1 <= _arenas("limited") <= 2
