"""Seed the demo operator into a running app's services: registry, users, cards, wallets, then the history.

Everything goes through the use cases the REST API and the OCPP layer call, on an app built with a clock the
seeder moves, so ledger entries, invoices and e-mails carry the historical times. Rerunning is safe: registry
writes are upserts, top-ups and cards are keyed, and the history is skipped when the operator already has it.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from voltbill.adapters.payments.sandbox import CHARGE_FAILS, tokenize_card
from voltbill.demo import catalog
from voltbill.demo.catalog import Size
from voltbill.demo.history import ReplayStats, replay
from voltbill.demo.plan import PlannedSession, plan_sessions
from voltbill.domain.clock import FixedClock
from voltbill.domain.errors import Conflict
from voltbill.domain.money import Money
from voltbill.services import access, charging, invoice_runs, payments, registry, settlement, users, wallet

WALLET_TOP_UP = Money(Decimal("100.00"), catalog.CURRENCY)
WALLET_REFILL_BELOW = Decimal("25.00")
HISTORY_DAYS = {"small": 7, "full": 91}
SESSIONS_PER_CONNECTOR = {"small": 1.0, "full": 0.25}


@dataclass(frozen=True)
class SeedResult:
    """What seeding did: ``history`` is ``None`` when the history was there already."""

    chargers: int
    drivers: int
    tariffs: int
    history: ReplayStats | None
    statements: int


def charger_password(charger_id: str) -> str:
    """The demo chargers' HTTP Basic password (OCPP security profile 1); printed by ``voltbill demo``."""
    return f"demo-{charger_id.lower()}"


def seed_registry(state: Any, size: Size, clock: FixedClock) -> None:
    """Operator, users, tariffs, chargers, drivers with tokens, cards on file and opening wallet balances."""
    db = state.db
    with db.uow() as uow:
        access.ensure_operator(
            uow, catalog.OPERATOR_ID, clock=clock, name=catalog.OPERATOR_NAME, time_zone=catalog.OPERATOR_TIME_ZONE
        )
        access.ensure_api_key(uow, catalog.OPERATOR_ID, catalog.DEMO_API_KEY, clock=clock, name="demo")
    with db.uow() as uow:
        for body in catalog.tariffs(size):
            registry.upsert_tariff(uow, catalog.OPERATOR_ID, body["id"], body, clock=clock)
        for charger in catalog.chargers(size):
            registry.upsert_charge_point(
                uow,
                catalog.OPERATOR_ID,
                charger.id,
                password=charger_password(charger.id),
                tariff_id=charger.tariff_id,
                location=charger.location.to_api(),
                clock=clock,
            )
        for driver in catalog.drivers(size):
            registry.upsert_driver(
                uow,
                catalog.OPERATOR_ID,
                driver.id,
                name=driver.name,
                email=driver.email,
                payment_method=driver.payment_method,
                billing_address=driver.billing_address,
                locale="en",
                clock=clock,
            )
            registry.upsert_token(uow, catalog.OPERATOR_ID, driver.id, driver.token_uid, type="RFID", clock=clock)
    ensure_users(state, size, clock)
    ctx = state.payments
    failing = failing_card_driver(size)
    for driver in catalog.drivers(size):
        if driver.payment_method == "card":
            # One driver's card is saved but every charge on it fails, so the payments follow-up has a case.
            number = CHARGE_FAILS if driver.id == failing else "4242424242424242"
            payments.save_card(ctx, driver.id, driver.email, ctx.gateway.name, tokenize_card(number))
    for driver in catalog.drivers(size):
        if driver.payment_method == "wallet":
            wallet.top_up_wallet(ctx, driver.id, WALLET_TOP_UP, request_key=f"demo-opening-{driver.id}")


def failing_card_driver(size: Size) -> str:
    """The demo driver whose card declines every charge (the fourth card driver)."""
    return [d.id for d in catalog.drivers(size) if d.payment_method == "card"][3]


def live_driver(size: Size) -> catalog.DemoDriver:
    """The driver whose login ``voltbill demo`` prints: a card driver charging at the first live charger."""
    failing = failing_card_driver(size)
    return next(d for d in catalog.drivers(size) if d.payment_method == "card" and d.id != failing)


def ensure_users(state: Any, size: Size, clock: FixedClock) -> None:
    """The web logins: an operator admin, a staff member, the first two demo drivers and the live driver."""
    wanted: list[tuple[str, str, str | None]] = [
        (catalog.ADMIN_EMAIL, "operator_admin", None),
        (catalog.STAFF_EMAIL, "operator_staff", None),
        *((d.email, "driver", d.id) for d in [*catalog.drivers(size)[:2], live_driver(size)]),
    ]
    for email, role, driver_id in wanted:
        with state.db.uow() as uow:
            try:
                users.create_user(
                    uow,
                    email=email,
                    password=catalog.DEMO_PASSWORD,
                    role=role,
                    clock=clock,
                    operator_id=catalog.OPERATOR_ID,
                    driver_id=driver_id,
                )
            except Conflict as exc:
                if exc.code != "user_exists":
                    raise


def has_history(state: Any) -> bool:
    """Whether the demo operator already has sessions (then the history is not generated again)."""
    with state.db.uow() as uow:
        items, _ = charging.list_sessions(uow, operator_id=catalog.OPERATOR_ID, limit=1)
    return bool(items)


def history_plan(size: Size, now: datetime) -> list[PlannedSession]:
    """The sessions of the last ``HISTORY_DAYS`` days, all finished a few minutes before ``now``."""
    days = HISTORY_DAYS[size]
    first = (now - timedelta(days=days)).date()
    return plan_sessions(
        catalog.chargers(size),
        catalog.drivers(size),
        first,
        days + 1,
        until=now - timedelta(minutes=10),
        sessions_per_connector=SESSIONS_PER_CONNECTOR[size],
    )


def seed_history(
    state: Any, clock: FixedClock, plan: list[PlannedSession], progress: Callable[[int], None] | None = None
) -> tuple[ReplayStats, int]:
    """Replay ``plan`` through the charging use cases with ``state``'s bus and start checks (payments settle on
    ``session.priced``, invoicing issues on ``session.settled``). On the way wallets are refilled as drivers would
    and each month's statements of post-paid drivers are issued when the month is over. Returns the replay
    statistics and the number of statements issued."""
    ctx = charging.ChargingContext(bus=state.bus, clock=clock, start_checks=state.start_checks)
    pay = state.payments
    months_done: set[str] = set()
    statements = 0

    def before(session: PlannedSession) -> None:
        nonlocal statements
        month = session.start.astimezone(ZoneInfo(catalog.OPERATOR_TIME_ZONE)).strftime("%Y-%m")
        if months_done and month not in months_done:
            for period in sorted(months_done):
                clock.at = session.start
                statements += len(
                    invoice_runs.run_monthly(state.db, period, clock=clock, operator_id=catalog.OPERATOR_ID).issued
                )
            settlement.process_due_payments(pay, limit=100_000)
            months_done.clear()
        months_done.add(month)
        driver = session.driver
        if driver.payment_method == "wallet":
            with state.db.uow() as uow:
                balance = settlement.wallet_balance(uow, driver.id, catalog.CURRENCY)
            if balance.amount < WALLET_REFILL_BELOW:
                clock.at = session.start
                wallet.top_up_wallet(pay, driver.id, WALLET_TOP_UP, request_key=f"demo-refill-{session.key}")

    stats = replay(state.db, ctx, clock, plan, before_session=before, progress=progress)
    settlement.process_due_payments(pay, limit=100_000)
    return stats, statements
