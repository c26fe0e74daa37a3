"""Live charger connections of this process, and commands sent to them.

``send_command(cp_id, command, params)`` is what REST operator commands and payments use. ``command`` is a
version-neutral name (``remote-start``, ``remote-stop``, ``change-availability``, ``reset``, ``get-variables``,
``set-variables``) that each version translates to its OCPP action, or an OCPP action of the charger's version
sent as is (``params`` is then the OCPP payload). One connection per charge point id: a new connection replaces
the old one, which is closed.
"""

from __future__ import annotations

import asyncio
from typing import TYPE_CHECKING, Any

from voltbill.domain.errors import Conflict

if TYPE_CHECKING:
    from voltbill.adapters.ocpp.base import ServerChargePoint


class ConnectionRegistry:
    """Charge point id -> its live ``ServerChargePoint``."""

    def __init__(self) -> None:
        self._live: dict[str, ServerChargePoint] = {}

    def add(self, charge_point: ServerChargePoint) -> ServerChargePoint | None:
        """Register ``charge_point``; return the connection it replaces, if any (the caller closes it)."""
        old = self._live.get(charge_point.id)
        self._live[charge_point.id] = charge_point
        return old

    def remove(self, charge_point: ServerChargePoint) -> None:
        if self._live.get(charge_point.id) is charge_point:
            del self._live[charge_point.id]

    def get(self, charge_point_id: str) -> ServerChargePoint | None:
        return self._live.get(charge_point_id)

    def connected(self) -> list[str]:
        return list(self._live)

    async def send_command(self, charge_point_id: str, command: str, params: dict[str, Any] | None = None) -> Any:
        """Send ``command`` to the charger and return its answer (see the module docstring)."""
        charge_point = self.get(charge_point_id)
        if charge_point is None:
            raise Conflict(
                f"charge point {charge_point_id} is not connected; retry when it is online.",
                code="charge_point_offline",
                field="charge_point_id",
            )
        return await charge_point.command(command, params or {})  # type: ignore[attr-defined]

    def send_command_threadsafe(
        self, charge_point_id: str, command: str, params: dict[str, Any] | None = None, *, timeout: float = 60.0
    ) -> Any:
        """``send_command`` from a worker thread (an event consumer), on the loop that owns the connection."""
        charge_point = self.get(charge_point_id)
        if charge_point is None:
            raise Conflict(
                f"charge point {charge_point_id} is not connected; retry when it is online.",
                code="charge_point_offline",
                field="charge_point_id",
            )
        future = asyncio.run_coroutine_threadsafe(
            self.send_command(charge_point_id, command, params), charge_point.loop
        )
        return future.result(timeout)


registry = ConnectionRegistry()


class ConnectionsPerAddress:
    """How many OCPP connections (handshakes in progress included) each remote address holds, at most ``limit``
    (0: no limit). Each charge point id holds one connection, so chargers are bounded by their registrations; what
    this bounds is a host that opens handshakes it cannot finish (unknown ids, wrong passwords, half-open sockets)
    to take the server's sockets, memory and password checks from the chargers."""

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self._open: dict[str, int] = {}

    def admit(self, address: str) -> bool:
        """Count one more connection from ``address``; False (nothing counted) when it holds ``limit`` already."""
        held = self._open.get(address, 0)
        if self.limit and held >= self.limit:
            return False
        self._open[address] = held + 1
        return True

    def release(self, address: str) -> None:
        """Forget one connection of ``address`` (after ``admit`` returned True)."""
        held = self._open.pop(address, 0) - 1
        if held > 0:
            self._open[address] = held


async def send_command(charge_point_id: str, command: str, params: dict[str, Any] | None = None) -> Any:
    """Send a command to a connected charger of this process (module-level entry point)."""
    return await registry.send_command(charge_point_id, command, params)
