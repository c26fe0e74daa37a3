"""OCPP-J transport rules end to end: auth in the handshake, subprotocols, the CALLERROR for each kind of bad
frame (the connection lives on), one connection per charger, limits, operator commands."""

from __future__ import annotations

import asyncio
import json
import time
from typing import Any

import pytest
from websockets.asyncio.client import connect
from websockets.exceptions import ConnectionClosed, InvalidStatus

from live_servers import LiveServer, basic_auth, random_id

PASSWORD = "a-long-charger-password-proto"


def charger(server: LiveServer) -> str:
    cp = random_id("CPP")
    server.register_charger(cp, PASSWORD)
    return cp


@pytest.mark.parametrize(("user", "password"), [("self", "wrong-password"), ("self", None), ("someone-else", PASSWORD)])
async def test_a_wrong_or_missing_password_is_refused_with_401(
    shared_live_server: LiveServer, user: str, password: str | None
) -> None:
    cp = charger(shared_live_server)
    headers = basic_auth(cp if user == "self" else user, password) if password else {}
    with pytest.raises(InvalidStatus) as refused:
        async with connect(f"{shared_live_server.ws_url}/{cp}", subprotocols=["ocpp1.6"], additional_headers=headers):  # type: ignore[list-item]
            pass
    assert refused.value.response.status_code == 401


async def test_an_unknown_charger_is_refused_with_401(shared_live_server: LiveServer) -> None:
    with pytest.raises(InvalidStatus) as refused:
        async with connect(
            f"{shared_live_server.ws_url}/NOT-REGISTERED",
            subprotocols=["ocpp1.6"],  # type: ignore[list-item]
            additional_headers=basic_auth("NOT-REGISTERED", PASSWORD),
        ):
            pass
    assert refused.value.response.status_code == 401


async def test_a_charger_without_a_supported_subprotocol_is_closed(shared_live_server: LiveServer) -> None:
    cp = charger(shared_live_server)
    async with connect(
        f"{shared_live_server.ws_url}/{cp}",
        subprotocols=["ocpp1.5"],  # type: ignore[list-item]
        additional_headers=basic_auth(cp, PASSWORD),
    ) as ws:
        assert ws.subprotocol is None
        with pytest.raises(ConnectionClosed) as closed:
            await ws.recv()
    assert closed.value.rcvd is not None and closed.value.rcvd.code == 1002


BAD_FRAMES_16 = [
    ("not json", "-1", "FormationViolation"),
    ('{"an": "object"}', "-1", "ProtocolError"),
    ('[2, "m1", "Heartbeat"]', "m1", "ProtocolError"),
    ('[7, "m2", "Heartbeat", {}]', "m2", "ProtocolError"),
    ('[2, "m3", "Heartbeat", []]', "m3", "FormationViolation"),
    ('[2, "m4", "FlyToTheMoon", {}]', "m4", "NotImplemented"),
    ('[2, "m5", "DiagnosticsStatusNotification", {"status": "Idle"}]', "m5", "NotSupported"),
    ('[2, "m6", "Authorize", {}]', "m6", "ProtocolError"),
    ('[2, "m7", "Authorize", {"idTag": 42}]', "m7", "TypeConstraintViolation"),
    ('[2, "m8", "Authorize", {"idTag": "this-tag-is-longer-than-twenty"}]', "m8", "TypeConstraintViolation"),
    ('[2, "m9", "Authorize", {"idTag": "A", "extra": 1}]', "m9", "FormationViolation"),
    (
        '[2, "m10", "StatusNotification", {"connectorId": 1, "errorCode": "NoError", "status": "Dancing"}]',
        "m10",
        "PropertyConstraintViolation",
    ),
    (
        '[2, "m11", "MeterValues", {"connectorId": 1, "meterValue": [{"timestamp": "2025-01-01T00:00:00Z",'
        ' "sampledValue": [{"value": "lots"}]}]}]',
        "m11",
        "PropertyConstraintViolation",
    ),
]

