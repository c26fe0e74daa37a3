"""kill -9 of the server while simulated chargers run sessions: after restart, reconnect and replay of queued
messages (same message ids), every session is stored once and priced exactly once."""

from __future__ import annotations

import asyncio
import os
import random
import signal
import subprocess
import sys
from collections import Counter
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from conftest import API_KEY, free_port
from voltbill.simulator.config import SimulationConfig
from voltbill.simulator.register import register
from voltbill.simulator.runner import build_chargers, run_simulation

ROOT = Path(__file__).resolve().parents[2]


class ServerProcess:
    """``voltbill serve`` as a child process that can be killed with SIGKILL and started again on the same port."""

    def __init__(self, database_url: str, log: Path) -> None:
        self.port = free_port()
        self.base_url = f"http://127.0.0.1:{self.port}"
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("VOLTBILL_")},
            "VOLTBILL_DATABASE_URL": database_url,
            "VOLTBILL_API_KEY": API_KEY,
        }
        self.log = log
        self.proc: subprocess.Popen[bytes] | None = None

    async def start(self) -> None:
        with self.log.open("ab") as out:
            self.proc = subprocess.Popen(
                [sys.executable, "-m", "voltbill", "serve", "--port", str(self.port)],
                env=self.env,
                stdout=out,
                stderr=out,
                cwd=ROOT,
            )
        async with httpx.AsyncClient() as client:
            for _ in range(300):
                try:
                    if (await client.get(f"{self.base_url}/healthz", timeout=2)).status_code == 200:
                        return
                except httpx.HTTPError:
                    pass
                assert self.proc.poll() is None, self.log.read_text()[-3000:]
                await asyncio.sleep(0.1)
        raise AssertionError("the server did not come up within 30 s")

    def kill(self) -> None:
        assert self.proc is not None
        self.proc.send_signal(signal.SIGKILL)
        self.proc.wait(10)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGINT)
            try:
                self.proc.wait(15)
            except subprocess.TimeoutExpired:
                self.proc.kill()


async def test_sessions_survive_kill_9_of_the_server_and_are_priced_exactly_once(
    database_url: str, tmp_path: Path
) -> None:
    server = ServerProcess(database_url, tmp_path / "server.log")
    rng = random.Random(20261128)
    faults: Counter[str] = Counter()
    chargers, sessions = 6, 3
    specs = build_chargers(chargers, prefix="CR-", protocol="mixed", kind="mixed", password="crash-{id}-0123456789")
    config = SimulationConfig(
        url=f"ws://127.0.0.1:{server.port}/ocpp",
        chargers=specs,
        sessions=sessions,
        speed=900,
        meter_interval_s=120,
        max_session_s=45 * 60,
        idle_s=5 * 60,
        gap_s=60,
        timeout_s=20,
        seed=5,
        duration_s=150,
        # outages stretch the run on the wall clock: start simulated time early enough never to catch up with it
        start=datetime.now(UTC) - timedelta(days=3),
    )
    await server.start()
    try:
        await register(server.base_url, API_KEY, specs)
        simulation = asyncio.create_task(run_simulation(config))
        for delay in (rng.uniform(1.0, 4.0), rng.uniform(1.0, 4.0)):
            await asyncio.sleep(delay)
            server.kill()
            faults["kill -9 of the server"] += 1
            await asyncio.sleep(rng.uniform(0.0, 1.0))
            await server.start()
        summary, _ = await simulation
        faults["CALL whose answer was lost, resent"] = sum(
            n for kind, n in summary["errors_by_kind"].items() if kind.startswith(("ConnectionError", "TimeoutError"))
        )
        print(dict(faults))
        assert summary["sessions_completed"] == chargers * sessions, summary["errors_by_kind"]

        async with httpx.AsyncClient(base_url=server.base_url, headers={"Authorization": f"Bearer {API_KEY}"}) as api:
            for spec in specs:
                page = await api.get("/api/v1/sessions", params={"charge_point_id": spec.charger_id, "limit": 100})
                found = page.json()["items"]
                assert len(found) == sessions, (spec.charger_id, found)
                for session in found:
                    assert session["status"] == "completed", session
                    cdrs = (await api.get("/api/v1/cdrs", params={"session_id": session["id"]})).json()["items"]
                    assert [c["id"] for c in cdrs] == [session["cdr_id"]], (session, cdrs)
                    assert float(cdrs[0]["total_energy"]) > 0
    finally:
        server.stop()
