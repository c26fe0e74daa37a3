"""Database fault loop: chargers run OCPP 1.6 sessions against ``voltbill serve`` while its PostgreSQL connection,
reached through the fault proxy (``tests/support/faultproxy.py``), is cut, refused or blackholed again and again.

The chargers behave as OCPP 1.6 §4.7 asks for transaction messages: a CALL answered with a CALLERROR, or lost with
the connection, is sent again with the same message id until it is answered. At the end every session is audited in
the database: stored once, completed, with its metered energy and exactly one CDR.

    .venv/bin/python benchmarks/faults.py --chargers 40 --sessions 10 --interval 0.5
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import secrets
import sys
import time
from collections import Counter
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from pathlib import Path
from typing import Any

import httpx
import sqlalchemy as sa
from sqlalchemy.engine import make_url
from websockets.asyncio.client import ClientConnection, connect

sys.path.insert(0, str(Path(__file__).resolve().parent))
sys.path.insert(0, str(Path(__file__).resolve().parent.parent / "tests"))
from ocpp_load import API_KEY, database, machine, register, server
from support.faultproxy import FaultProxy

PREFIX = "FLT-"
KINDS = ("refuse", "blackhole", "cut")


def ts(moment: datetime) -> str:
    return moment.astimezone(UTC).isoformat().replace("+00:00", "Z")


class Charger:
    """One OCPP 1.6 charger that resends unanswered CALLs with their message id."""

    def __init__(self, url: str, cp_id: str, stats: Counter[str], interval_s: float) -> None:
        self.url, self.id, self.stats, self.interval_s = url, cp_id, stats, interval_s
        self.ws: ClientConnection | None = None

    async def _connection(self) -> ClientConnection:
        while self.ws is None:
            try:
                self.ws = await connect(f"{self.url}/{self.id}", subprotocols=["ocpp1.6"], open_timeout=10)  # type: ignore[list-item]
            except Exception:
                self.stats["handshakes refused or failed"] += 1
                await asyncio.sleep(0.5)
                continue
            boot = {"chargePointVendor": "Acme", "chargePointModel": "Fault"}
            await self.call("BootNotification", boot)
        return self.ws

    async def call(self, action: str, payload: dict[str, Any]) -> dict[str, Any]:
        await asyncio.sleep(self.interval_s)
        message_id = secrets.token_hex(8)
        sent = 0
        while True:
            ws = await self._connection()
            try:
                if sent:
                    self.stats["CALLs resent"] += 1
                sent += 1
                await ws.send(json.dumps([2, message_id, action, payload]))
                while True:
                    frame = json.loads(await asyncio.wait_for(ws.recv(), 20))
                    if frame[0] == 2:  # a command from the server: not part of this run
                        await ws.send(json.dumps([4, frame[1], "NotImplemented", "", {}]))
                    elif frame[1] == message_id:
                        break
            except Exception:
                self.stats["connections lost"] += 1
                self.ws = None
                await asyncio.sleep(0.3)
                continue
            if frame[0] == 3:
                return dict(frame[2])
            self.stats[f"CALLERROR {frame[2]}"] += 1
            await asyncio.sleep(0.3)

    async def run(self, sessions: int, base: datetime, index: int) -> list[tuple[str, Decimal]]:
        done = []
        for n in range(sessions):
            start = base + timedelta(hours=n)
            begun = await self.call(
                "StartTransaction", {"connectorId": 1, "idTag": self.id, "meterStart": 0, "timestamp": ts(start)}
            )
            tx = begun["transactionId"]
            wh = 1000 * (n + 1) + index
            for step in (1, 2, 3):
                sample = {"measurand": "Energy.Active.Import.Register", "unit": "Wh", "value": str(wh * step // 4)}
                reading = [{"timestamp": ts(start + timedelta(minutes=10 * step)), "sampledValue": [sample]}]
                await self.call("MeterValues", {"connectorId": 1, "transactionId": tx, "meterValue": reading})
            stop = {"transactionId": tx, "meterStop": wh, "timestamp": ts(start + timedelta(minutes=40))}
            await self.call("StopTransaction", stop)
            done.append((str(tx), Decimal(wh) / 1000))
        if self.ws is not None:
            await self.ws.close()
        return done


async def inject(proxy: FaultProxy, rng: random.Random, stop: asyncio.Event, faults: Counter[str]) -> None:
    """Until ``stop``: pass for 1-3 s, then one fault (refuse / blackhole, both cutting open connections, or a cut)
    held for 0.5-3 s."""
    while not stop.is_set():
        await asyncio.sleep(rng.uniform(1, 3))
        if stop.is_set():
            return
        kind = rng.choice(KINDS)
        if kind != "cut":
            proxy.mode = kind
        faults[f"database {kind}"] += 1
        faults["database connections cut"] += proxy.cut()
        await asyncio.sleep(rng.uniform(0.5, 3))
        proxy.mode = "pass"


async def run(args: argparse.Namespace) -> dict[str, Any]:
    with database("postgresql") as direct:
        url = make_url(direct)
        with FaultProxy((url.host or "127.0.0.1", url.port or 5432)) as proxy:
            proxied = url.set(port=proxy.port, query={"connect_timeout": "2"}).render_as_string(hide_password=False)
            with server(proxied, args.port, Path("/tmp/voltbill-faults.log")):
                await asyncio.to_thread(register, args.port, args.chargers, PREFIX)
                ids = [f"{PREFIX}{i:05d}" for i in range(1, args.chargers + 1)]
                stats: Counter[str] = Counter()
                faults: Counter[str] = Counter()
                base = datetime.now(UTC).replace(microsecond=0) - timedelta(days=2)
                chargers = [Charger(f"ws://127.0.0.1:{args.port}/ocpp", cp, stats, args.interval) for cp in ids]
                stop = asyncio.Event()
                injector = asyncio.create_task(inject(proxy, random.Random(args.seed), stop, faults))
                started = time.monotonic()
                acknowledged = await asyncio.gather(*(c.run(args.sessions, base, i) for i, c in enumerate(chargers)))
                elapsed = time.monotonic() - started
                stop.set()
                await injector
                proxy.mode = "pass"
                health = httpx.get(f"http://127.0.0.1:{args.port}/healthz", timeout=10).status_code
                pending = httpx.get(
                    f"http://127.0.0.1:{args.port}/api/v1/pending",
                    headers={"Authorization": f"Bearer {API_KEY}"},
                    timeout=10,
                ).json()
        audit = verify(direct, dict(zip(ids, acknowledged, strict=True)))
    return {
        "chargers": args.chargers,
        "sessions_per_charger": args.sessions,
        "message_interval_s": args.interval,
        "wall_s": round(elapsed, 1),
        "faults": dict(faults),
        "charger_side": dict(stats),
        "healthz_after": health,
        "pending_after": {i["kind"]: i["count"] for i in pending["items"] if i["count"]},
        **audit,
        "machine": machine(),
    }


def verify(url: str, acknowledged: dict[str, list[tuple[str, Decimal]]]) -> dict[str, Any]:
    """Every acknowledged session stored once, completed, with its energy and one CDR; no other session."""
    engine = sa.create_engine(url)
    with engine.connect() as conn:
        rows = conn.execute(
            sa.text(
                "SELECT s.charge_point_id, s.transaction_id, s.status, s.kwh, "
                "(SELECT count(*) FROM cdrs c WHERE c.session_id = s.id) AS cdrs "
                "FROM sessions s WHERE s.charge_point_id LIKE :p"
            ),
            {"p": PREFIX + "%"},
        ).all()
    engine.dispose()
    stored = Counter((r.charge_point_id, str(r.transaction_id)) for r in rows)
    by_key = {(r.charge_point_id, str(r.transaction_id)): r for r in rows}
    expected = {(cp, tx): kwh for cp, done in acknowledged.items() for tx, kwh in done}
    lost = [k for k in expected if k not in stored]
    duplicated = [k for k, n in stored.items() if n > 1]
    unexpected = [k for k in stored if k not in expected]
    wrong = [
        k
        for k, kwh in expected.items()
        if k in by_key
        and (by_key[k].status != "completed" or Decimal(str(by_key[k].kwh)) != kwh or by_key[k].cdrs != 1)
    ]
    return {
        "sessions_acknowledged": len(expected),
        "sessions_stored": len(rows),
        "lost": len(lost),
        "duplicated": len(duplicated),
        "unexpected": len(unexpected),
        "incomplete_or_wrong_energy_or_cdrs": len(wrong),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--chargers", type=int, default=40)
    parser.add_argument("--sessions", type=int, default=10, help="sessions per charger")
    parser.add_argument("--interval", type=float, default=0.5, help="seconds between a charger's messages")
    parser.add_argument("--port", type=int, default=8197)
    parser.add_argument("--seed", type=int, default=20261128)
    result = asyncio.run(run(parser.parse_args()))
    print(json.dumps(result, indent=2, default=str))


if __name__ == "__main__":
    main()
