"""OCPP 2.0.1 CSMS handlers: payload in, use case called, CALLRESULT out. No business rules here.

A transaction is one ``TransactionEvent`` stream (Started, Updated..., Ended; OCPP 2.0.1 Part 2 E01-E15) keyed by
the charger's ``transactionId``. Events replayed after an offline period (``offline: true``) go through the same
path; their timestamps are the original ones.
"""

from __future__ import annotations

import secrets
from typing import Any

from ocpp.routing import on
from ocpp.v201 import ChargePoint, call_result
from ocpp.v201.enums import Action

from voltbill.adapters.ocpp.base import ServerChargePoint, ocpp_datetime, required_param
from voltbill.adapters.ocpp.costs import CostUpdates
from voltbill.adapters.ocpp.meter import parse_timestamp, samples_from
from voltbill.adapters.ocpp.v16 import VENDOR_ID
from voltbill.services import charging
from voltbill.services.charging import (
    Authorization,
    BootReport,
    SessionStop,
    StartSession,
    StatusChange,
    StopSession,
    TransactionUpdate,
)

_RESET_TYPES = {"soft": "OnIdle", "hard": "Immediate"}


def id_token_info(auth: Authorization | None) -> dict[str, str] | None:
    return None if auth is None else {"status": auth.status}


def _total_cost(stopped: SessionStop) -> float | None:
    """OCPP 2.0.1 TransactionEventResponse.totalCost: the final cost incl. taxes (a JSON number on the wire)."""
    total = stopped.total_cost_incl_vat if stopped.total_cost_incl_vat is not None else stopped.total_cost_excl_vat
    return None if total is None else float(total)


