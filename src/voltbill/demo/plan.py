"""A plausible charging history as a plan: which driver charges where, when, how much, how long they stay.

Pure and deterministic (seeded): demand follows local-time daily profiles (commuter peaks on AC, midday and
evening peaks on DC highway chargers), weekends differ, connectors never overlap, and a few sessions are odd on
purpose so the anomaly page has something to show, each odd in a way its rule flags whatever the day: a session
fee charged for no energy (on AC, whose tariff has the fee) and a meter claiming more power than any public charger
delivers (the store does not record a connector's rating, so the rule compares with that).
"""

from __future__ import annotations

import math
import random
from collections.abc import Iterator
from dataclasses import dataclass, replace
from datetime import UTC, date, datetime, time, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from voltbill.demo.catalog import DemoCharger, DemoDriver

# Relative demand per local hour (0-23).
AC_PROFILE = (1, 1, 1, 1, 1, 2, 5, 9, 10, 7, 5, 5, 5, 5, 5, 6, 8, 10, 9, 7, 5, 4, 2, 1)
DC_PROFILE = (1, 1, 1, 1, 1, 1, 2, 4, 6, 7, 8, 9, 10, 10, 9, 8, 8, 9, 9, 7, 5, 3, 2, 1)
METER_INTERVAL = timedelta(minutes=15)
IMPLAUSIBLE_KW = Decimal(1000)  # above AnomalyRules.unknown_connector_max_kw (350): no public charger delivers it


@dataclass(frozen=True, slots=True)
class PlannedSession:
    """One session to replay: ``start`` (plug in, UTC), ``charge_end`` (charging stops; parked until ``end``),
    ``energy_wh`` delivered, ``power_w`` average while charging, ``anomaly`` what is odd about it (or None)."""

    charger: DemoCharger
    connector: int
    driver: DemoDriver
    start: datetime
    charge_end: datetime
    end: datetime
    energy_wh: Decimal
    power_w: Decimal
    anomaly: str | None = None

    @property
    def key(self) -> str:
        """A stable identity: the transaction id a 2.0.1 charger would send."""
        return f"{self.charger.id}-{self.connector}-{int(self.start.timestamp())}"


def _poisson(rng: random.Random, mean: float) -> int:
    # Knuth's method; means here are small (< 10).
    limit, k, p = math.exp(-mean), 0, 1.0
    while True:
        p *= rng.random()
        if p <= limit:
            return k
        k += 1


def _pick_hour(rng: random.Random, profile: tuple[int, ...]) -> int:
    return rng.choices(range(24), weights=profile)[0]