BAD_FRAMES_201 = [
    ("not json", "-1", "RpcFrameworkError"),
    ('[7, "n1", "Heartbeat", {}]', "n1", "MessageTypeNotSupported"),
    ('[2, "n2", "FlyToTheMoon", {}]', "n2", "NotImplemented"),
    ('[2, "n3", "Authorize", {}]', "n3", "OccurenceConstraintViolation"),
    ('[2, "n4", "Authorize", {"idToken": {"idToken": "A", "type": "Teleport"}}]', "n4", "PropertyConstraintViolation"),
    ('[2, "n5", "Authorize", {"idToken": {"idToken": "A", "type": "ISO14443"}, "x": 1}]', "n5", "FormatViolation"),
]


@pytest.mark.parametrize(("protocol", "frames"), [("ocpp1.6", BAD_FRAMES_16), ("ocpp2.0.1", BAD_FRAMES_201)])
async def test_malformed_frames_get_the_spec_callerror_and_the_connection_lives_on(
    shared_live_server: LiveServer, ocpp_client: Any, protocol: str, frames: list[tuple[str, str, str]]
) -> None:
    cp = charger(shared_live_server)
    async with ocpp_client(shared_live_server, cp, PASSWORD, protocol) as client:
        for frame, message_id, code in frames:
            answer = await client.send_raw(frame)
            assert answer[:3] == [4, message_id, code], frame
        assert "currentTime" in await client.ok("Heartbeat", {})


async def test_a_frame_over_the_size_limit_is_refused_and_the_connection_lives_on(
    start_live_server: Any, ocpp_client: Any
) -> None:
    server = start_live_server(ocpp_max_frame_bytes=1024)
    cp = charger(server)
    async with ocpp_client(server, cp, PASSWORD) as client:
        big = json.dumps([2, "big", "DataTransfer", {"vendorId": "x", "data": "y" * 2000}])
        assert (await client.send_raw(big))[:3] == [4, "-1", "FormationViolation"]
        assert "currentTime" in await client.ok("Heartbeat", {})


