"""Read models for the operator dashboard: station status board and the overview figures.

Each function answers one page with a fixed number of queries (no per-row queries), scoped to one operator.
Money stays ``Decimal`` per currency; days are counted in the operator's time zone.
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta
from decimal import Decimal
from zoneinfo import ZoneInfo

from sqlalchemy import func, select

from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.one_of import one_of
from voltbill.adapters.store.tables.ledger import LedgerPosting, from_units
from voltbill.adapters.store.tables.registry import ChargePoint, Driver, Location, Operator
from voltbill.adapters.store.tables.sessions import CdrRow, ConnectorStatusRow, SessionRow
from voltbill.domain.ledger import WALLET, account, natural_balance
from voltbill.domain.money import Money

ONLINE_WITHIN = timedelta(minutes=10)


@dataclass(frozen=True)
class ConnectorView:
    """One connector's latest OCPP status (``Available``, ``Charging``, ``Faulted``, ...) and since when."""

    evse_id: int
    connector_id: int
    status: str
    error_code: str | None
    since: datetime


@dataclass(frozen=True)
class StationView:
    """A charger on the status board: where it is, how it talks, whether it was heard from recently."""

    id: str
    location_name: str
    city: str
    time_zone: str
    protocol: str | None
    vendor: str | None
    model: str | None
    tariff_id: str | None
    last_seen_at: datetime | None
    online: bool
    active_sessions: int
    connectors: list[ConnectorView] = field(default_factory=list)


def station_board(uow: UnitOfWork, operator_id: str, now: datetime) -> list[StationView]:
    """Every charger of the operator with its connectors and active-session count (three queries)."""
    rows = uow.session.execute(
        select(ChargePoint, Location)
        .join(Location, Location.id == ChargePoint.location_id)
        .where(ChargePoint.operator_id == operator_id)
        .order_by(Location.name, ChargePoint.id)
    ).all()
    ids = [cp.id for cp, _ in rows]
    connectors: dict[str, list[ConnectorView]] = defaultdict(list)
    for status in uow.session.scalars(
        select(ConnectorStatusRow)
        .where(one_of(ConnectorStatusRow.charge_point_id, ids))
        .order_by(ConnectorStatusRow.evse_id, ConnectorStatusRow.connector_id)
    ):
        if status.evse_id == 0:  # OCPP 1.6 connectorId 0 is the charger itself, not a connector
            continue
        connectors[status.charge_point_id].append(
            ConnectorView(status.evse_id, status.connector_id, status.status, status.error_code, status.timestamp)
        )
    active: dict[str, int] = {
        cp_id: count
        for cp_id, count in uow.session.execute(
            select(SessionRow.charge_point_id, func.count())
            .where(one_of(SessionRow.charge_point_id, ids), SessionRow.status == "active")
            .group_by(SessionRow.charge_point_id)
        ).tuples()
    }
    return [
        StationView(
            id=cp.id,
            location_name=loc.name or loc.address,
            city=loc.city,
            time_zone=loc.time_zone,
            protocol=cp.protocol,
            vendor=cp.vendor,
            model=cp.model,
            tariff_id=cp.tariff_id,
            last_seen_at=cp.last_seen_at,
            online=cp.last_seen_at is not None and now - cp.last_seen_at <= ONLINE_WITHIN,
            active_sessions=active.get(cp.id, 0),
            connectors=connectors.get(cp.id, []),
        )
        for cp, loc in rows
    ]


@dataclass(frozen=True)
class Totals:
    """Sessions, energy (kWh) and net revenue (excl. VAT) per currency of one period."""

    sessions: int = 0
    kwh: Decimal = Decimal(0)
    revenue: dict[str, Decimal] = field(default_factory=dict)


@dataclass(frozen=True)
class Overview:
    """The overview page: ``today`` and ``month`` totals (operator's local calendar), sessions active now,
    chargers online, and ``days`` — one ``(date, Totals)`` per day of the trend window, oldest first."""

    time_zone: str
    operator_name: str
    today: Totals
    month: Totals
    active_sessions: int
    chargers: int
    chargers_online: int
    drivers: int
    days: list[tuple[date, Totals]]


