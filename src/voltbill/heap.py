"""The C heap of the long-running server (``voltbill serve``): few malloc arenas, free pages handed back.

Objects over 512 bytes, SQLite and the drivers allocate with glibc's malloc. Two of its defaults let a server that
runs for days hold memory it no longer uses (measured with benchmarks/soak.py at 5,000 chargers):

- Every thread that allocates gets an arena of its own, up to eight per core. The server's worker threads each
  left free space in theirs between live buffers: in the 10-minute soak the heap's free space grew 20 -> 30 MiB
  while the memory in use hardly moved. With two arenas (``limit_arenas``) it stayed at 3-12 MiB, and the server's
  RSS rose +7.7 MiB over the window instead of +14.5.
- glibc returns memory only from the top of each heap: the space a freed buffer leaves between live ones stays
  resident. ``release_free_heap`` (``malloc_trim(0)``, 1-2 ms, called every 30 s by ``voltbill.gc_pacing``) gives
  the free pages back; at 2,000 chargers it halved the RSS rise after the ramp (+13 -> +6 MiB).

Both go through ``ctypes`` because Python exposes neither; elsewhere than glibc (musl, macOS) they do nothing.
"""

from __future__ import annotations

import ctypes
from typing import Any

ARENAS = 2
_M_ARENA_MAX = -8  # glibc's malloc.h


def _glibc() -> Any | None:
    """The C library if it has glibc's ``mallopt`` and ``malloc_trim``, else None."""
    try:
        libc = ctypes.CDLL(None)
    except OSError:
        return None
    return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None


_LIBC = _glibc()


def limit_arenas(arenas: int = ARENAS) -> None:
    """Let malloc create at most ``arenas`` arenas from now on; call before the worker threads start."""
    if _LIBC is not None:
        _LIBC.mallopt(_M_ARENA_MAX, arenas)


def release_free_heap() -> None:
    """Give the free pages inside the C heap back to the operating system."""
    if _LIBC is not None:
        _LIBC.malloc_trim(0)