async def test_a_new_connection_for_the_same_charger_replaces_the_old_one(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    cp = charger(shared_live_server)
    async with (
        ocpp_client(shared_live_server, cp, PASSWORD) as old,
        ocpp_client(shared_live_server, cp, PASSWORD) as new,
    ):
        with pytest.raises(ConnectionClosed):
            await asyncio.wait_for(old.ws.recv(), 5)
        assert "currentTime" in await new.ok("Heartbeat", {})


async def test_operator_commands_reach_the_charger_and_return_its_answer(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    cp = charger(shared_live_server)
    api = shared_live_server.api
    assert api.post(f"/api/v1/charge-points/{cp}/commands/reset", json={}).status_code == 409  # offline
    async with ocpp_client(shared_live_server, cp, PASSWORD, "ocpp2.0.1") as client:
        client.auto_answer = {
            "RequestStartTransaction": {"status": "Accepted"},
            "Reset": {"status": "Accepted"},
            "GetVariables": {
                "getVariableResult": [
                    {
                        "attributeStatus": "Accepted",
                        "attributeValue": "300",
                        "component": {"name": "OCPPCommCtrlr"},
                        "variable": {"name": "HeartbeatInterval"},
                    }
                ]
            },
        }

        def command(name: str, body: dict[str, Any]) -> Any:
            url = f"/api/v1/charge-points/{cp}/commands/{name}"
            return asyncio.create_task(asyncio.to_thread(api.post, url, json=body))

        sent = command("remote-start", {"id_token": "TAG-REMOTE", "evse_id": 1})
        await client.serve_calls()
        answer = await sent
        assert answer.status_code == 200, answer.text
        assert answer.json()["response"] == {"status": "Accepted"}
        call = client.received_calls[-1]
        assert call[2] == "RequestStartTransaction"
        assert call[3]["idToken"]["idToken"] == "TAG-REMOTE" and call[3]["evseId"] == 1

        variables = {"variables": [{"component": "OCPPCommCtrlr", "variable": "HeartbeatInterval"}]}
        sent = command("get-variables", variables)
        await client.serve_calls()
        answer = await sent
        assert answer.json()["response"]["getVariableResult"][0]["attributeValue"] == "300"

        sent = command("reset", {"type": "hard"})
        await client.serve_calls()
        assert (await sent).json()["response"] == {"status": "Accepted"}
        assert client.received_calls[-1][3] == {"type": "Immediate"}


async def test_event_consumers_run_after_the_answer_and_may_command_the_charger(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    """What a use case publishes is consumed after the charger has its answer (``DeferredBus``): a slow consumer of
    ``session.started`` (a card hold at a slow payment provider) does not hold the StartTransaction answer up, and
    it may then stop the session remotely."""
    cp = charger(shared_live_server)
    answers: list[Any] = []

    def slow_then_stop(event: dict[str, Any]) -> None:
        if event["charge_point_id"] == cp:
            time.sleep(3)
            connections = shared_live_server.app.state.ocpp.connections
            params = {"transaction_id": event["transaction_id"]}
            answers.append(connections.send_command_threadsafe(cp, "remote-stop", params, timeout=5))

    shared_live_server.app.state.bus.subscribe("session.started", slow_then_stop)
    async with ocpp_client(shared_live_server, cp, PASSWORD) as client:
        client.auto_answer = {"RemoteStopTransaction": {"status": "Accepted"}}
        start = {"connectorId": 1, "idTag": "ANYONE", "meterStart": 0, "timestamp": "2025-01-01T00:00:00Z"}
        asked = time.monotonic()
        started = await client.ok("StartTransaction", start)
        assert time.monotonic() - asked < 2.5, "the answer waited for the consumer"
        await client.serve_calls()
        for _ in range(50):  # the consumer's thread has the charger's answer a moment later
            if answers:
                break
            await asyncio.sleep(0.1)
    assert answers == [{"status": "Accepted"}]
    assert client.received_calls[0][3] == {"transactionId": started["transactionId"]}


async def test_a_16_session_is_stopped_remotely_by_its_session_id(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    cp = charger(shared_live_server)
    api = shared_live_server.api
    async with ocpp_client(shared_live_server, cp, PASSWORD, "ocpp1.6") as client:
        client.auto_answer = {
            "RemoteStopTransaction": {"status": "Accepted"},
            "ChangeAvailability": {"status": "Scheduled"},
        }
        start = {"connectorId": 2, "idTag": "ANYONE", "meterStart": 0, "timestamp": "2025-01-01T00:00:00Z"}
        txn = (await client.ok("StartTransaction", start))["transactionId"]
        [session] = api.get("/api/v1/sessions", params={"charge_point_id": cp}).json()["items"]

        def command(name: str, body: dict[str, Any]) -> Any:
            url = f"/api/v1/charge-points/{cp}/commands/{name}"
            return asyncio.create_task(asyncio.to_thread(api.post, url, json=body))

        sent = command("remote-stop", {"session_id": session["id"]})
        await client.serve_calls()
        assert (await sent).json()["response"] == {"status": "Accepted"}
        assert client.received_calls[-1][2:] == ["RemoteStopTransaction", {"transactionId": txn}]

        sent = command("change-availability", {"operative": False, "connector_id": 2})
        await client.serve_calls()
        assert (await sent).json()["response"] == {"status": "Scheduled"}
        assert client.received_calls[-1][3] == {"connectorId": 2, "type": "Inoperative"}
    unknown = api.post(f"/api/v1/charge-points/{cp}/commands/remote-stop", json={"session_id": "ses_nope"})
    assert unknown.status_code == 422


async def test_a_command_fails_at_once_when_the_charger_disconnects_before_answering(
    shared_live_server: LiveServer, ocpp_client: Any
) -> None:
    cp = charger(shared_live_server)
    url = f"/api/v1/charge-points/{cp}/commands/reset"
    async with ocpp_client(shared_live_server, cp, PASSWORD) as client:
        sent = asyncio.create_task(asyncio.to_thread(shared_live_server.api.post, url, json={}))
        await client.serve_calls()  # the Reset arrives; the charger goes away without answering
    answer = await asyncio.wait_for(sent, 10)
    assert (answer.status_code, answer.json()["code"]) == (502, "charger_gone")
