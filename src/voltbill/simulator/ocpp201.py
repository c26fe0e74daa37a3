"""OCPP 2.0.1 side of the simulated charger.

Transaction meter values travel in TransactionEvent(Updated, MeterValuePeriodic) as OCPP 2.0.1 Part 2 J02
prescribes; the charger chooses the transactionId and numbers its events with seqNo (E01-E07).
"""

from __future__ import annotations

import uuid
from datetime import datetime
from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call, call_result
from ocpp.v201.enums import Action

from voltbill.simulator.curves import Reading
from voltbill.simulator.protocol import ChargerHooks, Transaction, iso


def sampled_values(reading: Reading, context: str) -> list[dict[str, Any]]:
    """The four measurands of one sample (OCPP 2.0.1 SampledValueType; values are numbers)."""
    return [
        {
            "value": reading.energy_wh,
            "context": context,
            "measurand": "Energy.Active.Import.Register",
            "location": "Outlet",
            "unitOfMeasure": {"unit": "Wh"},
        },
        {
            "value": reading.power_w,
            "context": context,
            "measurand": "Power.Active.Import",
            "unitOfMeasure": {"unit": "W"},
        },
        {"value": reading.current_a, "context": context, "measurand": "Current.Import", "unitOfMeasure": {"unit": "A"}},
        {
            "value": reading.soc,
            "context": context,
            "measurand": "SoC",
            "location": "EV",
            "unitOfMeasure": {"unit": "Percent"},
        },
    ]


def _variable_name(data: dict[str, Any]) -> str:
    return str(data["variable"]["name"])


class Link201(ChargePoint):
    """One WebSocket connection of a 2.0.1 charging station; answers the CSMS's calls through ``hooks``."""

    def __init__(self, charger_id: str, connection: Any, hooks: ChargerHooks, timeout: float) -> None:
        super().__init__(charger_id, connection, response_timeout=timeout)
        self.hooks = hooks

    @on(Action.request_start_transaction)
    def on_request_start(
        self, id_token: dict[str, Any], remote_start_id: int, **_: Any
    ) -> call_result.RequestStartTransaction:
        self.hooks.server_call("RequestStartTransaction")
        ok = self.hooks.remote_start(str(id_token["id_token"]), remote_start_id)
        return call_result.RequestStartTransaction(status="Accepted" if ok else "Rejected")

    @on(Action.request_stop_transaction)
    def on_request_stop(self, transaction_id: str, **_: Any) -> call_result.RequestStopTransaction:
        self.hooks.server_call("RequestStopTransaction")
        ok = self.hooks.remote_stop(transaction_id)
        return call_result.RequestStopTransaction(status="Accepted" if ok else "Rejected")

    @on(Action.reset)
    def on_reset(self, type: str, **_: Any) -> call_result.Reset:
        self.hooks.server_call("Reset")
        ok = self.hooks.reset(hard=type == "Immediate")
        return call_result.Reset(status="Accepted" if ok else "Rejected")

    @on(Action.change_availability)
    def on_change_availability(self, operational_status: str, **_: Any) -> call_result.ChangeAvailability:
        self.hooks.server_call("ChangeAvailability")
        now = self.hooks.change_availability(operational_status == "Operative")
        return call_result.ChangeAvailability(status="Accepted" if now else "Scheduled")

    @on(Action.get_variables)
    def on_get_variables(self, get_variable_data: list[dict[str, Any]], **_: Any) -> call_result.GetVariables:
        self.hooks.server_call("GetVariables")
        results = []
        for item in get_variable_data:
            value = self.hooks.get_variable(_variable_name(item))
            result: dict[str, Any] = {
                "attributeStatus": "Accepted" if value is not None else "UnknownVariable",
                "component": item["component"],
                "variable": item["variable"],
            }
            if value is not None:
                result["attributeValue"] = value
            results.append(result)
        return call_result.GetVariables(get_variable_result=results)

    @on(Action.set_variables)
    def on_set_variables(self, set_variable_data: list[dict[str, Any]], **_: Any) -> call_result.SetVariables:
        self.hooks.server_call("SetVariables")
        results = [
            {
                "attributeStatus": "Accepted"
                if self.hooks.set_variable(_variable_name(item), str(item["attribute_value"]))
                else "UnknownVariable",
                "component": item["component"],
                "variable": item["variable"],
            }
            for item in set_variable_data
        ]
        return call_result.SetVariables(set_variable_result=results)

    @on(Action.data_transfer)
    def on_data_transfer(self, vendor_id: str, **_: Any) -> call_result.DataTransfer:
        self.hooks.server_call("DataTransfer")
        return call_result.DataTransfer(status="Accepted")

    @on(Action.cost_updated)
    def on_cost_updated(self, total_cost: Any, transaction_id: str, **_: Any) -> call_result.CostUpdated:
        self.hooks.server_call("CostUpdated")
        self.hooks.cost_updated(total_cost, transaction_id)
        return call_result.CostUpdated()

    @on(Action.trigger_message)
    def on_trigger_message(self, requested_message: str, **_: Any) -> call_result.TriggerMessage:
        self.hooks.server_call("TriggerMessage")
        ok = self.hooks.trigger(requested_message)
        return call_result.TriggerMessage(status="Accepted" if ok else "NotImplemented")

    @on(Action.unlock_connector)
    def on_unlock_connector(self, evse_id: int, connector_id: int, **_: Any) -> call_result.UnlockConnector:
        self.hooks.server_call("UnlockConnector")
        return call_result.UnlockConnector(status="Unlocked")


