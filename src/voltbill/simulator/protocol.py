"""The protocol-neutral view a simulated charger has of OCPP; one implementation per version.

States (``Available``, ``Preparing``, ``Charging``, ``SuspendedEV``, ``Finishing``, ``Unavailable``) and stop
reasons (``Local``, ``Remote``, ``EVDisconnected``, ``SoftReset``, ``HardReset``, ``DeAuthorized``) use OCPP 1.6
names; the 2.0.1 implementation maps them.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from ocpp.charge_point import ChargePoint

from voltbill.simulator.curves import Reading


@dataclass
class Transaction:
    """A transaction as the charger knows it: ``transaction_id`` (1.6: assigned by the server; 2.0.1: chosen by
    the charger), the ``id_tag`` that started it, 2.0.1 event ``seq_no``, and ``remote_start_id`` if remote."""

    id_tag: str
    connector_id: int = 1
    transaction_id: str | None = None
    seq_no: int = 0
    remote_start_id: int | None = None

    def next_seq(self) -> int:
        """The next TransactionEvent sequence number (OCPP 2.0.1 E: seqNo increments per message)."""
        seq = self.seq_no
        self.seq_no += 1
        return seq


class ChargerHooks(Protocol):
    """What the OCPP link asks the charger when the server calls it."""

    def remote_start(self, id_tag: str, remote_start_id: int | None) -> bool: ...
    def remote_stop(self, transaction_id: str) -> bool: ...
    def reset(self, hard: bool) -> bool: ...
    def change_availability(self, available: bool) -> bool: ...
    def trigger(self, message: str) -> bool: ...
    def cost_updated(self, total_cost: Any, transaction_id: str) -> None: ...
    def server_call(self, action: str) -> None: ...
    def get_variable(self, name: str) -> str | None: ...
    def set_variable(self, name: str, value: str) -> bool: ...


class OcppVersion(Protocol):
    """Payload builders and result readers for one OCPP version."""

    subprotocol: str

    def link(self, charger_id: str, connection: Any, hooks: ChargerHooks, timeout: float) -> ChargePoint: ...
    def boot(self, vendor: str, model: str, reason: str) -> Any: ...
    def boot_result(self, result: Any) -> tuple[str, int]: ...
    def heartbeat(self) -> Any: ...
    def status(self, connector_id: int, state: str, now: datetime) -> Any: ...
    def authorize(self, id_tag: str) -> Any: ...
    def authorize_result(self, result: Any) -> str: ...
    def start(self, tx: Transaction, reading: Reading, now: datetime, offline: bool) -> Any: ...
    def start_result(self, tx: Transaction, result: Any) -> str: ...
    def meter(self, tx: Transaction, reading: Reading, now: datetime, offline: bool) -> Any: ...
    def suspended(self, tx: Transaction, reading: Reading, now: datetime, offline: bool) -> Any | None: ...
    def stop(self, tx: Transaction, reading: Reading, now: datetime, reason: str, offline: bool) -> Any: ...


def iso(ts: datetime) -> str:
    """OCPP timestamp: RFC 3339 UTC with milliseconds and ``Z``."""
    return ts.strftime("%Y-%m-%dT%H:%M:%S.") + f"{ts.microsecond // 1000:03d}Z"