def plan_sessions(
    chargers: list[DemoCharger],
    drivers: list[DemoDriver],
    first_day: date,
    days: int,
    *,
    until: datetime,
    sessions_per_connector: float,
    seed: int = 7,
) -> list[PlannedSession]:
    """Sessions on ``days`` local days from ``first_day``, all ending before ``until``, ordered by start."""
    rng = random.Random(seed)
    regulars: dict[str, list[DemoDriver]] = {}
    for d in drivers:
        regulars.setdefault(d.home_location, []).append(d)
    plan: list[PlannedSession] = []
    for charger in chargers:
        zone = ZoneInfo(charger.location.time_zone)
        locals_ = regulars.get(charger.location.id, drivers)
        for connector in range(1, charger.connectors + 1):
            free_at = datetime.combine(first_day, time(0), zone)
            for day in (first_day + timedelta(days=n) for n in range(days)):
                for planned in _day(rng, charger, connector, day, zone, locals_, drivers, sessions_per_connector):
                    if planned.start >= free_at and planned.end < until:
                        plan.append(planned)
                        free_at = planned.end + timedelta(minutes=rng.randint(2, 20))
    plan.sort(key=lambda p: (p.start, p.charger.id, p.connector))
    for kind, at in (("no_energy", len(plan) // 3), ("implausible_power", 2 * len(plan) // 3)):
        if not any(p.anomaly == kind for p in plan):  # even a short history shows each kind once
            index = next((i for i in [*range(at, len(plan)), *range(at)] if _may_be(plan[i], kind)), None)
            if index is not None:
                plan[index] = make_odd(plan[index], kind)
    return plan


def _may_be(session: PlannedSession, kind: str) -> bool:
    """Whether ``session`` can be made odd in the way ``kind`` says (a charged zero-energy session needs AC)."""
    return session.anomaly is None and (kind != "no_energy" or session.charger.kind == "AC")


def make_odd(session: PlannedSession, kind: str) -> PlannedSession:
    """The same visit with a fault: ``no_energy`` (plugged in, nothing delivered; an AC session still pays its
    session fee) or ``implausible_power`` (the meter's power readings claim ``IMPLAUSIBLE_KW``)."""
    if kind == "no_energy":
        return replace(session, energy_wh=Decimal(0), power_w=Decimal(0), anomaly=kind)
    return replace(session, power_w=IMPLAUSIBLE_KW * 1000, anomaly=kind)


def _day(
    rng: random.Random,
    charger: DemoCharger,
    connector: int,
    day: date,
    zone: ZoneInfo,
    regulars: list[DemoDriver],
    everyone: list[DemoDriver],
    per_connector: float,
) -> Iterator[PlannedSession]:
    weekend = day.weekday() >= 5
    busy = float(charger.location.busy) * per_connector
    if charger.kind == "DC":
        mean, profile = busy * 2.2 * (1.25 if weekend else 1.0), DC_PROFILE
    else:
        mean, profile = busy * (0.7 if weekend else 1.0), AC_PROFILE
    starts = sorted(
        datetime.combine(day, time(_pick_hour(rng, profile), rng.randrange(60)), zone)
        for _ in range(_poisson(rng, mean))
    )
    for local_start in starts:
        start = local_start.astimezone(UTC)
        driver = rng.choice(regulars) if rng.random() < 0.8 else rng.choice(everyone)
        yield _session(rng, charger, connector, driver, start)


def _session(
    rng: random.Random, charger: DemoCharger, connector: int, driver: DemoDriver, start: datetime
) -> PlannedSession:
    anomaly = None
    roll = rng.random()
    if charger.kind == "DC":
        power_kw = rng.uniform(45, float(charger.max_kw) * 0.9)
        minutes = rng.uniform(12, 45)
        idle = rng.uniform(3, 25) if rng.random() < 0.12 else 0.0
    else:
        power_kw = rng.choice((3.7, 7.4, 11.0)) * rng.uniform(0.85, 0.98)
        minutes = rng.uniform(45, 240)
        idle = rng.uniform(15, 150) if rng.random() < 0.35 else 0.0
    if roll < 0.006 and charger.kind == "AC":
        anomaly, power_kw, minutes, idle = "no_energy", 0.0, rng.uniform(60, 180), 0.0
    charge_end = start + timedelta(seconds=round(minutes * 60))
    energy_wh = Decimal(round(power_kw * 1000 * minutes / 60))
    planned = PlannedSession(
        charger=charger,
        connector=connector,
        driver=driver,
        start=start,
        charge_end=charge_end,
        end=charge_end + timedelta(seconds=round(idle * 60)),
        energy_wh=energy_wh,
        power_w=Decimal(round(power_kw * 1000)),
        anomaly=anomaly,
    )
    return make_odd(planned, "implausible_power") if 0.006 <= roll < 0.010 else planned


def meter_readings(session: PlannedSession, register_start: Decimal) -> list[tuple[datetime, Decimal]]:
    """Cumulative energy register readings (Wh) every ``METER_INTERVAL`` while charging, plus the final one."""
    readings = []
    span = (session.charge_end - session.start).total_seconds()
    at = session.start + METER_INTERVAL
    while at < session.charge_end:
        share = Decimal(str((at - session.start).total_seconds() / span))
        readings.append((at, register_start + (session.energy_wh * share).quantize(Decimal(1))))
        at += METER_INTERVAL
    readings.append((session.charge_end, register_start + session.energy_wh))
    return readings