def overview(uow: UnitOfWork, operator_id: str, now: datetime, *, trend_days: int = 30) -> Overview:
    """Figures for the overview page from completed, priced sessions (CDRs) ending in the window."""
    operator = uow.session.get(Operator, operator_id)
    tz_name = operator.time_zone if operator is not None else "UTC"
    zone = ZoneInfo(tz_name)
    today = now.astimezone(zone).date()
    first_day = min(today.replace(day=1), today - timedelta(days=trend_days - 1))
    since = datetime.combine(first_day, datetime.min.time(), zone)

    rows = uow.session.execute(
        select(CdrRow.end_date_time, CdrRow.currency, CdrRow.total_excl_vat, SessionRow.kwh)
        .join(SessionRow, SessionRow.id == CdrRow.session_id)
        .join(ChargePoint, ChargePoint.id == CdrRow.charge_point_id)
        .where(ChargePoint.operator_id == operator_id, CdrRow.end_date_time >= since)
    ).all()
    per_day: dict[date, _Acc] = defaultdict(_Acc)
    for end, currency, excl, kwh in rows:
        per_day[end.astimezone(zone).date()].add(currency, excl, kwh)

    month = _Acc()
    for day, acc in per_day.items():
        if day.year == today.year and day.month == today.month:
            month.merge(acc)
    days = [(first, per_day.get(first, _Acc()).totals()) for first in _days(today, trend_days)]

    active = uow.session.scalar(
        select(func.count())
        .select_from(SessionRow)
        .join(ChargePoint, ChargePoint.id == SessionRow.charge_point_id)
        .where(ChargePoint.operator_id == operator_id, SessionRow.status == "active")
    )
    seen = uow.session.execute(
        select(func.count(), func.count().filter(ChargePoint.last_seen_at >= now - ONLINE_WITHIN)).where(
            ChargePoint.operator_id == operator_id
        )
    ).one()
    drivers = uow.session.scalar(select(func.count()).select_from(Driver).where(Driver.operator_id == operator_id))
    return Overview(
        time_zone=tz_name,
        operator_name=operator.name if operator is not None else operator_id,
        today=per_day.get(today, _Acc()).totals(),
        month=month.totals(),
        active_sessions=active or 0,
        chargers=seen[0],
        chargers_online=seen[1],
        drivers=drivers or 0,
        days=days,
    )


def _days(today: date, count: int) -> list[date]:
    return [today - timedelta(days=offset) for offset in range(count - 1, -1, -1)]


class _Acc:
    """Running totals of one day or month."""

    def __init__(self) -> None:
        self.sessions = 0
        self.kwh = Decimal(0)
        self.revenue: dict[str, Decimal] = defaultdict(Decimal)

    def add(self, currency: str | None, excl_vat: Decimal | None, kwh: Decimal | None) -> None:
        self.sessions += 1
        self.kwh += kwh or 0
        if currency is not None and excl_vat is not None:
            self.revenue[currency] += excl_vat

    def merge(self, other: _Acc) -> None:
        self.sessions += other.sessions
        self.kwh += other.kwh
        for currency, amount in other.revenue.items():
            self.revenue[currency] += amount

    def totals(self) -> Totals:
        return Totals(self.sessions, self.kwh, dict(self.revenue))


@dataclass(frozen=True)
class SessionExtras:
    """What a page of sessions shows besides the session itself, fetched in one go: each CDR's total
    (``cdr_id -> (currency, incl_vat or excl_vat)``), driver names and each charger's time zone."""

    cdr_totals: dict[str, tuple[str | None, Decimal | None]]
    driver_names: dict[str, str]
    time_zones: dict[str, str]


