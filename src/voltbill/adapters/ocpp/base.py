"""What both OCPP versions share on the server side: frame handling with the spec's CALLERRORs, running use
cases off the event loop, and sending CALLs (operator commands, cost updates) to the charger."""

from __future__ import annotations

import asyncio
import logging
import uuid
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from ocpp.charge_point import camel_to_snake_case, remove_nones, serialize_as_dict, snake_to_camel_case
from ocpp.exceptions import OCPPError
from ocpp.messages import Call, CallError, CallResult
from starlette.websockets import WebSocketDisconnect

from voltbill.adapters.ocpp.frames import CODES, FrameError, dumps, parse_frame, validate_call
from voltbill.domain.errors import InvalidInput, VoltbillError

if TYPE_CHECKING:
    from voltbill.adapters.ocpp.connection import WebSocketConnection
    from voltbill.adapters.ocpp.costs import CostUpdates
    from voltbill.adapters.ocpp.gateway import OcppGateway

log = logging.getLogger("voltbill.ocpp")

_QUEUED_CALLS = 8  # CALLs read ahead of their handling per connection (OCPP-J allows one open CALL per side)


class ChargerCallFailed(VoltbillError):
    """The charger answered a CALL with a CALLERROR, did not answer in time, or is not connected."""

    code = "charger_call_failed"


def ocpp_datetime(moment: datetime) -> str:
    """An OCPP dateTime: UTC, millisecond precision, ``Z``."""
    return moment.astimezone(UTC).isoformat(timespec="milliseconds").replace("+00:00", "Z")


