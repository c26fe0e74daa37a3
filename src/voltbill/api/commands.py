"""``POST /api/v1/charge-points/{id}/commands/{command}``: operator commands sent to a connected charger.

The same command works for OCPP 1.6 and 2.0.1 chargers; the answer carries the charger's own response payload.
"""

from __future__ import annotations

from typing import Any, Literal

from fastapi import APIRouter, Request
from pydantic import BaseModel, ConfigDict, Field
from starlette.concurrency import run_in_threadpool

from voltbill.adapters.ocpp.base import ChargerCallFailed
from voltbill.api.deps import OperatorDep
from voltbill.api.errors import problem
from voltbill.api.ids import ChargePointId
from voltbill.domain.errors import InvalidInput, NotFound
from voltbill.services import charging, registry

router = APIRouter(prefix="/api/v1/charge-points", tags=["commands"])

Command = Literal["remote-start", "remote-stop", "change-availability", "reset", "get-variables", "set-variables"]


class VariableIn(BaseModel):
    """A configuration variable: 2.0.1 component + variable; 1.6 uses ``variable`` as the configuration key."""

    model_config = ConfigDict(extra="forbid")

    component: str = Field(default="", max_length=50)
    variable: str = Field(min_length=1, max_length=50)
    value: str | None = Field(default=None, max_length=1000)


class CommandIn(BaseModel):
    """Parameters; which ones a command uses: ``remote-start`` id_token (+ connector_id/evse_id, id_token_type),
    ``remote-stop`` session_id or transaction_id, ``change-availability`` operative (+ evse_id/connector_id;
    none = whole charger), ``reset`` type soft/hard, ``get-variables``/``set-variables`` variables."""

    model_config = ConfigDict(extra="forbid")

    id_token: str | None = Field(default=None, max_length=36)
    id_token_type: str | None = Field(default=None, max_length=20)
    connector_id: int | None = Field(default=None, ge=0)
    evse_id: int | None = Field(default=None, ge=0)
    session_id: str | None = Field(default=None, max_length=40)
    transaction_id: str | None = Field(default=None, max_length=36)
    operative: bool = True
    type: Literal["soft", "hard"] = "soft"
    variables: list[VariableIn] | None = None


class CommandOut(BaseModel):
    charge_point_id: str
    command: str
    response: dict[str, Any]


@router.post(
    "/{charge_point_id}/commands/{command}",
    summary="Send a command to a connected charger",
    responses={409: {"description": "charger not connected"}, 502: {"description": "charger refused or timed out"}},
)
async def send_command(
    charge_point_id: ChargePointId, command: Command, body: CommandIn, caller: OperatorDep, request: Request
) -> Any:
    """Remote start/stop, availability, reset, get/set configuration variables (OCPP 1.6 and 2.0.1)."""
    params = body.model_dump(exclude_none=True)
    params["variables"] = [v.model_dump() for v in body.variables or []]
    db = request.app.state.db

    def lookup() -> None:
        with db.uow() as uow:
            if registry.get_charge_point(uow, charge_point_id, operator_id=caller.operator_id) is None:
                raise NotFound(f"charge point {charge_point_id} does not exist.", code="charge_point_not_found")
            if command == "remote-stop" and "transaction_id" not in params:
                session = charging.get_session(uow, str(params.get("session_id", "")), operator_id=caller.operator_id)
                if session is None or session["charge_point_id"] != charge_point_id:
                    raise InvalidInput(
                        "remote-stop needs the session_id of a session at this charger.", field="session_id"
                    )
                params["transaction_id"] = session["transaction_id"]

    await run_in_threadpool(lookup)
    try:
        answer = await request.app.state.ocpp.connections.send_command(charge_point_id, command, params)
    except ChargerCallFailed as exc:
        return problem(502, exc.code, exc.message)
    return CommandOut(charge_point_id=charge_point_id, command=command, response=answer)
