"""One simulated charger: connects, boots, heartbeats, runs sessions, answers the server, survives outages.

Transaction messages (start, meter values, stop) go through an outbox that keeps them, in order, while the
connection is down and resends each with its original message id after reconnecting, as OCPP 1.6 §4.7 / 2.0.1
E12 ask of chargers with queued transaction messages; the server recognises a resend by that id. Heartbeats and
status notifications are only sent while online. While online, a meter sample that falls due before the outbox has
drained is skipped, so a charger never runs ahead of the server's answers (each message waits for its answer).
"""

from __future__ import annotations

import asyncio
import base64
import contextlib
import random
import time
import uuid
from dataclasses import dataclass, field
from typing import Any

from ocpp.charge_point import ChargePoint
from websockets.asyncio.client import ClientConnection, connect
from websockets.exceptions import ConnectionClosed, InvalidStatus, WebSocketException
from websockets.typing import Subprotocol

from voltbill.simulator.config import ChargerSpec, SimulationConfig
from voltbill.simulator.curves import CURVES, ChargeCurve, Reading, Vehicle
from voltbill.simulator.ocpp16 import Ocpp16
from voltbill.simulator.ocpp201 import Ocpp201
from voltbill.simulator.protocol import OcppVersion, Transaction
from voltbill.simulator.stats import Stats
from voltbill.simulator.timing import SimClock

VERSIONS: dict[str, type[OcppVersion]] = {"ocpp1.6": Ocpp16, "ocpp2.0.1": Ocpp201}
MAX_BACKOFF_S = 8.0
MAX_FAILED_SESSIONS = 3
TRIGGERABLE = {"Heartbeat", "StatusNotification"}


@dataclass
class _Outgoing:
    payload: Any
    reliable: bool
    unique_id: str = field(default_factory=lambda: str(uuid.uuid4()))
    result: asyncio.Future[Any] = field(default_factory=lambda: asyncio.get_running_loop().create_future())

    @property
    def action(self) -> str:
        return type(self.payload).__name__


def basic_auth(user: str, password: str) -> str:
    """HTTP Basic credentials (OCPP security profile 1: user = charge point id)."""
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


