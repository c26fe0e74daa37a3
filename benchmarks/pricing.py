"""Pricing throughput: sessions priced per second on one core.

Typical tariff: 3 elements (start fee; peak energy 17:00-21:00 local; default energy + time + idle fee).
Typical session: 5 charging periods over 3.5 hours around the 17:00 boundary in Europe/Amsterdam.
Run: ``.venv/bin/python benchmarks/pricing.py [--seconds 5] [--profile]``.
"""

from __future__ import annotations

import argparse
import cProfile
import pstats
import time
import timeit
from datetime import UTC, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from voltbill.domain.pricing.periods import CdrDimension, ChargingPeriod, SessionToPrice
from voltbill.domain.pricing.pricer import price_session
from voltbill.domain.tariffs import parse_tariff

TARIFF = parse_tariff(
    {
        "country_code": "NL",
        "party_id": "VBL",
        "id": "typical",
        "currency": "EUR",
        "elements": [
            {"price_components": [{"type": "FLAT", "price": "0.35", "vat": "21", "step_size": 1}]},
            {
                "price_components": [{"type": "ENERGY", "price": "0.49", "vat": "21", "step_size": 1}],
                "restrictions": {"start_time": "17:00", "end_time": "21:00", "day_of_week": ["MONDAY", "TUESDAY",
                                 "WEDNESDAY", "THURSDAY", "FRIDAY"]},
            },
            {
                "price_components": [
                    {"type": "ENERGY", "price": "0.35", "vat": "21", "step_size": 1},
                    {"type": "TIME", "price": "0.60", "vat": "21", "step_size": 60},
                    {"type": "PARKING_TIME", "price": "6.00", "vat": "21", "step_size": 300},
                ]
            },
        ],
        "last_updated": "2025-01-01T00:00:00Z",
    }
)  # fmt: skip
ZONE = ZoneInfo("Europe/Amsterdam")
START = datetime(2025, 6, 2, 14, 10, tzinfo=UTC)  # Monday 16:10 local


def _session() -> SessionToPrice:
    periods = []
    moment = START
    for minutes, kwh, charging, power in [(35, "6.4", True, "11"), (40, "7.1", True, "11"), (45, "6.2", True, "9.5"),
                                          (30, "1.3", True, "3.2"), (60, "0", False, None)]:  # fmt: skip
        kind = "TIME" if charging else "PARKING_TIME"
        dims = [CdrDimension("ENERGY", Decimal(kwh)), CdrDimension(kind, Decimal(minutes) / 60)]
        if power:
            dims.append(CdrDimension("MAX_POWER", Decimal(power)))
        periods.append(ChargingPeriod(moment, tuple(dims), "typical"))
        moment += timedelta(minutes=minutes)
    return SessionToPrice(START, moment, tuple(periods))


def measure(seconds: float) -> float:
    """Sessions priced per CPU second of this process (so other load on the machine does not count), best of
    three runs of ``seconds`` / 3 each."""
    session = _session()
    best = 0.0
    for _ in range(3):
        count, began = 0, time.process_time()
        deadline = began + seconds / 3
        while time.process_time() < deadline:
            for _ in range(200):
                price_session(TARIFF, session, ZONE)
            count += 200
        best = max(best, count / (time.process_time() - began))
    return best


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--seconds", type=float, default=6.0)
    parser.add_argument("--profile", action="store_true", help="print the 25 most expensive functions")
    args = parser.parse_args()
    priced = price_session(TARIFF, _session(), ZONE)
    print(f"check: total_cost excl. VAT {priced.total_cost.excl_vat.normalize()} EUR, {len(priced.lines)} lines")
    if args.profile:
        profiler = cProfile.Profile()
        profiler.runcall(measure, 3.0)
        pstats.Stats(profiler).sort_stats("cumulative").print_stats(25)
        return
    reference = min(timeit.repeat("sum(range(1000))", number=2000, repeat=5)) / 2000 * 1e6
    print(f"machine reference: sum(range(1000)) takes {reference:.1f} us (to compare machines and loads)")
    rate = measure(args.seconds)
    print(f"{rate:,.0f} sessions per CPU second (one core, 5 periods, 3-element tariff with time of day)")


if __name__ == "__main__":
    main()