class ServerChargePoint:
    """Mixin for ``ocpp.v16.ChargePoint`` / ``ocpp.v201.ChargePoint`` subclasses: one per connected charger.

    Replaces the library's frame routing so that every malformed frame or payload is answered with the CALLERROR
    the spec names (the library only logs unparseable frames) and the connection stays up.
    """

    protocol: str  # the WebSocket subprotocol, "ocpp1.6" or "ocpp2.0.1"
    costs: CostUpdates  # live cost updates of this connection (set by each version)
    _ocpp_version: str
    _actions: frozenset[str]  # every action the version defines (to tell NotImplemented from NotSupported)
    route_map: dict[str, dict[str, Any]]
    _call_lock: asyncio.Lock
    _response_timeout: float
    id: str

    def __init__(self, charge_point_id: str, connection: WebSocketConnection, gateway: OcppGateway) -> None:
        super().__init__(  # type: ignore[call-arg]
            charge_point_id, connection, response_timeout=gateway.settings.ocpp_response_timeout_s, logger=log
        )
        self.connection = connection
        self.gateway = gateway
        self.loop = asyncio.get_running_loop()
        self._calls: asyncio.Queue[Call] = asyncio.Queue(maxsize=_QUEUED_CALLS)
        self._waiting: dict[str, asyncio.Future[CallResult | CallError]] = {}  # our open CALL, by message id

    async def _send(self, message: str) -> None:
        await self.connection.send(message)

    async def _answer_error(self, error: FrameError) -> None:
        await self._send(error.call_error(self._ocpp_version).to_json())

    async def start(self) -> None:
        """Read frames until the charger disconnects. CALLs are handled in order by a separate task, so the
        reading never waits for a handler: a handler's use case may itself wait for the charger's answer to a
        CALL we sent (payments stopping a session remotely), and that answer must still be read."""
        worker = asyncio.create_task(self._handle_calls(), name=f"ocpp-calls-{self.id}")
        try:
            while True:
                await self.route_message(await self.connection.recv())
        finally:
            worker.cancel()
            self.costs.close()
            gone = ChargerCallFailed(f"charge point {self.id} disconnected.", code="charger_gone")
            for waiting in self._waiting.values():  # commands to this connection fail now, not at their timeout
                if not waiting.done():
                    waiting.set_exception(gone)

    async def route_message(self, raw_msg: str) -> None:
        """Route one frame: CALLs to the in-order handler task, CALLRESULT/CALLERROR to the waiting ``call``."""
        self.gateway.seen(self.id)
        if len(raw_msg) > self.gateway.settings.ocpp_max_frame_bytes:
            limit = self.gateway.settings.ocpp_max_frame_bytes
            await self._answer_error(FrameError("format", "-1", f"the frame is larger than {limit} bytes"))
            return
        try:
            msg = parse_frame(raw_msg)
        except FrameError as error:
            log.info("%s: refused frame (%s): %s", self.id, error.kind, error.description)
            await self._answer_error(error)
            return
        if isinstance(msg, Call):
            await self._calls.put(msg)  # bounded: a charger that floods CALLs waits here (back-pressure)
        else:
            waiting = self._waiting.get(msg.unique_id)
            if waiting is not None and not waiting.done():
                waiting.set_result(msg)
            else:
                log.info("%s: answer to no open CALL (late or unknown message id %s)", self.id, msg.unique_id)

    async def _handle_calls(self) -> None:
        while True:
            msg = await self._calls.get()
            try:
                await self._dispatch(msg)
            except FrameError as error:
                log.info("%s: refused %s (%s): %s", self.id, msg.action, error.kind, error.description)
                await self._answer_error(error)
            except WebSocketDisconnect:  # the charger left before its answer (it retries the CALL on reconnect)
                log.info("%s: gone before the answer to %s", self.id, msg.action)
            except Exception:  # the next CALL gets its own chance
                log.exception("%s: answering %s failed", self.id, msg.action)

    async def _dispatch(self, msg: Call) -> None:
        if msg.action not in self.route_map:
            kind = "not_supported" if msg.action in self._actions else "not_implemented"
            raise FrameError(kind, msg.unique_id, f"{msg.action} is not handled by this central system")
        validate_call(msg, self._ocpp_version)
        handler = self.route_map[msg.action]["_on_action"]
        try:
            response = await handler(**snake_case(msg.payload))
        except OCPPError as error:
            code = _version_code(error.code, self._ocpp_version)
            await self._send(CallError(msg.unique_id, code, error.description, error.details).to_json())
            return
        except Exception:
            log.exception("%s: handling %s failed", self.id, msg.action)
            await self._send(msg.create_call_error(None).to_json())  # InternalError
            return
        payload = snake_to_camel_case(remove_nones(serialize_as_dict(response)))
        await self._send(CallResult(msg.unique_id, payload).to_json())

    async def db(self, use_case: Callable[..., Any], *args: Any, **kwargs: Any) -> Any:
        """Run ``use_case(uow, ctx, *args, **kwargs)`` in a worker thread, in its own unit of work."""
        return await self.gateway.run(use_case, *args, **kwargs)

    async def send_call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        """Send a CALL and return the charger's CALLRESULT payload; raise ``ChargerCallFailed`` otherwise.

        Safe from any task of this event loop; CALLs are sent one at a time (OCPP-J allows one open CALL).
        """
        if action not in self._actions:
            raise InvalidInput(f"{action} is not an OCPP {self._ocpp_version} action or command.", field="command")
        call = Call(str(uuid.uuid4()), action, payload)
        try:
            validate_call(call, self._ocpp_version)
        except FrameError as error:
            raise InvalidInput(error.description, code="invalid_command", field="params") from error
        async with self._call_lock:
            waiting = self._waiting[call.unique_id] = self.loop.create_future()
            try:
                try:
                    await self._send(dumps([2, call.unique_id, action, payload]))
                except Exception as exc:
                    raise ChargerCallFailed(f"charge point {self.id} disconnected.", code="charger_gone") from exc
                response = await asyncio.wait_for(waiting, self._response_timeout)
            except TimeoutError as exc:
                raise ChargerCallFailed(
                    f"charge point {self.id} did not answer {action} within {self._response_timeout:g} s.",
                    code="charger_timeout",
                ) from exc
            finally:
                del self._waiting[call.unique_id]
        if isinstance(response, CallError):
            raise ChargerCallFailed(
                f"charge point {self.id} refused {action}: {response.error_code} {response.error_description}".strip()
            )
        assert isinstance(response, CallResult)
        return dict(response.payload)


_snake_keys: dict[str, str] = {}


def snake_case(data: Any) -> Any:
    """The library's camelCase -> snake_case payload conversion with the key translations memoised (it runs a
    few regular expressions per key, per message: a hot spot at thousands of messages per second)."""
    if isinstance(data, dict):
        out = {}
        for key, value in data.items():
            snake = _snake_keys.get(key)
            if snake is None:
                snake = next(iter(camel_to_snake_case({key: None})))
                if len(_snake_keys) < 10_000:  # keys are schema-checked, but customData may carry any
                    _snake_keys[key] = snake
            out[snake] = snake_case(value)
        return out
    if isinstance(data, list):
        return [snake_case(v) for v in data]
    return data


def required_param(params: dict[str, Any], name: str) -> Any:
    """``params[name]`` of an operator command, refused by name when missing."""
    if params.get(name) in (None, "", []):
        raise InvalidInput(f"{name} is required for this command.", field=f"params.{name}")
    return params[name]


def _version_code(code: str, version: str) -> str:
    """The library raises 2.0.1 spellings; 1.6 chargers get the 1.6 ones."""
    for v16, v201 in CODES.values():
        if code in (v16, v201):
            return v16 if version == "1.6" else v201
    return code