class SimulatedCharger:
    """A charger with one connector; ``run()`` returns after its sessions or after ``shutdown()``."""

    def __init__(self, spec: ChargerSpec, config: SimulationConfig, clock: SimClock, stats: Stats) -> None:
        self.spec = spec
        self.config = config
        self.clock = clock
        self.stats = stats
        self.version: OcppVersion = VERSIONS[spec.protocol]()
        self.rng = random.Random(f"{config.seed}:{spec.charger_id}" if config.seed is not None else None)
        self.sessions_completed = 0
        self.completed: list[tuple[str, float, float]] = []  # (transaction id, meter start Wh, meter stop Wh)
        self.last_cost: Any = None
        self._register_wh = round(self.rng.uniform(100_000, 5_000_000), 1)
        self._outbox: asyncio.Queue[_Outgoing] = asyncio.Queue()
        self._online = asyncio.Event()
        self._wake = asyncio.Event()
        self._link: ChargePoint | None = None
        self._state = "Available"
        self._available = True
        self._tx: Transaction | None = None
        self._stop_reason: str | None = None
        self._pending_start: tuple[str, int | None, bool] | None = None
        self._reset: str | None = None
        self._boot_reason = "PowerUp"
        self._server_heartbeat_s = 300.0
        self._shutting_down = False
        self._variables = {
            "HeartbeatInterval": str(int(config.heartbeat_interval_s or 300)),
            "MeterValueSampleInterval": str(int(config.meter_interval_s)),
        }

    # ---- lifecycle -------------------------------------------------------------------------------------------

    async def run(self, delay_s: float = 0.0) -> None:
        """Connect after ``delay_s`` wall-clock seconds, run the sessions, flush the outbox, disconnect."""
        await asyncio.sleep(delay_s)
        if self._shutting_down:
            return
        tasks = [asyncio.create_task(self._connection_loop()), asyncio.create_task(self._send_loop())]
        tasks.append(asyncio.create_task(self._heartbeat_loop()))
        try:
            await self._session_loop()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._outbox.join(), timeout=self.config.timeout_s)
        finally:
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            await self._close_link()

    def shutdown(self) -> None:
        """End the run: stop a running transaction (reason Local) and disconnect once it is reported."""
        self._shutting_down = True
        if self._tx is not None and self._stop_reason is None:
            self._stop_reason = "Local"
        self._wake.set()

    # ---- connection ------------------------------------------------------------------------------------------

    async def _connection_loop(self) -> None:
        backoff = 0.5
        url = f"{self.config.url.rstrip('/')}/{self.spec.charger_id}"
        headers = {}
        if self.spec.password is not None:
            headers["Authorization"] = basic_auth(self.spec.charger_id, self.spec.password)
        while True:
            try:
                ws = await connect(
                    url,
                    subprotocols=[Subprotocol(self.version.subprotocol)],
                    additional_headers=headers,
                    open_timeout=self.config.timeout_s,
                    ping_interval=None,
                    close_timeout=2,
                    max_size=2**20,
                )
            except InvalidStatus as exc:
                self.stats.error(f"connect:HTTP {exc.response.status_code}")
            except (OSError, TimeoutError, WebSocketException) as exc:
                self.stats.error(f"connect:{type(exc).__name__}")
            else:
                if await self._serve(ws):
                    backoff = 0.5
            await asyncio.sleep(backoff * self.rng.uniform(0.5, 1.5))
            backoff = min(backoff * 2, MAX_BACKOFF_S)

    async def _serve(self, ws: ClientConnection) -> bool:
        """Boot on a fresh connection and keep reading from it until it closes; True if it booted."""
        if ws.subprotocol != self.version.subprotocol:
            self.stats.error("connect:subprotocol refused")
            await ws.close()
            return False
        link = self.version.link(self.spec.charger_id, ws, self, self.config.timeout_s)
        reader = asyncio.create_task(link.start())
        booted = False
        try:
            await self._boot(link)
            booted = True
            self._link = link
            self.stats.connected += 1
            self.stats.ever_connected.add(self.spec.charger_id)
            self._online.set()
            await reader
        except (ConnectionClosed, OSError, TimeoutError) as exc:
            if not booted:
                self.stats.error(f"boot:{type(exc).__name__}")
        except Exception as exc:  # a CALLERROR or an invalid answer to the boot: retry later
            self.stats.error(f"boot:{type(exc).__name__}")
        finally:
            self._online.clear()
            if self._link is link:
                self._link = None
                self.stats.connected -= 1
            reader.cancel()
            with contextlib.suppress(Exception):
                await ws.close()
        return booted

    async def _boot(self, link: ChargePoint) -> None:
        while True:
            result = await self._call(link, self.version.boot(self.config.vendor, self.config.model, self._boot_reason))
            status, interval = self.version.boot_result(result)
            if status == "Accepted":
                self._server_heartbeat_s = float(interval or 300)
                if self.config.heartbeat_interval_s is None:
                    self._variables["HeartbeatInterval"] = str(int(self._server_heartbeat_s))
                break
            await asyncio.sleep(max(1.0, min(self.clock.real(interval or 10), 10.0)))
        self._boot_reason = "PowerUp"
        await self._call(link, self.version.status(1, self._state, self.clock.now()))

    async def _close_link(self) -> None:
        link = self._link
        if link is not None:
            with contextlib.suppress(Exception):
                await link._connection.close()

    async def _call(self, link: ChargePoint, payload: Any, unique_id: str | None = None) -> Any:
        """One CALL on ``link``; counts it and its answer time. Raises what the ``ocpp`` library raises."""
        self.stats.messages_sent += 1
        started = time.perf_counter()
        answer = asyncio.ensure_future(
            link.call(payload, suppress=False, unique_id=unique_id, skip_schema_validation=not self.config.validate)
        )
        closed = asyncio.ensure_future(link._connection.wait_closed())
        try:
            await asyncio.wait({answer, closed}, return_when=asyncio.FIRST_COMPLETED)
        finally:
            closed.cancel()
        if not answer.done():  # the answer cannot come any more: fail now instead of at the timeout
            answer.cancel()
            raise ConnectionError(f"connection closed before the answer to {type(payload).__name__}")
        result = answer.result()
        self.stats.answered(type(payload).__name__, time.perf_counter() - started)
        self.stats.messages_received += 1
        return result

    # ---- outbox ----------------------------------------------------------------------------------------------

    def _submit(self, payload: Any, reliable: bool) -> _Outgoing:
        item = _Outgoing(payload, reliable)
        if not reliable and not self._online.is_set():
            item.result.set_result(None)
        else:
            self._outbox.put_nowait(item)
        return item

    async def _request(self, payload: Any, reliable: bool) -> Any:
        """Send and wait for the answer (None after a CALLERROR or, when not ``reliable``, a lost connection)."""
        return await self._submit(payload, reliable).result

    async def _send_loop(self) -> None:
        while True:
            item = await self._outbox.get()
            try:
                await self._deliver(item)
            finally:
                self._outbox.task_done()

    async def _deliver(self, item: _Outgoing) -> None:
        while True:
            if not item.reliable and not self._online.is_set():
                item.result.set_result(None)
                return
            await self._online.wait()
            link = self._link
            if link is None:
                continue
            try:
                result = await self._call(link, item.payload, item.unique_id)
            except (ConnectionClosed, OSError, TimeoutError) as exc:
                self.stats.error(f"{type(exc).__name__}:{item.action}")
                if self._link is link:
                    self._online.clear()
                with contextlib.suppress(Exception):
                    await link._connection.close()
                if item.reliable:
                    continue  # resend with the same message id once reconnected
                item.result.set_result(None)
                return
            except Exception as exc:  # CALLERROR (OCPPError) or a schema-invalid answer: not retried
                self.stats.error(f"{getattr(exc, 'code', type(exc).__name__)}:{item.action}")
                item.result.set_result(None)
                return
            item.result.set_result(result)
            return

    # ---- heartbeat and status --------------------------------------------------------------------------------

    async def _heartbeat_loop(self) -> None:
        await self._online.wait()
        interval = self.config.heartbeat_interval_s or self._server_heartbeat_s
        await self.clock.sleep(self.rng.uniform(0, interval))
        while True:
            if self._online.is_set():
                self._submit(self.version.heartbeat(), reliable=False)
            interval = self.config.heartbeat_interval_s or float(self._variables["HeartbeatInterval"])
            await self.clock.sleep(interval * self.rng.uniform(0.95, 1.05))

    def _status(self, state: str) -> None:
        self._state = state
        if self._online.is_set():
            self._submit(self.version.status(1, state, self.clock.now()), reliable=False)

    # ---- sessions --------------------------------------------------------------------------------------------

    async def _session_loop(self) -> None:
        done = failed = 0
        pause = self.rng.uniform(0, self.config.gap_s)
        while not self._shutting_down and (self.config.sessions == 0 or done < self.config.sessions):
            plug_in = await self._wait_for_car(pause)
            if plug_in is None:
                break
            outcome = await self._charge(*plug_in)
            if outcome == "completed":
                done, failed = done + 1, 0
            elif outcome == "refused":
                failed += 1
                if failed >= MAX_FAILED_SESSIONS:  # refused again and again: report instead of looping forever
                    self.stats.error("charger gave up after failed sessions")
                    break
            pause = self.config.gap_s * self.rng.uniform(0.5, 1.5)

    async def _wait_for_car(self, pause_s: float) -> tuple[str, int | None, bool] | None:
        """Wait ``pause_s`` simulated seconds (or a remote start) while online and available."""
        deadline = time.monotonic() + self.clock.real(pause_s)
        while not self._shutting_down:
            if self._pending_start is not None and self._online.is_set():
                plug_in, self._pending_start = self._pending_start, None
                return plug_in
            remaining = deadline - time.monotonic()
            if remaining <= 0 and self._online.is_set() and self._available:
                return self.spec.id_tag, None, False
            self._wake.clear()
            wait_s = remaining if remaining > 0 else 1.0
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(self._wake.wait(), timeout=wait_s)
        return None

    async def _charge(self, id_tag: str, remote_start_id: int | None, remote: bool) -> str:
        """One session from plug-in to unplug: ``completed`` when the server acknowledged its end, ``refused``
        after a refusal or CALLERROR, ``interrupted`` when the connection dropped before it started. A remote
        start is not authorized again (1.6 AuthorizeRemoteTxRequests = false; 2.0.1 AuthorizeRemoteStart = false).
        """
        self._status("Preparing")
        if not remote:
            status = await self._authorization(id_tag)
            if status != "Accepted":
                self._status("Available")
                return "interrupted" if status == "NoAnswer" and self._offline else "refused"
        tx = Transaction(id_tag=id_tag, remote_start_id=remote_start_id)
        curve = CURVES[self.spec.kind](Vehicle.random(self.rng), self.spec.limit_w, self._register_wh)
        self._tx, self._stop_reason = tx, None
        start_wh = curve.reading().energy_wh
        last = self.clock.now()
        result = await self._request(self.version.start(tx, curve.reading(), last, self._offline), reliable=True)
        if result is None:
            self._tx = None
            self._status("Available")
            return "refused"
        self.stats.sessions_started += 1
        if self.version.start_result(tx, result) != "Accepted":
            self._stop_reason = "DeAuthorized"
        else:
            self._status("Charging")
            last = await self._charging(tx, curve, last)
            if self._stop_reason is None and self.config.idle_s > 0:
                last = await self._parking(tx, curve, last)
        reading = curve.advance(self._since(last))
        self._register_wh = reading.energy_wh
        reason = self._stop_reason or "Local"
        stop = self.version.stop(tx, reading, self.clock.now(), reason, self._offline)
        self._status("Finishing")
        answer = await self._request(stop, reliable=True)
        self._tx = None
        self._status("Available" if self._available else "Unavailable")
        if self._reset is not None:
            self._apply_reset()
        if answer is None:
            return "refused"
        self.stats.sessions_completed += 1
        self.sessions_completed += 1
        self.completed.append((tx.transaction_id or "", start_wh, reading.energy_wh))
        return "completed"

    async def _authorization(self, id_tag: str) -> str:
        """Authorize's idTagInfo/idTokenInfo status, or ``NoAnswer`` (connection lost or CALLERROR)."""
        result = await self._request(self.version.authorize(id_tag), reliable=False)
        status = "NoAnswer" if result is None else self.version.authorize_result(result)
        if status != "Accepted":
            self.stats.error(f"authorize:{status}")
        return status

    async def _charging(self, tx: Transaction, curve: ChargeCurve, last: Any) -> Any:
        started = last
        # The driver's stay: between half and all of the longest charge. With one fixed length, the AC sessions
        # (rarely full before it) of a fleet that connected together all ended together, a stop wave every
        # cycle that a real fleet does not have (benchmarks/soak.py).
        stay_s = self.config.max_session_s * self.rng.uniform(0.5, 1.0)
        while not curve.full and self._stop_reason is None:
            left = stay_s - (self.clock.now() - started).total_seconds()
            if left <= 0:
                break
            interval = min(self.config.meter_interval_s * self.rng.uniform(0.97, 1.03), left)
            self._wake.clear()
            if await self.clock.wait(self._wake, interval):
                continue
            if self._online.is_set() and not self._outbox.empty():
                # Online but behind (the server answers slower than the sample interval, as in a burst): this
                # sample would only wait in the queue; the next one covers its interval (the register is cumulative).
                continue
            now = self.clock.now()
            reading = curve.advance((now - last).total_seconds())
            last = now
            self._register_wh = reading.energy_wh
            self._submit(self.version.meter(tx, reading, now, self._offline), reliable=True)
        return last

    async def _parking(self, tx: Transaction, curve: ChargeCurve, last: Any) -> Any:
        """Car stays plugged in without charging (SuspendedEV): idle/parking time for the tariff."""
        reading = curve.advance(self._since(last))
        last = self.clock.now()
        idle = Reading(reading.energy_wh, 0.0, 0.0, reading.soc)
        suspended = self.version.suspended(tx, idle, last, self._offline)
        if suspended is not None:
            self._submit(suspended, reliable=True)
        self._status("SuspendedEV")
        until = self.clock.now().timestamp() + self.config.idle_s
        while self._stop_reason is None:
            left = until - self.clock.now().timestamp()
            if left <= 0:
                break
            self._wake.clear()
            if await self.clock.wait(self._wake, min(self.config.meter_interval_s, left)):
                continue
            self._submit(self.version.meter(tx, idle, self.clock.now(), self._offline), reliable=True)
        return last

    def _since(self, last: Any) -> float:
        return float((self.clock.now() - last).total_seconds())

    @property
    def _offline(self) -> bool:
        return not self._online.is_set()

    # ---- calls from the server (ChargerHooks) ----------------------------------------------------------------

    def server_call(self, action: str) -> None:
        self.stats.server_calls[action] += 1
        self.stats.messages_sent += 1  # the answer

    def remote_start(self, id_tag: str, remote_start_id: int | None) -> bool:
        if self._tx is not None or self._pending_start is not None or not self._available or self._shutting_down:
            return False
        self._pending_start = (id_tag, remote_start_id, True)
        self._wake.set()
        return True

    def remote_stop(self, transaction_id: str) -> bool:
        if self._tx is None or self._tx.transaction_id != transaction_id or self._stop_reason is not None:
            return False
        self._stop_reason = "Remote"
        self._wake.set()
        return True

    def reset(self, hard: bool) -> bool:
        self._reset = "HardReset" if hard else "SoftReset"
        if self._tx is not None:
            self._stop_reason = self._stop_reason or self._reset
            self._wake.set()
        else:
            self._apply_reset()
        return True

    def _apply_reset(self) -> None:
        """Reboot: drop the connection right after the answer went out; the connection loop boots again."""
        self._reset = None
        self._boot_reason = "RemoteReset"
        link = self._link
        if link is not None:
            asyncio.get_running_loop().call_later(0.05, lambda: asyncio.ensure_future(link._connection.close()))

    def change_availability(self, available: bool) -> bool:
        if self._tx is not None and not available:
            self._available = False  # takes effect after the session (1.6 §5.2: Scheduled)
            return False
        self._available = available
        self._status("Available" if available else "Unavailable")
        self._wake.set()
        return True

    def trigger(self, message: str) -> bool:
        if message not in TRIGGERABLE:
            return False
        loop = asyncio.get_running_loop()
        if message == "Heartbeat":
            loop.call_soon(lambda: self._submit(self.version.heartbeat(), reliable=False))
        else:
            loop.call_soon(lambda: self._status(self._state))
        return True

    def cost_updated(self, total_cost: Any, transaction_id: str) -> None:
        self.last_cost = total_cost

    def get_variable(self, name: str) -> str | None:
        return self._variables.get(name)

    def set_variable(self, name: str, value: str) -> bool:
        if name not in self._variables:
            return False
        try:
            if float(value) <= 0:
                return False
        except ValueError:
            return False
        self._variables[name] = value
        return True
