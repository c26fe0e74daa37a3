"""Charger reconnect storm: how long N registered chargers take to pass the OCPP password check, cold (argon2 for
each) and warm (the in-process cache of successful checks), plus a REST write/read round trip.

    .venv/bin/python benchmarks/charger_auth.py --chargers 500 [--database-url URL]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import threading
import time
from pathlib import Path

import httpx

from voltbill.adapters.store.migrate import migrate
from voltbill.api.app import create_app
from voltbill.config import Settings
from voltbill.domain.clock import SystemClock
from voltbill.services import registry
from voltbill.services.access import DEFAULT_OPERATOR_ID

LOCATION = {
    "name": "Bench depot",
    "address": "Kade 1",
    "city": "Amsterdam",
    "postal_code": "1011AB",
    "country": "NLD",
    "coordinates": {"latitude": "52.37404", "longitude": "4.91422"},
    "time_zone": "Europe/Amsterdam",
}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--chargers", type=int, default=500)
    parser.add_argument("--database-url", default=None)
    args = parser.parse_args()
    url = args.database_url or f"sqlite:///{Path(tempfile.mkdtemp()) / 'bench.db'}"
    migrate(url)
    key = "vb_benchmark_key_0123456789abcdef"
    app = create_app(Settings(database_url=url, api_key=key, _env_file=None))  # type: ignore[call-arg]
    db, clock = app.state.db, SystemClock()
    ids = [f"BENCH-{n:05d}" for n in range(args.chargers)]
    started = time.perf_counter()
    for cp in ids:
        with db.uow() as uow:
            registry.upsert_charge_point(
                uow, DEFAULT_OPERATOR_ID, cp, password=f"pw-{cp}-0123456789", tariff_id=None, location=LOCATION,
                clock=clock,
            )  # fmt: skip
    register_s = time.perf_counter() - started
    waves = []
    for _ in ("cold", "warm"):
        started = time.perf_counter()
        for cp in ids:
            with db.uow() as uow:
                assert registry.verify_charger_password(uow, cp, f"pw-{cp}-0123456789")
        waves.append(time.perf_counter() - started)
    transport = httpx.ASGITransport(app=app)
    headers = {"Authorization": f"Bearer {key}"}

    async def rest() -> float:
        async with httpx.AsyncClient(transport=transport, base_url="http://bench", headers=headers) as client:
            body = {"name": "Ana", "email": "ana@example.com", "payment_method": "card"}
            started = time.perf_counter()
            for n in range(200):
                assert (await client.put(f"/api/v1/drivers/D-{n}", json=body)).status_code in (200, 201)
                assert (await client.get(f"/api/v1/drivers/D-{n}")).status_code == 200
            return (time.perf_counter() - started) / 400

    per_request = asyncio.run(rest())
    n = args.chargers
    print(f"store: {url.split(':')[0]}  chargers: {n}")
    print(f"register (PUT-equivalent, argon2 hash each): {register_s:.1f} s ({n / register_s:.0f}/s)")
    print(f"reconnect wave, cold (argon2 verify each):    {waves[0]:.1f} s ({n / waves[0]:.0f}/s)")
    print(f"reconnect wave, warm (cached):                {waves[1]:.2f} s ({n / waves[1]:.0f}/s)")
    print(f"REST PUT/GET driver, mean per request:        {per_request * 1000:.1f} ms")
    for value in vars(app.state)["_state"].values():
        if isinstance(value, threading.Thread) and callable(getattr(value, "stop", None)):
            value.stop()
    db.dispose()


if __name__ == "__main__":
    main()
