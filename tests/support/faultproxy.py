"""A TCP fault proxy for tests: listens on a free 127.0.0.1 port, forwards to a target, and injects network faults.

Modes (``proxy.mode = ...``, takes effect at once, also for connections already open):

- ``pass``: forward bytes both ways (after ``delay_s`` per chunk, when set);
- ``refuse``: stop listening, so new connections are refused (ECONNREFUSED, like a stopped server);
- ``reset``: accept new connections and reset them at once (RST);
- ``blackhole``: accept, read and drop everything, never answer (the client's timeouts are what ends it);
- ``drop_replies``: forward requests but drop the target's answers (the request is applied, its answer lost).

``cut()`` resets every open connection (a crashed peer or a broken network path); ``target`` may be changed to send
new connections elsewhere (e.g. to a server answering 500). ``counts`` tallies the faults it injected.

Written here because no maintained PyPI package does this in-process without an external daemon: toxiproxy needs its
Go server binary, which this environment cannot fetch. The proxy runs its own asyncio loop in a daemon thread, so
sync and async tests use it alike.
"""

from __future__ import annotations

import asyncio
import contextlib
import socket
import struct
import threading
from collections import Counter
from collections.abc import Coroutine
from types import TracebackType
from typing import Any

MODES = ("pass", "refuse", "reset", "blackhole", "drop_replies")


def _abort(writer: asyncio.StreamWriter) -> None:
    """Close with RST (SO_LINGER 0), so the peer sees a reset rather than an orderly end."""
    sock = writer.get_extra_info("socket")
    if sock is not None:
        with contextlib.suppress(OSError):
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, struct.pack("ii", 1, 0))
    writer.transport.abort()


class FaultProxy:
    """``with FaultProxy(("127.0.0.1", 5432)) as proxy:`` -> clients connect to ``proxy.port``."""

    def __init__(self, target: tuple[str, int]) -> None:
        self.target = target
        self.delay_s = 0.0
        self.counts: Counter[str] = Counter()
        self.port = 0
        self._mode = "pass"
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="faultproxy", daemon=True)
        self._server: asyncio.Server | None = None
        self._open: set[asyncio.StreamWriter] = set()

    # --- control (any thread) ----------------------------------------------------------------------------------

    def start(self) -> FaultProxy:
        self._thread.start()
        self._run(self._listen())
        return self

    def stop(self) -> None:
        self._run(self._shutdown())
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(5)
        self._loop.close()

    @property
    def mode(self) -> str:
        return self._mode

    @mode.setter
    def mode(self, mode: str) -> None:
        if mode not in MODES:
            raise ValueError(f"mode must be one of {MODES}, not {mode!r}")
        self._run(self._set_mode(mode))

    def cut(self) -> int:
        """Reset every open connection; returns how many were cut."""
        return int(self._run(self._cut()))

    @property
    def open_connections(self) -> int:
        return len(self._open)

    def __enter__(self) -> FaultProxy:
        return self.start()

    def __exit__(
        self, exc_type: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        self.stop()

    def _run(self, coro: Coroutine[Any, Any, Any]) -> Any:
        return asyncio.run_coroutine_threadsafe(coro, self._loop).result(10)

    # --- inside the proxy's loop -------------------------------------------------------------------------------

    async def _listen(self) -> None:
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", self.port, reuse_address=True)
        self.port = int(self._server.sockets[0].getsockname()[1])

    async def _set_mode(self, mode: str) -> None:
        previous, self._mode = self._mode, mode
        if mode == "refuse" and self._server is not None:
            self._server.close()
            self._server = None
        elif previous == "refuse" and self._server is None:
            await self._listen()

    async def _cut(self) -> int:
        cut = list(self._open)
        for writer in cut:
            _abort(writer)
        self._open.clear()
        self.counts["connections cut"] += len(cut)
        return len(cut)

    async def _shutdown(self) -> None:
        if self._server is not None:
            self._server.close()
        for writer in list(self._open):
            _abort(writer)
        self._open.clear()
        tasks = [t for t in asyncio.all_tasks() if t is not asyncio.current_task()]
        for task in tasks:
            task.cancel()
        await asyncio.gather(*tasks, return_exceptions=True)

    async def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        if self._mode == "reset":
            self.counts["connections reset"] += 1
            _abort(writer)
            return
        self._open.add(writer)
        up_writer: asyncio.StreamWriter | None = None
        try:
            if self._mode == "blackhole":
                self.counts["connections blackholed"] += 1
                while await reader.read(65536):
                    pass
                return
            try:
                up_reader, up_writer = await asyncio.open_connection(*self.target)
            except OSError:
                self.counts["target unreachable"] += 1
                _abort(writer)
                return
            self._open.add(up_writer)
            await asyncio.gather(self._pump(reader, up_writer), self._pump(up_reader, writer, reply=True))
        except (ConnectionError, OSError):
            pass
        finally:
            for end in (writer, up_writer):
                if end is not None:
                    self._open.discard(end)
                    end.close()

    async def _pump(self, source: asyncio.StreamReader, sink: asyncio.StreamWriter, reply: bool = False) -> None:
        try:
            while data := await source.read(65536):
                if self.delay_s:
                    await asyncio.sleep(self.delay_s)
                if self._mode == "blackhole" or (reply and self._mode == "drop_replies"):
                    self.counts["chunks dropped"] += 1
                    continue
                sink.write(data)
                await sink.drain()
            if sink.can_write_eof() and not sink.is_closing():
                sink.write_eof()
        except (ConnectionError, OSError):
            _abort(sink)