class ChargePoint201(ServerChargePoint, ChargePoint):
    """One connected OCPP 2.0.1 charging station."""

    protocol = "ocpp2.0.1"
    _actions = frozenset(a.value for a in Action)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.costs = CostUpdates(self, self._send_cost)
        # The charging state last stored per transaction of this connection. Chargers commonly repeat
        # transactionInfo.chargingState in every TransactionEvent (the spec requires it only when it changed);
        # pricing needs only the changes, so a repeat is not stored again: at 2,500 2.0.1 chargers it was a
        # history row and an upsert per MeterValuePeriodic event (benchmarks/soak.py).
        self._charging_states: dict[str, str] = {}

    @on(Action.boot_notification, skip_schema_validation=True)
    async def on_boot_notification(self, charging_station: dict[str, Any], reason: str, **kw: Any) -> Any:
        station = charging_station
        firmware = station.get("firmware_version")
        await self.gateway.record(
            BootReport(self.id, self.protocol, station.get("vendor_name"), station.get("model"), firmware)
        )
        return call_result.BootNotification(
            current_time=ocpp_datetime(self.gateway.ctx.clock.now()),
            interval=self.gateway.settings.ocpp_heartbeat_interval_s,
            status="Accepted",  # type: ignore[arg-type]
        )

    @on(Action.heartbeat, skip_schema_validation=True)
    async def on_heartbeat(self, **kw: Any) -> Any:
        return call_result.Heartbeat(current_time=ocpp_datetime(self.gateway.ctx.clock.now()))

    @on(Action.status_notification, skip_schema_validation=True)
    async def on_status_notification(
        self, timestamp: str, connector_status: str, evse_id: int, connector_id: int, **kw: Any
    ) -> Any:
        await self.gateway.record(
            StatusChange(self.id, evse_id, connector_id, connector_status, parse_timestamp(timestamp))
        )
        return call_result.StatusNotification()

    @on(Action.authorize, skip_schema_validation=True)
    async def on_authorize(self, id_token: dict[str, Any], **kw: Any) -> Any:
        auth = await self.gateway.read(charging.authorize, id_token["id_token"], charge_point_id=self.id)
        return call_result.Authorize(id_token_info=id_token_info(auth))  # type: ignore[arg-type]

    @on(Action.transaction_event, skip_schema_validation=True)
    async def on_transaction_event(
        self, event_type: str, timestamp: str, seq_no: int, transaction_info: dict[str, Any], **kw: Any
    ) -> Any:
        transaction_id = str(transaction_info["transaction_id"])
        at = parse_timestamp(timestamp)
        samples = samples_from(kw.get("meter_value"))
        token = kw.get("id_token") or {}
        uid, uid_type = token.get("id_token"), token.get("type")
        state = transaction_info.get("charging_state")
        if event_type == "Started":
            evse = kw.get("evse") or {}
            started = await self.db(
                charging.start_session, self._start(transaction_id, at, evse, uid, uid_type, state, seq_no, samples)
            )
            self.costs.started(transaction_id, at, None)  # 2.0.1 chargers show the cost: always followed
            self._stored_state(transaction_id, state)
            return call_result.TransactionEvent(id_token_info=id_token_info(started.authorization))  # type: ignore[arg-type]
        if event_type == "Updated":
            auth = None
            if uid:
                auth = await self.db(charging.attach_id_token, self.id, transaction_id, uid, uid_type)
            news = None if state == self._charging_states.get(transaction_id) else state
            await self.gateway.record(TransactionUpdate(self.id, transaction_id, None, samples, news, at, seq_no))
            self._stored_state(transaction_id, state)  # only once stored: a failed write is retried in full
            if samples:
                self.costs.maybe_send(transaction_id, max(s.timestamp for s in samples))
            return call_result.TransactionEvent(id_token_info=id_token_info(auth))  # type: ignore[arg-type]
        # if Started never arrived (lost while offline), the session opens at the event's first reading, if any
        began = min((s.timestamp for s in samples), default=at)
        stop = StopSession(
            charge_point_id=self.id,
            transaction_id=transaction_id,
            timestamp=at,
            reason=transaction_info.get("stopped_reason") or "Local",
            id_token=uid,
            samples=samples,
            seq_no=seq_no,
            start_if_unknown=self._start(
                transaction_id, began, kw.get("evse") or {}, uid, uid_type, state, seq_no, samples
            ),
        )
        stopped = await self.db(charging.stop_session, stop)
        self.costs.forget(transaction_id)
        self._charging_states.pop(transaction_id, None)
        return call_result.TransactionEvent(
            total_cost=_total_cost(stopped),
            id_token_info=id_token_info(stopped.authorization),  # type: ignore[arg-type]
        )

    def _stored_state(self, transaction_id: str, state: str | None) -> None:
        if state is not None:
            self._charging_states[transaction_id] = state

    def _start(
        self,
        transaction_id: str,
        at: Any,
        evse: dict[str, Any],
        uid: str | None,
        uid_type: str | None,
        state: str | None,
        seq_no: int,
        samples: Any,
    ) -> StartSession:
        return StartSession(
            charge_point_id=self.id,
            protocol=self.protocol,
            evse_id=int(evse.get("id", 1)),
            connector_id=int(evse.get("connector_id", 1)),
            timestamp=at,
            meter_start_wh=None,
            id_token=uid,
            id_token_type=uid_type,
            transaction_id=transaction_id,
            seq_no=seq_no,
            charging_state=state,
            samples=samples,
        )

    @on(Action.data_transfer, skip_schema_validation=True)
    async def on_data_transfer(self, vendor_id: str, **kw: Any) -> Any:
        status = "Accepted" if vendor_id == VENDOR_ID else "UnknownVendorId"
        return call_result.DataTransfer(status=status)  # type: ignore[arg-type]

    async def _send_cost(self, transaction_id: str, cost: dict[str, Any]) -> None:
        await self.send_call("CostUpdated", {"totalCost": float(cost["total"]), "transactionId": transaction_id})

    async def command(self, command: str, params: dict[str, Any]) -> Any:
        """An operator command (see ``connections``) as OCPP 2.0.1 CALLs; returns the charger's answer."""
        if command == "remote-start":
            payload: dict[str, Any] = {
                "idToken": {
                    "idToken": required_param(params, "id_token"),
                    "type": params.get("id_token_type", "Central"),
                },
                "remoteStartId": secrets.randbelow(2**31 - 1) + 1,
            }
            if params.get("evse_id") or params.get("connector_id"):
                payload["evseId"] = int(params.get("evse_id") or params["connector_id"])
            return await self.send_call("RequestStartTransaction", payload)
        if command == "remote-stop":
            return await self.send_call(
                "RequestStopTransaction", {"transactionId": str(required_param(params, "transaction_id"))}
            )
        if command == "change-availability":
            payload = {"operationalStatus": "Operative" if params.get("operative", True) else "Inoperative"}
            if params.get("evse_id"):
                payload["evse"] = {"id": int(params["evse_id"])}
                if params.get("connector_id"):
                    payload["evse"]["connectorId"] = int(params["connector_id"])
            return await self.send_call("ChangeAvailability", payload)
        if command == "reset":
            kind = str(params.get("type", "soft")).lower()
            return await self.send_call("Reset", {"type": _RESET_TYPES.get(kind, params.get("type"))})
        if command == "get-variables":
            data = [
                {"component": {"name": v["component"]}, "variable": {"name": v["variable"]}}
                for v in required_param(params, "variables")
            ]
            return await self.send_call("GetVariables", {"getVariableData": data})
        if command == "set-variables":
            data = [
                {
                    "attributeValue": str(v["value"]),
                    "component": {"name": v["component"]},
                    "variable": {"name": v["variable"]},
                }
                for v in required_param(params, "variables")
            ]
            return await self.send_call("SetVariables", {"setVariableData": data})
        return await self.send_call(command, params)
