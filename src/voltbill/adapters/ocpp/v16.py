"""OCPP 1.6J central system handlers: payload in, use case called, CALLRESULT out. No business rules here."""

from __future__ import annotations

import json
from datetime import datetime
from decimal import Decimal
from typing import Any

from ocpp.routing import on
from ocpp.v16 import ChargePoint, call_result
from ocpp.v16.enums import Action, RegistrationStatus

from voltbill.adapters.ocpp.base import ServerChargePoint, ocpp_datetime, required_param
from voltbill.adapters.ocpp.costs import CostUpdates
from voltbill.adapters.ocpp.meter import parse_timestamp, samples_from
from voltbill.domain.sessions import ENERGY_REGISTER, Sample
from voltbill.services import charging
from voltbill.services.charging import (
    Authorization,
    BootReport,
    StartSession,
    StatusChange,
    StopSession,
    TransactionUpdate,
)

VENDOR_ID = "voltbill"

# OCPP 1.6 §7.2 AuthorizationStatus has no Unknown/NoCredit: an unknown tag is Invalid, a refused payment Blocked.
_ID_TAG_STATUS = {"Unknown": "Invalid", "NoCredit": "Blocked"}


def id_tag_info(auth: Authorization | None) -> dict[str, str] | None:
    if auth is None:
        return None
    return {"status": _ID_TAG_STATUS.get(auth.status, auth.status)}