def session_extras(uow: UnitOfWork, sessions: list[dict[str, object]]) -> SessionExtras:
    """Three queries for a whole page of sessions (as ``list_sessions`` returns them)."""
    cdr_ids = {str(s["cdr_id"]) for s in sessions if s.get("cdr_id")}
    driver_ids = {str(s["driver_id"]) for s in sessions if s.get("driver_id")}
    charger_ids = {str(s["charge_point_id"]) for s in sessions}
    totals = {
        cdr_id: (currency, incl if incl is not None else excl)
        for cdr_id, currency, excl, incl in uow.session.execute(
            select(CdrRow.id, CdrRow.currency, CdrRow.total_excl_vat, CdrRow.total_incl_vat).where(
                one_of(CdrRow.id, cdr_ids)
            )
        ).all()
    }
    names: dict[str, str] = {
        driver_id: name
        for driver_id, name in uow.session.execute(
            select(Driver.id, Driver.name).where(one_of(Driver.id, driver_ids))
        ).tuples()
    }
    zones: dict[str, str] = {
        cp_id: tz
        for cp_id, tz in uow.session.execute(
            select(ChargePoint.id, Location.time_zone)
            .join(Location, Location.id == ChargePoint.location_id)
            .where(one_of(ChargePoint.id, charger_ids))
        ).tuples()
    }
    return SessionExtras(totals, names, zones)


@dataclass(frozen=True)
class DriverUsage:
    """Completed sessions and their energy (kWh) of one driver."""

    sessions: int
    kwh: Decimal


def driver_usage(uow: UnitOfWork, driver_ids: list[str]) -> dict[str, DriverUsage]:
    """Usage per driver for a page of drivers (one query; kWh summed as ``Decimal`` in Python because SQLite
    stores the exact decimals as text)."""
    usage: dict[str, list[Decimal | int]] = defaultdict(lambda: [0, Decimal(0)])
    for driver_id, kwh in uow.session.execute(
        select(SessionRow.driver_id, SessionRow.kwh).where(
            one_of(SessionRow.driver_id, driver_ids), SessionRow.status == "completed"
        )
    ).tuples():
        acc = usage[str(driver_id)]
        acc[0] = int(acc[0]) + 1
        acc[1] = Decimal(acc[1]) + (kwh or 0)
    return {key: DriverUsage(int(v[0]), Decimal(v[1])) for key, v in usage.items()}


def wallet_balances(uow: UnitOfWork, driver_ids: list[str]) -> dict[str, Money]:
    """Each driver's prepaid wallet balance (one grouped ledger query for the whole page; a driver with wallets
    in several currencies shows the first)."""
    accounts = {account(WALLET, driver_id): driver_id for driver_id in driver_ids}
    debit = func.coalesce(func.sum(LedgerPosting.amount_units).filter(LedgerPosting.amount_units > 0), 0)
    credit = func.coalesce(-func.sum(LedgerPosting.amount_units).filter(LedgerPosting.amount_units < 0), 0)
    rows = uow.session.execute(
        select(LedgerPosting.account, LedgerPosting.currency, debit, credit)
        .where(one_of(LedgerPosting.account, accounts))
        .group_by(LedgerPosting.account, LedgerPosting.currency)
        .order_by(LedgerPosting.account, LedgerPosting.currency)
    ).all()
    balances: dict[str, Money] = {}
    for name, currency, debits, credits in rows:
        amount = natural_balance(name, from_units(debits), from_units(credits))
        balances.setdefault(accounts[name], Money(amount, currency))
    return balances


def location_names(uow: UnitOfWork, operator_id: str) -> dict[str, str]:
    """``location id -> name`` of the operator's sites (for tables keyed by location)."""
    rows = uow.session.execute(
        select(Location.id, Location.name, Location.address).where(Location.operator_id == operator_id)
    ).all()
    return {loc_id: name or address for loc_id, name, address in rows}


def operator_name(uow: UnitOfWork, operator_id: str) -> str:
    """The operator's display name (its id when it has none)."""
    operator = uow.session.get(Operator, operator_id)
    return operator.name if operator is not None else operator_id


def operator_time_zone(uow: UnitOfWork, operator_id: str) -> str:
    """The operator's IANA time zone (for totals and lists that span stations)."""
    operator = uow.session.get(Operator, operator_id)
    return operator.time_zone if operator is not None else "UTC"
