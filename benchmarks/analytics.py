"""Analytics benchmark: every dashboard query over one million generated sessions.

The sessions are generated inside DuckDB (``voltbill.adapters.analytics.synthetic``, vectorised, deterministic),
loaded into the engine once (local-time columns materialised), then each query runs ``--repeat`` times and the
best and median wall times and the median CPU time (all DuckDB threads) are reported. ``--parquet`` also times
writing the export and loading the engine from it.

    .venv/bin/python benchmarks/analytics.py [--sessions 1000000] [--locations 500] [--days 365] [--repeat 3]
                                             [--parquet]
"""

from __future__ import annotations

import argparse
import statistics
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from voltbill.adapters.analytics.anomalies import find_anomalies
from voltbill.adapters.analytics.engine import AnalyticsEngine, Filters
from voltbill.adapters.analytics.peaks import peak_hours
from voltbill.adapters.analytics.placement import area_demand, location_demand
from voltbill.adapters.analytics.revenue import revenue
from voltbill.adapters.analytics.synthetic import generate_input
from voltbill.adapters.analytics.usage import usage

TARGET_S = 1.0


def queries(engine: AnalyticsEngine) -> dict[str, Callable[[], Any]]:
    everything = Filters()
    one_location = Filters(location_id="LOC-00007")
    last_month = Filters(start=datetime(2025, 12, 1), end=datetime(2026, 1, 1))
    window_h = engine.span_seconds(everything) / 3600
    return {
        "usage by station": lambda: usage(engine, everything, by="station"),
        "usage by EVSE (utilisation)": lambda: usage(engine, everything, by="evse"),
        "usage by local day": lambda: usage(engine, everything, by="day"),
        "usage by local hour": lambda: usage(engine, everything, by="hour"),
        "peak hours (all locations)": lambda: peak_hours(engine, everything),
        "peak hours per location": lambda: peak_hours(engine, everything, per_location=True),
        "peak hours, one location": lambda: peak_hours(engine, one_location),
        "revenue per day": lambda: revenue(engine, everything, period="day"),
        "revenue per month and location": lambda: revenue(engine, everything, period="month", by="location"),
        "revenue per week and tariff": lambda: revenue(engine, everything, period="week", by="tariff"),
        "revenue per month, payment method, 1 month": lambda: revenue(
            engine, last_month, period="month", by="payment_method"
        ),
        "placement (locations by demand)": lambda: location_demand(engine, everything),
        "placement area view (H3 res 7)": lambda: area_demand(
            location_demand(engine, everything), resolution=7, window_hours=window_h
        ),
        "anomalies (all rules)": lambda: find_anomalies(engine, everything),
        "anomalies, one location": lambda: find_anomalies(engine, one_location),
    }


def timed(func: Callable[[], Any]) -> tuple[float, Any]:
    started = time.perf_counter()
    result = func()
    return time.perf_counter() - started, result


def cpu_timed(func: Callable[[], Any]) -> tuple[float, float, Any]:
    """Wall seconds, CPU seconds of this process (all DuckDB threads) and the result."""
    cpu = time.process_time()
    wall, result = timed(func)
    return wall, time.process_time() - cpu, result


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sessions", type=int, default=1_000_000)
    parser.add_argument("--locations", type=int, default=500)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--parquet", action="store_true", help="Also time the Parquet export and reload.")
    args = parser.parse_args()

    start = datetime(2025, 1, 6, tzinfo=UTC)
    now = datetime(2026, 1, 6, tzinfo=UTC)
    wall, cpu, data = cpu_timed(
        lambda: generate_input(args.sessions, locations=args.locations, days=args.days, start=start)
    )
    print(f"generated {data.sessions.num_rows:,} sessions, {data.evses.num_rows:,} EVSEs, "
          f"{data.locations.num_rows:,} locations in {wall:.2f} s ({cpu:.2f} s CPU)")  # fmt: skip
    wall, cpu, engine = cpu_timed(lambda: AnalyticsEngine.from_input(data, now=now))
    print(f"engine loaded from Arrow in {wall:.2f} s ({cpu:.2f} s CPU)")
    if args.parquet:
        with tempfile.TemporaryDirectory() as tmp:
            wall, cpu, _ = cpu_timed(lambda: data.write_parquet(Path(tmp)))
            print(f"Parquet export written in {wall:.2f} s ({cpu:.2f} s CPU)")
            wall, cpu, from_parquet = cpu_timed(lambda: AnalyticsEngine.from_parquet(Path(tmp), now=now))
            print(f"engine loaded from Parquet in {wall:.2f} s ({cpu:.2f} s CPU)")
            from_parquet.close()

    print("\n| query | rows | best wall (s) | median wall (s) | median CPU (s) |\n|---|---:|---:|---:|---:|")
    slow = []
    for name, query in queries(engine).items():
        runs = [cpu_timed(query) for _ in range(args.repeat)]
        walls = [wall for wall, _, _ in runs]
        best, median = min(walls), statistics.median(walls)
        cpu = statistics.median(c for _, c, _ in runs)
        print(f"| {name} | {len(runs[0][2]):,} | {best:.3f} | {median:.3f} | {cpu:.3f} |")
        if median > TARGET_S:
            slow.append(name)
    engine.close()
    print(f"\nqueries over the {TARGET_S:.0f} s target: {', '.join(slow) if slow else 'none'}")


if __name__ == "__main__":
    main()
