"""``voltbill ledger trial-balance`` and ``voltbill payments open|collect``."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from voltbill.cli import DEFAULT_OPERATOR_ID, app, one_line_errors
from voltbill.domain.clock import SystemClock

if TYPE_CHECKING:
    from voltbill.adapters.store.db import Database

ledger_app = typer.Typer(help="The double-entry ledger.", no_args_is_help=True)
payments_app = typer.Typer(help="Card payments, wallets and their follow-up.", no_args_is_help=True)
app.add_typer(ledger_app, name="ledger")
app.add_typer(payments_app, name="payments")

out = Console()
JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def _db() -> Database:
    from voltbill.adapters.store.db import Database
    from voltbill.adapters.store.migrate import migrate
    from voltbill.config import get_settings

    url = get_settings().database_url
    migrate(url)
    return Database(url)


@ledger_app.command("trial-balance")
@one_line_errors
def trial_balance(
    currency: str = typer.Option(None, "--currency", help="Only this ISO 4217 currency."), as_json: bool = JsonOpt
) -> None:
    """Debit and credit totals of every account; exit code 1 when debits and credits differ."""
    from voltbill.services import payments

    db = _db()
    with db.uow() as uow:
        result = payments.trial_balance_json(uow, currency)
    if as_json:
        out.print_json(json.dumps(result))
    else:
        table = Table("account", "currency", "debit", "credit", "balance", title="Trial balance")
        for row in result["accounts"]:
            table.add_row(row["account"], row["currency"], row["debit"], row["credit"], row["balance"])
        out.print(table)
        out.print("balanced" if result["balanced"] else "NOT balanced")
    if not result["balanced"]:
        raise typer.Exit(1)


@payments_app.command("open")
@one_line_errors
def open_payments(
    operator: str = typer.Option(DEFAULT_OPERATOR_ID, "--operator", help="Operator id."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    as_json: bool = JsonOpt,
) -> None:
    """Payments to follow up: pending captures, failed payments (booked as debt), declined holds."""
    from voltbill.services import payments

    db = _db()
    with db.uow() as uow:
        items, _ = payments.list_payments(uow, operator, open_only=True, limit=limit)
    if as_json:
        out.print_json(json.dumps(items))
        return
    table = Table("payment", "driver", "status", "amount", "attempts", "next attempt", "last error")
    for p in items:
        amount = f"{p['amount'] or ''} {p['currency']}"
        table.add_row(
            p["id"],
            p["driver_id"],
            p["status"],
            amount,
            str(p["attempts"]),
            p["next_attempt_at"] or "",
            p["last_error"] or "",
        )
    out.print(table)


@payments_app.command("collect")
@one_line_errors
def collect() -> None:
    """Run the payments worker once: settle priced CDRs that were never settled, collect due card payments."""
    from voltbill.config import PaymentSettings
    from voltbill.services.events import EventBus
    from voltbill.services.payment_context import PaymentsContext, make_gateway
    from voltbill.services.payment_events import settle_unsettled
    from voltbill.services.settlement import process_due_payments

    db = _db()
    config = PaymentSettings()
    ctx = PaymentsContext(db, make_gateway(config), EventBus(), SystemClock(), config)
    settled = settle_unsettled(ctx)
    attempted = process_due_payments(ctx)
    out.print(f"settled {settled} CDRs, attempted {attempted} card payments")