# stop reason (1.6 vocabulary) -> (2.0.1 stoppedReason, triggerReason); OCPP 2.0.1 Part 2 E06 / E07
_STOP = {
    "Local": ("Local", "StopAuthorized"),
    "Remote": ("Remote", "RemoteStop"),
    "EVDisconnected": ("EVDisconnected", "EVCommunicationLost"),
    "SoftReset": ("ImmediateReset", "ResetCommand"),
    "HardReset": ("ImmediateReset", "ResetCommand"),
    "DeAuthorized": ("DeAuthorized", "Deauthorized"),
    "Other": ("Other", "AbnormalCondition"),
}
_CONNECTOR_STATUS = {
    "Available": "Available",
    "Preparing": "Occupied",
    "Charging": "Occupied",
    "SuspendedEV": "Occupied",
    "Finishing": "Occupied",
    "Unavailable": "Unavailable",
}


def _id_token(id_tag: str) -> dict[str, str]:
    return {"idToken": id_tag, "type": "ISO14443"}


class Ocpp201:
    """Payloads and result readers for OCPP 2.0.1."""

    subprotocol = "ocpp2.0.1"

    def link(self, charger_id: str, connection: Any, hooks: ChargerHooks, timeout: float) -> Link201:
        return Link201(charger_id, connection, hooks, timeout)

    def boot(self, vendor: str, model: str, reason: str) -> call.BootNotification:
        return call.BootNotification(
            charging_station={"vendorName": vendor, "model": model, "firmwareVersion": "sim-1"}, reason=reason
        )

    def boot_result(self, result: call_result.BootNotification) -> tuple[str, int]:
        return str(result.status), int(result.interval)

    def heartbeat(self) -> call.Heartbeat:
        return call.Heartbeat()

    def status(self, connector_id: int, state: str, now: datetime) -> call.StatusNotification:
        return call.StatusNotification(
            timestamp=iso(now), connector_status=_CONNECTOR_STATUS[state], evse_id=connector_id, connector_id=1
        )

    def authorize(self, id_tag: str) -> call.Authorize:
        return call.Authorize(id_token=_id_token(id_tag))

    def authorize_result(self, result: call_result.Authorize) -> str:
        return str(result.id_token_info["status"])

    def start(self, tx: Transaction, reading: Reading, now: datetime, offline: bool) -> call.TransactionEvent:
        tx.transaction_id = tx.transaction_id or uuid.uuid4().hex
        info: dict[str, Any] = {"transactionId": tx.transaction_id, "chargingState": "Charging"}
        if tx.remote_start_id is not None:
            info["remoteStartId"] = tx.remote_start_id
        return call.TransactionEvent(
            event_type="Started",
            timestamp=iso(now),
            trigger_reason="RemoteStart" if tx.remote_start_id is not None else "Authorized",
            seq_no=tx.next_seq(),
            transaction_info=info,
            meter_value=[{"timestamp": iso(now), "sampledValue": sampled_values(reading, "Transaction.Begin")}],
            offline=offline or None,
            evse={"id": tx.connector_id, "connectorId": 1},
            id_token=_id_token(tx.id_tag),
        )

    def start_result(self, tx: Transaction, result: call_result.TransactionEvent) -> str:
        info = result.id_token_info or {"status": "Accepted"}
        return str(info["status"])

    def meter(self, tx: Transaction, reading: Reading, now: datetime, offline: bool) -> call.TransactionEvent:
        return self._updated(tx, reading, now, offline, "MeterValuePeriodic", "Charging")

    def suspended(self, tx: Transaction, reading: Reading, now: datetime, offline: bool) -> call.TransactionEvent:
        return self._updated(tx, reading, now, offline, "ChargingStateChanged", "SuspendedEV")

    def _updated(
        self, tx: Transaction, reading: Reading, now: datetime, offline: bool, trigger: str, state: str
    ) -> call.TransactionEvent:
        return call.TransactionEvent(
            event_type="Updated",
            timestamp=iso(now),
            trigger_reason=trigger,
            seq_no=tx.next_seq(),
            transaction_info={"transactionId": tx.transaction_id, "chargingState": state},
            meter_value=[{"timestamp": iso(now), "sampledValue": sampled_values(reading, "Sample.Periodic")}],
            offline=offline or None,
        )

    def stop(
        self, tx: Transaction, reading: Reading, now: datetime, reason: str, offline: bool
    ) -> call.TransactionEvent:
        stopped_reason, trigger = _STOP[reason]
        return call.TransactionEvent(
            event_type="Ended",
            timestamp=iso(now),
            trigger_reason=trigger,
            seq_no=tx.next_seq(),
            transaction_info={
                "transactionId": tx.transaction_id,
                "chargingState": "EVConnected",
                "stoppedReason": stopped_reason,
            },
            meter_value=[{"timestamp": iso(now), "sampledValue": sampled_values(reading, "Transaction.End")}],
            offline=offline or None,
            id_token=_id_token(tx.id_tag),
        )
