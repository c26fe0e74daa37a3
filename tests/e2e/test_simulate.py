"""``voltbill simulate`` against a real server: every simulated session ends completed with a priced CDR."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from decimal import Decimal

from typer.testing import CliRunner

from conftest import LiveServer, random_id
from voltbill.cli import app


def test_simulated_chargers_complete_every_session_with_a_priced_cdr(live_server: LiveServer) -> None:
    prefix = random_id("S")[:7] + "-"  # ids stay short: a 1.6 idTag ("{id}-TAG") has at most 20 characters
    chargers, sessions = 6, 2
    command = [
        sys.executable, "-m", "voltbill", "simulate",
        "--url", live_server.ws_url, "--chargers", str(chargers), "--protocol", "mixed", "--kind", "mixed",
        "--sessions", str(sessions), "--speed", "1800", "--meter-interval", "300", "--max-session-minutes", "30",
        "--idle-minutes", "10", "--gap-minutes", "1", "--prefix", prefix, "--password", "pw-{id}-0123456789",
        "--register", live_server.base_url, "--api-key", live_server.api_key, "--seed", "11", "--json",
        "--duration", "60",
    ]  # fmt: skip
    env = {k: v for k, v in os.environ.items() if not k.startswith("VOLTBILL_")}
    done = subprocess.run(command, capture_output=True, text=True, timeout=90, env=env, check=False)
    assert done.returncode == 0, done.stderr
    summary = json.loads(done.stdout)
    assert summary["chargers_connected"] == chargers
    assert summary["sessions_completed"] == chargers * sessions
    assert summary["errors"] == 0, summary["errors_by_kind"]
    assert {"StartTransaction", "StopTransaction", "MeterValues", "TransactionEvent"} <= set(summary["latency_ms"])

    found = []
    for n in range(1, chargers + 1):
        page = live_server.api.get("/api/v1/sessions", params={"charge_point_id": f"{prefix}{n:05d}", "limit": 50})
        page.raise_for_status()
        found.extend(page.json()["items"])
    assert len(found) == chargers * sessions
    for session in found:
        assert session["status"] == "completed", session
        cdr = live_server.api.get(f"/api/v1/cdrs/{session['cdr_id']}").json()
        assert Decimal(str(cdr["total_energy"])) == Decimal(str(session["kwh"])) > 0
        assert Decimal(str(cdr["total_cost"]["excl_vat"])) > 0
        assert Decimal(str(cdr["total_parking_time"])) > 0, "the 10 simulated idle minutes are parking time"
    cdr_ids = [s["cdr_id"] for s in found]
    assert len(set(cdr_ids)) == len(cdr_ids)


def test_a_bad_protocol_is_one_error_line_and_exit_code_2() -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--url", "ws://127.0.0.1:9/ocpp", "--chargers", "1", "--protocol", "ocpp3"]
    )
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == ["error: --protocol must be ocpp1.6, ocpp2.0.1 or mixed, got 'ocpp3'."]


def test_an_unreachable_server_is_one_error_line_and_exit_code_1() -> None:
    result = CliRunner().invoke(
        app, ["simulate", "--url", "ws://127.0.0.1:9/ocpp", "--chargers", "1", "--duration", "1.5", "--json"]
    )
    assert result.exit_code == 1
    assert "error: no charger could connect to ws://127.0.0.1:9/ocpp (connect:" in result.output
