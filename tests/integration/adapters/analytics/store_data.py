"""A small operator history written straight into the store (SQLite or PostgreSQL) for the loader tests."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from decimal import Decimal
from typing import Any

from voltbill.adapters.store.db import Database
from voltbill.adapters.store.tables.ledger import Payment
from voltbill.adapters.store.tables.registry import ChargePoint, Driver, Location
from voltbill.adapters.store.tables.sessions import CdrRow, ConnectorStatusHistoryRow, MeterValueRow, SessionRow
from voltbill.domain.clock import FixedClock
from voltbill.services.access import ensure_operator

OPERATOR = "default"
NOW = datetime(2025, 3, 10, 12, tzinfo=UTC)
T0 = datetime(2025, 3, 3, 8, tzinfo=UTC)


def _iso(moment: datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


def _cdr_data(start: datetime, kwh: str) -> dict[str, Any]:
    end = start + timedelta(hours=1)
    return {
        "start_date_time": _iso(start),
        "end_date_time": _iso(end),
        "charging_periods": [
            {"start_date_time": _iso(start), "dimensions": [{"type": "ENERGY", "volume": kwh},
                                                             {"type": "TIME", "volume": "0.75"}]},
            {"start_date_time": _iso(start + timedelta(minutes=45)),
             "dimensions": [{"type": "PARKING_TIME", "volume": "0.25"}]},
        ],
        "total_time": "1.0",
        "total_parking_time": "0.25",
    }  # fmt: skip


def seed(db: Database) -> None:
    """One location (Berlin) with charger CP-A; sessions S-OK (clean), S-CAPTURE (5.00 captured for a 2.975
    CDR), S-ZERO (0 kWh, charged 1.19) and S-OPEN (still running after 3 days)."""
    clock = FixedClock(NOW)
    with db.uow() as uow:
        ensure_operator(uow, OPERATOR, clock=clock)
        s = uow.session
        s.add(
            Location(
                id="LOC-A",
                operator_id=OPERATOR,
                name="Harbour",
                address="Kai 1",
                city="Berlin",
                country="DEU",
                latitude="52.52",
                longitude="13.405",
                time_zone="Europe/Berlin",
                updated_at=NOW,
            )
        )
        s.flush()
        s.add(
            ChargePoint(
                id="CP-A", operator_id=OPERATOR, location_id="LOC-A", tariff_id="T1", created_at=NOW, updated_at=NOW
            )
        )
        s.add(
            Driver(
                id="D-1",
                operator_id=OPERATOR,
                name="Ana",
                email="ana@example.com",
                payment_method="card",
                created_at=NOW,
                updated_at=NOW,
            )
        )
        s.flush()
        sessions = [
            ("S-OK", T0, "10", "0", "10000", Decimal("2.5000"), Decimal("2.9750"), Decimal("2.98")),
            ("S-CAPTURE", T0 + timedelta(days=1), "10", "10000", "20000", Decimal("2.5000"), Decimal("2.9750"),
             Decimal("5.00")),
            ("S-ZERO", T0 + timedelta(days=2), "0", "20000", "20000", Decimal("1.0000"), Decimal("1.1900"),
             Decimal("1.19")),
        ]  # fmt: skip
        for sid, start, kwh, m0, m1, excl, incl, captured in sessions:
            _completed_session(s, sid, start, kwh, m0, m1, excl, incl)
            s.add(_card_payment(f"P-{sid}", sid, start, incl, captured, status="captured"))
        s.add(SessionRow(id="S-OPEN", charge_point_id="CP-A", transaction_id="S-OPEN", protocol="ocpp1.6", evse_id=1,
                         connector_id=1, driver_id="D-1", status="active", start_date_time=NOW - timedelta(days=3),
                         meter_start_wh=Decimal("20000"), last_seen_at=NOW, flags=[], created_at=NOW))  # fmt: skip
        s.flush()
        s.add(MeterValueRow(session_id="S-OK", charge_point_id="CP-A", transaction_id="S-OK",
                            timestamp=T0 + timedelta(minutes=5), measurand="Power.Active.Import", phase="",
                            value=Decimal("11000"), unit="W"))  # fmt: skip
        for at, status in ((T0 - timedelta(hours=2), "Faulted"), (T0 - timedelta(hours=1), "Available")):
            s.add(ConnectorStatusHistoryRow(charge_point_id="CP-A", evse_id=1, connector_id=1, status=status,
                                            timestamp=at))  # fmt: skip
        uow.commit()


def _completed_session(
    s: Any, sid: str, start: datetime, kwh: str, m0: str, m1: str, excl: Decimal, incl: Decimal
) -> None:
    """A completed session of D-1 on CP-A with its priced CDR ``CDR-{sid}``."""
    s.add(SessionRow(id=sid, charge_point_id="CP-A", transaction_id=sid, protocol="ocpp1.6", evse_id=1,
                     connector_id=1, driver_id="D-1", status="completed", start_date_time=start,
                     end_date_time=start + timedelta(hours=1), meter_start_wh=Decimal(m0),
                     meter_stop_wh=Decimal(m1), kwh=Decimal(kwh), tariff_id="T1", cdr_id=f"CDR-{sid}",
                     last_seen_at=start, flags=[], created_at=start))  # fmt: skip
    s.flush()
    s.add(CdrRow(id=f"CDR-{sid}", session_id=sid, charge_point_id="CP-A", driver_id="D-1", currency="EUR",
                 total_excl_vat=excl, total_incl_vat=incl, priced=True, end_date_time=start + timedelta(hours=1),
                 data=_cdr_data(start, kwh), created_at=start))  # fmt: skip


def _card_payment(
    pid: str,
    sid: str | None,
    start: datetime,
    amount: Decimal,
    captured: Decimal,
    *,
    status: str,
    kind: str = "session",
    cdr_id: str | None = None,
) -> Payment:
    return Payment(id=pid, kind=kind, cdr_id=cdr_id, driver_id="D-1", session_id=sid, payment_method="card",
                   currency="EUR", amount=amount, captured_amount=captured, refunded_amount=Decimal(0),
                   status=status, attempts=1, created_at=start, updated_at=start)  # fmt: skip


def add_card_total_above_the_hold(db: Database, sid: str, *, day: int, second_charge: str) -> None:
    """A 60.00 card session (``sid``, on ``day`` after T0): the 50.00 hold captured, the other 10.00 charged as the
    CDR's second payment (``session_rest``) with status ``second_charge``."""
    start = T0 + timedelta(days=day)
    total = Decimal("60.00")
    with db.uow() as uow:
        s = uow.session
        _completed_session(s, sid, start, "100", "30000", "130000", Decimal("50.42"), total)
        s.add(_card_payment(f"P-{sid}", sid, start, Decimal("50.00"), Decimal("50.00"), status="captured",
                            cdr_id=f"CDR-{sid}"))  # fmt: skip
        done = second_charge == "captured"
        s.add(_card_payment(f"P-{sid}-rest", None, start, Decimal("10.00"), Decimal("10.00" if done else "0"),
                            status=second_charge, kind="session_rest", cdr_id=f"CDR-{sid}"))  # fmt: skip
        uow.commit()
