"""A localstripe server (a Stripe-compatible API for tests) as a subprocess on a free port, with Stripe's idempotent
requests (``support/stripe_fake.py``).

``running_localstripe()`` yields its base URL once it answers; the process is stopped when the block ends.
"""

from __future__ import annotations

import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import IO

import httpx

from live_servers import free_port


def _start(log: IO[bytes]) -> tuple[subprocess.Popen[bytes], str] | None:
    """Start localstripe on a free port; ``None`` when it exited before answering (e.g. the port was taken in
    the moment between choosing and binding it)."""
    port = free_port()
    fake = Path(__file__).resolve().parent / "support" / "stripe_fake.py"
    proc = subprocess.Popen([sys.executable, str(fake), "--port", str(port)], stdout=log, stderr=log)
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            httpx.get(f"{url}/v1/customers", headers={"Authorization": "Bearer sk_test_x"}, timeout=1)
            return proc, url
        except httpx.HTTPError:
            if proc.poll() is not None:
                return None
            time.sleep(0.1)
    proc.kill()
    proc.wait(10)
    return None


@contextmanager
def running_localstripe() -> Iterator[str]:
    with tempfile.TemporaryFile() as log:
        for _attempt in range(3):
            started = _start(log)
            if started is not None:
                break
        else:
            log.seek(0)
            raise RuntimeError(f"localstripe did not start: {log.read().decode(errors='replace')[-2000:]}")
        proc, url = started
        try:
            yield url
        finally:
            proc.terminate()
            proc.wait(10)
