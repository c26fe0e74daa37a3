"""The OCPP gateway of one app: use-case context, worker threads, write-behind batching, and the background jobs
(liveness of sessions, closing sessions whose charger vanished).

Blocking database work never runs on the event loop. What chargers report most (boots, status notifications, meter
values, charging states) is collected while the previous batch is being written and stored in one transaction; each
charger gets its CALLRESULT only after the batch holding its message is committed, so an answered message is always
stored. Read-only use cases (authorize, the charger's secret) run without SQLite's write lock.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import logging
import queue
import sys
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import anyio.to_thread

from voltbill.adapters.ocpp.connections import ConnectionRegistry, ConnectionsPerAddress, registry
from voltbill.adapters.store.db import Database
from voltbill.config import Settings
from voltbill.gc_pacing import pace_gc, tune_gc
from voltbill.heap import limit_arenas
from voltbill.services import charger_auth, charging
from voltbill.services.charging import ChargingContext, Write
from voltbill.services.events import DeferredBus

log = logging.getLogger("voltbill.ocpp")

_BATCH_MAX = 2000
_TOUCH_EVERY_S = 30.0
_AUTH_CONCURRENCY = 4
# Worker threads per kind of work: (SQLite, PostgreSQL). SQLite runs one writer at a time, so more threads only
# queue on its lock, and a meter batch behind dozens of them answered seconds late (benchmarks/ocpp_load.py).
_CALL_THREADS = (2, 8)  # use cases that write to answer a charger's CALL (start, stop)
_READ_THREADS = (2, 8)  # use cases that only read to answer (the handshake's secret, authorize): never behind writes
_BACKGROUND_THREADS = (1, 2)  # live cost updates, the session sweeper: never ahead of answers


def tune_interpreter() -> None:
    """Process-wide settings for a server holding thousands of WebSockets (measured in benchmarks/ocpp_load.py).

    - The event loop and the database threads share the GIL. pysqlite releases it around every ``sqlite3_step``
      and psycopg around every round trip, then waits to get it back; with CPython's default 5 ms switch interval
      each wait can last 5 ms while the loop runs (the convoy effect): a batch of a few hundred rows took seconds.
      A 0.2 ms interval bounds each wait.
    - The cyclic garbage collector is tuned and paced as ``voltbill.gc_pacing`` says (``start`` runs the pacer).
    - malloc gets two arenas, not one per worker thread (``voltbill.heap``); ``start`` runs before the threads do.
    """
    sys.setswitchinterval(0.0002)
    tune_gc()
    limit_arenas()


def _charger_secret(uow: Any, _ctx: ChargingContext, charge_point_id: str) -> charger_auth.ChargerSecret | None:
    return charger_auth.charger_secret(uow, charge_point_id)


class WriteBatcher:
    """Group commit of ``charging.Write``s on a writer thread of its own: one transaction per batch, and every
    submitter waits for the commit of the batch holding its write.

    The thread takes everything queued whenever it is free, so while one batch commits the next one fills up, and
    it never waits for the event loop: an earlier version handed each batch over from an asyncio task, and the
    thread sat idle while the loop sent the previous batch's hundreds of answers (benchmarks/ocpp_load.py).
    """

    def __init__(self, write: Callable[[list[Write]], None], loop: asyncio.AbstractEventLoop) -> None:
        self._write = write
        self._loop = loop
        self._queue: queue.SimpleQueue[tuple[Write, asyncio.Future[None]] | None] = queue.SimpleQueue()
        self._thread = threading.Thread(target=self._run, name="voltbill-ocpp-writer", daemon=True)
        self._thread.start()

    async def submit(self, update: Write) -> None:
        future: asyncio.Future[None] = self._loop.create_future()
        self._queue.put((update, future))
        await future

    async def close(self) -> None:
        """Write what is queued, then end the thread."""
        self._queue.put(None)
        await asyncio.to_thread(self._thread.join)

    def _run(self) -> None:
        while True:
            first = self._queue.get()
            if first is None:
                return
            batch = [first]
            closing = False
            while len(batch) < _BATCH_MAX:
                try:
                    item = self._queue.get_nowait()
                except queue.Empty:
                    break
                if item is None:
                    closing = True
                    break
                batch.append(item)
            self._write_batch(batch)
            if closing:
                return

    def _write_batch(self, batch: list[tuple[Write, asyncio.Future[None]]]) -> None:
        outcomes: list[BaseException | None]
        try:
            self._write([update for update, _ in batch])
            outcomes = [None] * len(batch)
        except Exception:
            log.exception("meter value batch of %d failed; writing one by one", len(batch))
            outcomes = []
            for update, _ in batch:
                try:
                    self._write([update])
                    outcomes.append(None)
                except Exception as exc:
                    outcomes.append(exc)
        futures = [future for _, future in batch]
        with contextlib.suppress(RuntimeError):  # the loop closed while the last batch was written
            self._loop.call_soon_threadsafe(_settle, futures, outcomes)


def _settle(futures: list[asyncio.Future[None]], outcomes: list[BaseException | None]) -> None:
    for future, outcome in zip(futures, outcomes, strict=True):
        if future.done():
            continue
        if outcome is None:
            future.set_result(None)
        else:
            future.set_exception(outcome)


class OcppGateway:
    """Per-app OCPP state (``app.state.ocpp``). ``start()``/``stop()`` run the background jobs."""

    def __init__(self, state: Any, connections: ConnectionRegistry = registry) -> None:
        self.settings: Settings = state.settings
        self.db: Database = state.db
        # SQLite has one writer and every transaction here starts with BEGIN IMMEDIATE: worker threads queue on
        # this lock instead of in SQLite's busy handler, whose growing sleeps (up to 100 ms per retry) left the
        # CPU idle and answers seconds late under load (benchmarks/ocpp_load.py).
        sqlite = self.db.engine.dialect.name == "sqlite"
        self._sqlite_writer: Any = threading.Lock() if sqlite else contextlib.nullcontext()
        self._call_threads = anyio.CapacityLimiter(_CALL_THREADS[0 if sqlite else 1])
        self._read_threads = anyio.CapacityLimiter(_READ_THREADS[0 if sqlite else 1])
        self._background_threads = anyio.CapacityLimiter(_BACKGROUND_THREADS[0 if sqlite else 1])
        # The batch writer and the liveness job both update sessions: one at a time (no deadlock on PostgreSQL).
        self._batch_lock = threading.Lock()
        # consumers of what the use cases publish (settlement, invoicing, card holds) run after the answer
        self.events = DeferredBus(state.bus, lambda: self._sqlite_writer)
        self.ctx = ChargingContext(
            bus=self.events,
            clock=state.clock,
            start_checks=state.start_checks,
            skew_tolerance_s=self.settings.ocpp_clock_skew_tolerance_s,
        )
        self.connections = connections
        self.addresses = ConnectionsPerAddress(self.settings.ocpp_max_connections_per_ip)
        self._last_seen: dict[str, datetime] = {}
        self._tasks: list[asyncio.Task[None]] = []
        self._batcher: WriteBatcher | None = None
        # argon2 checks are CPU- and memory-heavy: a reconnect storm must not take every worker thread and
        # database connection (the check holds one), so only a few run at once.
        self.auth_slots = asyncio.Semaphore(_AUTH_CONCURRENCY)

    def _in_uow(self, use_case: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with self._sqlite_writer, self.db.uow() as uow:
            return use_case(uow, self.ctx, *args, **kwargs)

    def _in_read_uow(self, use_case: Callable[..., Any], args: tuple[Any, ...], kwargs: dict[str, Any]) -> Any:
        with self.db.read_uow() as uow:
            return use_case(uow, self.ctx, *args, **kwargs)

    async def _offload(
        self,
        unit: Callable[..., Any],
        limiter: anyio.CapacityLimiter,
        use_case: Callable[..., Any],
        args: tuple[Any, ...],
        kwargs: dict[str, Any],
    ) -> Any:
        """``use_case`` inside ``unit`` (``_in_uow`` or ``_in_read_uow``) on one of ``limiter``'s worker threads."""
        return await anyio.to_thread.run_sync(functools.partial(unit, use_case, args, kwargs), limiter=limiter)

    async def check_password(self, charge_point_id: str, password: str | None) -> bool:
        """Security profile 1: read the charger's secret in a short unit of work, then run argon2 outside any
        transaction (SQLite's write lock), at most ``_AUTH_CONCURRENCY`` at a time so a reconnect storm leaves
        worker threads for everyone else."""
        secret = await self.read(_charger_secret, charge_point_id)
        if secret is None:
            return False
        async with self.auth_slots:
            accepted = await anyio.to_thread.run_sync(charger_auth.password_accepted, charge_point_id, secret, password)
        return bool(accepted)

    async def run(self, use_case: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``use_case(uow, ctx, *args, **kwargs)`` in a worker thread, in its own unit of work."""
        return await self._offload(self._in_uow, self._call_threads, use_case, args, kwargs)

    async def read(self, use_case: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Like ``run``, for a use case that only reads (it must not commit): no wait for SQLite's writer."""
        return await self._offload(self._in_read_uow, self._read_threads, use_case, args, kwargs)

    async def run_background(self, use_case: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Like ``run``, for work no charger waits for: its few threads leave the others to the answers."""
        return await self._offload(self._in_uow, self._background_threads, use_case, args, kwargs)

    async def read_background(self, use_case: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """``run_background`` for a use case that only reads (live cost updates): never holds up a write."""
        return await self._offload(self._in_read_uow, self._background_threads, use_case, args, kwargs)

    def _write_batch(self, writes: list[Write]) -> None:
        """``charging.record_batch`` in one unit of work (called on the batch writer's thread)."""
        with self._batch_lock:
            self._in_uow(charging.record_batch, (writes,), {})

    async def record(self, write: Write) -> None:
        """Store a boot, status or transaction update through the write-behind batch; returns once committed."""
        self.start()
        assert self._batcher is not None
        await self._batcher.submit(write)

    def seen(self, charge_point_id: str) -> None:
        self._last_seen[charge_point_id] = self.ctx.clock.now()

    def start(self) -> None:
        """Start the batch writer and the periodic jobs (idempotent; needs a running event loop)."""
        if self._tasks:
            return
        tune_interpreter()
        self._batcher = WriteBatcher(self._write_batch, asyncio.get_running_loop())
        self._tasks = [
            asyncio.create_task(self._every(_TOUCH_EVERY_S, self._touch), name="ocpp-touch"),
            asyncio.create_task(self._every(self._sweep_interval(), self._sweep), name="ocpp-timeouts"),
            asyncio.create_task(pace_gc(), name="gc-pacer"),
        ]

    async def stop(self) -> None:
        for task in self._tasks:
            task.cancel()
        await asyncio.gather(*self._tasks, return_exceptions=True)
        self._tasks = []
        if self._batcher is not None:
            await self._batcher.close()
            self._batcher = None
        await self._touch()
        await asyncio.to_thread(self.events.close)

    def _sweep_interval(self) -> float:
        return max(1.0, min(60.0, self.settings.session_timeout_s / 4))

    async def _every(self, seconds: float, job: Callable[[], Any]) -> None:
        while True:
            await asyncio.sleep(seconds)
            try:
                await job()
            except Exception:
                log.exception("OCPP background job %s failed; retrying in %.0f s", job.__name__, seconds)

    async def _touch(self) -> None:
        seen, self._last_seen = self._last_seen, {}
        if seen:
            await anyio.to_thread.run_sync(functools.partial(self._touch_sync, seen), limiter=self._background_threads)

    def _touch_sync(self, seen: dict[str, datetime]) -> None:
        with self._batch_lock, self._sqlite_writer, self.db.uow() as uow:
            charging.touch_sessions(uow, seen)

    async def _sweep(self) -> None:
        await self._touch()
        closed = await self.run_background(charging.close_timed_out_sessions, self.settings.session_timeout_s)
        if closed:
            log.warning("closed %d sessions whose charger went silent: %s", len(closed), ", ".join(closed))