class ChargePoint16(ServerChargePoint, ChargePoint):
    """One connected OCPP 1.6J charger."""

    protocol = "ocpp1.6"
    _actions = frozenset(a.value for a in Action)

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.costs = CostUpdates(self, self._send_cost if self.gateway.settings.ocpp16_cost_data_transfer else None)

    @on(Action.boot_notification, skip_schema_validation=True)
    async def on_boot_notification(self, charge_point_vendor: str, charge_point_model: str, **kw: Any) -> Any:
        await self.gateway.record(
            BootReport(self.id, self.protocol, charge_point_vendor, charge_point_model, kw.get("firmware_version"))
        )
        return call_result.BootNotification(
            current_time=ocpp_datetime(self.gateway.ctx.clock.now()),
            interval=self.gateway.settings.ocpp_heartbeat_interval_s,
            status=RegistrationStatus.accepted,
        )

    @on(Action.heartbeat, skip_schema_validation=True)
    async def on_heartbeat(self) -> Any:
        return call_result.Heartbeat(current_time=ocpp_datetime(self.gateway.ctx.clock.now()))

    @on(Action.status_notification, skip_schema_validation=True)
    async def on_status_notification(self, connector_id: int, error_code: str, status: str, **kw: Any) -> Any:
        at = parse_timestamp(kw["timestamp"]) if kw.get("timestamp") else self.gateway.ctx.clock.now()
        error = None if error_code == "NoError" else error_code
        await self.gateway.record(StatusChange(self.id, connector_id, connector_id, status, at, error))
        return call_result.StatusNotification()

    @on(Action.authorize, skip_schema_validation=True)
    async def on_authorize(self, id_tag: str) -> Any:
        auth = await self.gateway.read(charging.authorize, id_tag, charge_point_id=self.id)
        return call_result.Authorize(id_tag_info=id_tag_info(auth))  # type: ignore[arg-type]

    @on(Action.start_transaction, skip_schema_validation=True)
    async def on_start_transaction(
        self, connector_id: int, id_tag: str, meter_start: int, timestamp: str, **kw: Any
    ) -> Any:
        started = await self.db(
            charging.start_session,
            StartSession(
                charge_point_id=self.id,
                protocol=self.protocol,
                evse_id=connector_id,
                connector_id=connector_id,
                timestamp=parse_timestamp(timestamp),
                meter_start_wh=Decimal(meter_start),
                id_token=id_tag,
            ),
        )
        method = started.authorization.payment_method if started.authorization else None
        self.costs.started(started.transaction_id, parse_timestamp(timestamp), method)
        return call_result.StartTransaction(
            transaction_id=int(started.transaction_id),
            id_tag_info=id_tag_info(started.authorization),  # type: ignore[arg-type]
        )

    @on(Action.meter_values, skip_schema_validation=True)
    async def on_meter_values(self, connector_id: int, meter_value: list[dict[str, Any]], **kw: Any) -> Any:
        transaction_id = kw.get("transaction_id")
        samples = samples_from(meter_value)
        await self.gateway.record(
            TransactionUpdate(
                charge_point_id=self.id,
                transaction_id=None if transaction_id is None else str(transaction_id),
                connector_id=connector_id,
                samples=samples,
            )
        )
        if transaction_id is not None:
            self.costs.maybe_send(str(transaction_id), max((s.timestamp for s in samples), default=None))
        return call_result.MeterValues()

    @on(Action.stop_transaction, skip_schema_validation=True)
    async def on_stop_transaction(self, meter_stop: int, timestamp: str, transaction_id: int, **kw: Any) -> Any:
        at, samples = parse_timestamp(timestamp), samples_from(kw.get("transaction_data"))
        stopped = await self.db(
            charging.stop_session,
            StopSession(
                charge_point_id=self.id,
                transaction_id=str(transaction_id),
                timestamp=at,
                meter_stop_wh=Decimal(meter_stop),
                reason=kw.get("reason") or "Local",
                id_token=kw.get("id_tag"),
                samples=samples,
                start_if_unknown=self._unknown_start(str(transaction_id), kw.get("id_tag"), at, meter_stop, samples),
            ),
        )
        self.costs.forget(str(transaction_id))
        return call_result.StopTransaction(id_tag_info=id_tag_info(stopped.authorization))  # type: ignore[arg-type]

    def _unknown_start(
        self, transaction_id: str, id_tag: str | None, at: datetime, meter_stop: int, samples: tuple[Sample, ...]
    ) -> StartSession:
        """The start of a transaction known only from its StopTransaction: its earliest energy register reading
        in ``transactionData``, else the stop itself. StopTransaction names no connector, so connector 0 (in
        OCPP 1.6 the charge point as a whole) stands for it."""
        registers = (s for s in samples if s.measurand == ENERGY_REGISTER and not s.phase)
        first = min(registers, key=lambda s: s.timestamp, default=None)
        return StartSession(
            charge_point_id=self.id,
            protocol=self.protocol,
            evse_id=0,
            connector_id=0,
            timestamp=first.timestamp if first else at,
            meter_start_wh=first.value if first else Decimal(meter_stop),
            id_token=id_tag,
            transaction_id=transaction_id,
            samples=samples,
        )

    @on(Action.data_transfer, skip_schema_validation=True)
    async def on_data_transfer(self, vendor_id: str, **kw: Any) -> Any:
        status = "Accepted" if vendor_id == VENDOR_ID else "UnknownVendorId"
        return call_result.DataTransfer(status=status)  # type: ignore[arg-type]

    async def _send_cost(self, transaction_id: str, cost: dict[str, Any]) -> None:
        data = {"transactionId": int(transaction_id), "totalCost": float(cost["total"]), "currency": cost["currency"]}
        await self.send_call(
            "DataTransfer", {"vendorId": VENDOR_ID, "messageId": "CostUpdated", "data": json.dumps(data)}
        )

    async def command(self, command: str, params: dict[str, Any]) -> Any:
        """An operator command (see ``connections``) as OCPP 1.6 CALLs; returns the charger's answer."""
        if command == "remote-start":
            payload: dict[str, Any] = {"idTag": required_param(params, "id_token")}
            if params.get("connector_id") or params.get("evse_id"):
                payload["connectorId"] = int(params.get("connector_id") or params["evse_id"])
            return await self.send_call("RemoteStartTransaction", payload)
        if command == "remote-stop":
            return await self.send_call(
                "RemoteStopTransaction", {"transactionId": int(required_param(params, "transaction_id"))}
            )
        if command == "change-availability":
            kind = "Operative" if params.get("operative", True) else "Inoperative"
            connector = int(params.get("connector_id") or params.get("evse_id") or 0)
            return await self.send_call("ChangeAvailability", {"connectorId": connector, "type": kind})
        if command == "reset":
            return await self.send_call("Reset", {"type": str(params.get("type", "soft")).capitalize()})
        if command == "get-variables":
            keys = [str(v["variable"]) for v in params.get("variables", [])]
            return await self.send_call("GetConfiguration", {"key": keys} if keys else {})
        if command == "set-variables":
            results = []
            for v in required_param(params, "variables"):
                answer = await self.send_call("ChangeConfiguration", {"key": v["variable"], "value": str(v["value"])})
                results.append({"variable": v["variable"], **answer})
            return {"results": results}
        return await self.send_call(command, params)
