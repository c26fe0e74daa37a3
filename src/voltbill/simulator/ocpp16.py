"""OCPP 1.6J side of the simulated charger."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call, call_result
from ocpp.v16.enums import Action

from voltbill.simulator.curves import Reading
from voltbill.simulator.protocol import ChargerHooks, Transaction, iso


def sampled_values(reading: Reading, context: str) -> list[dict[str, str]]:
    """The four measurands of one sample (OCPP 1.6 §7.45 SampledValue; values are strings)."""
    return [
        {
            "value": f"{reading.energy_wh:.1f}",
            "context": context,
            "measurand": "Energy.Active.Import.Register",
            "unit": "Wh",
            "location": "Outlet",
        },
        {"value": f"{reading.power_w:.1f}", "context": context, "measurand": "Power.Active.Import", "unit": "W"},
        {"value": f"{reading.current_a:.2f}", "context": context, "measurand": "Current.Import", "unit": "A"},
        {"value": f"{reading.soc:.1f}", "context": context, "measurand": "SoC", "unit": "Percent", "location": "EV"},
    ]


class Link16(ChargePoint):
    """One WebSocket connection of a 1.6 charger; answers the central system's calls through ``hooks``."""

    def __init__(self, charger_id: str, connection: Any, hooks: ChargerHooks, timeout: float) -> None:
        super().__init__(charger_id, connection, response_timeout=timeout)
        self.hooks = hooks

    @on(Action.remote_start_transaction)
    def on_remote_start(self, id_tag: str, **_: Any) -> call_result.RemoteStartTransaction:
        self.hooks.server_call("RemoteStartTransaction")
        ok = self.hooks.remote_start(id_tag, None)
        return call_result.RemoteStartTransaction(status="Accepted" if ok else "Rejected")

    @on(Action.remote_stop_transaction)
    def on_remote_stop(self, transaction_id: int, **_: Any) -> call_result.RemoteStopTransaction:
        self.hooks.server_call("RemoteStopTransaction")
        ok = self.hooks.remote_stop(str(transaction_id))
        return call_result.RemoteStopTransaction(status="Accepted" if ok else "Rejected")

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        self.hooks.server_call("Reset")
        ok = self.hooks.reset(hard=type == "Hard")
        return call_result.Reset(status="Accepted" if ok else "Rejected")

    @on(Action.change_availability)
    def on_change_availability(self, type: str, **_: Any) -> call_result.ChangeAvailability:
        self.hooks.server_call("ChangeAvailability")
        now = self.hooks.change_availability(type == "Operative")
        return call_result.ChangeAvailability(status="Accepted" if now else "Scheduled")

    @on(Action.get_configuration)
    def on_get_configuration(self, key: list[str] | None = None, **_: Any) -> call_result.GetConfiguration:
        self.hooks.server_call("GetConfiguration")
        names = key or ["HeartbeatInterval", "MeterValueSampleInterval"]
        known = [(n, self.hooks.get_variable(n)) for n in names]
        return call_result.GetConfiguration(
            configuration_key=[{"key": n, "readonly": False, "value": v} for n, v in known if v is not None],
            unknown_key=[n for n, v in known if v is None] or None,
        )

    @on(Action.change_configuration)
    def on_change_configuration(self, key: str, value: str, **_: Any) -> call_result.ChangeConfiguration:
        self.hooks.server_call("ChangeConfiguration")
        ok = self.hooks.set_variable(key, value)
        return call_result.ChangeConfiguration(status="Accepted" if ok else "NotSupported")

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        self.hooks.server_call("DataTransfer")
        return call_result.DataTransfer(status="Accepted")

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, **_: Any) -> call_result.TriggerMessage:
        self.hooks.server_call("TriggerMessage")
        ok = self.hooks.trigger(requested_message)
        return call_result.TriggerMessage(status="Accepted" if ok else "NotImplemented")

    @on(Action.unlock_connector)
    def on_unlock_connector(self, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        self.hooks.server_call("UnlockConnector")
        return call_result.UnlockConnector(status="Unlocked")


_STOP_REASONS = {"Local", "Remote", "EVDisconnected", "SoftReset", "HardReset", "DeAuthorized", "Other"}


class Ocpp16:
    """Payloads and result readers for OCPP 1.6J."""

    subprotocol = "ocpp1.6"

    def link(self, charger_id: str, connection: Any, hooks: ChargerHooks, timeout: float) -> Link16:
        return Link16(charger_id, connection, hooks, timeout)

    def boot(self, vendor: str, model: str, reason: str) -> call.BootNotification:
        return call.BootNotification(charge_point_vendor=vendor, charge_point_model=model, firmware_version="sim-1")

    def boot_result(self, result: call_result.BootNotification) -> tuple[str, int]:
        return str(result.status), int(result.interval)

    def heartbeat(self) -> call.Heartbeat:
        return call.Heartbeat()

    def status(self, connector_id: int, state: str, now: datetime) -> call.StatusNotification:
        return call.StatusNotification(
            connector_id=connector_id, error_code="NoError", status=state, timestamp=iso(now)
        )

    def authorize(self, id_tag: str) -> call.Authorize:
        return call.Authorize(id_tag=id_tag)

    def authorize_result(self, result: call_result.Authorize) -> str:
        return str(result.id_tag_info["status"])

    def start(self, tx: Transaction, reading: Reading, now: datetime, offline: bool) -> call.StartTransaction:
        return call.StartTransaction(
            connector_id=tx.connector_id, id_tag=tx.id_tag, meter_start=round(reading.energy_wh), timestamp=iso(now)
        )

    def start_result(self, tx: Transaction, result: call_result.StartTransaction) -> str:
        tx.transaction_id = str(result.transaction_id)
        return str(result.id_tag_info["status"])

    def meter(self, tx: Transaction, reading: Reading, now: datetime, offline: bool) -> call.MeterValues:
        return call.MeterValues(
            connector_id=tx.connector_id,
            transaction_id=int(tx.transaction_id or 0),
            meter_value=[{"timestamp": iso(now), "sampledValue": sampled_values(reading, "Sample.Periodic")}],
        )

    def suspended(self, tx: Transaction, reading: Reading, now: datetime, offline: bool) -> None:
        return None  # 1.6 signals SuspendedEV with a StatusNotification only

    def stop(
        self, tx: Transaction, reading: Reading, now: datetime, reason: str, offline: bool
    ) -> call.StopTransaction:
        assert reason in _STOP_REASONS, reason
        return call.StopTransaction(
            meter_stop=round(reading.energy_wh),
            timestamp=iso(now),
            transaction_id=int(tx.transaction_id or 0),
            reason=reason,
            id_tag=tx.id_tag,
            transaction_data=[{"timestamp": iso(now), "sampledValue": sampled_values(reading, "Transaction.End")}],
        )
