"""``voltbill ledger trial-balance`` and ``voltbill payments open|collect`` through the real Typer app (SQLite)."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
from typer.testing import CliRunner

from voltbill.adapters.payments.sandbox import CHARGE_FAILS, SandboxGateway, tokenize_card
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.migrate import migrate
from voltbill.cli import app
from voltbill.config import PaymentSettings, get_settings
from voltbill.domain.clock import SystemClock
from voltbill.domain.money import Money
from voltbill.services import registry
from voltbill.services.access import bootstrap
from voltbill.services.events import EventBus
from voltbill.services.payment_context import PaymentsContext
from voltbill.services.payments import save_card
from voltbill.services.settlement import settle_priced_session
from voltbill.services.wallet import top_up_wallet


@pytest.fixture
def ctx(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[PaymentsContext]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("VOLTBILL_DATABASE_URL", url)
    monkeypatch.setenv("VOLTBILL_PAYMENT_GATEWAY", "sandbox")
    get_settings.cache_clear()
    migrate(url)
    db = Database(url)
    yield PaymentsContext(db, SandboxGateway(), EventBus(), SystemClock(), PaymentSettings(payment_gateway="sandbox"))
    db.dispose()
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout


def test_the_trial_balance_command_prints_every_account_and_says_balanced(ctx: PaymentsContext) -> None:
    top_up_wallet(ctx, "drv", Money.of("20.00", "EUR"), "k")
    code, out = run("ledger", "trial-balance", "--json")
    assert code == 0
    body = json.loads(out)
    assert body["balanced"] is True
    assert {r["account"]: r["balance"] for r in body["accounts"]} == {"clearing:manual": "20.00", "wallet:drv": "20.00"}
    code, out = run("ledger", "trial-balance")
    assert code == 0 and "balanced" in out and "wallet:drv" in out


def test_collect_retries_due_card_payments_and_open_lists_them(ctx: PaymentsContext) -> None:
    with ctx.db.uow() as uow:
        bootstrap(uow, get_settings(), clock=ctx.clock)
    with ctx.db.uow() as uow:
        registry.upsert_driver(
            uow, "default", "drv", name="Ana", email="ana@example.com", payment_method="card", clock=ctx.clock
        )
    save_card(ctx, "drv", "ana@example.com", "sandbox", tokenize_card(CHARGE_FAILS))
    event = {
        "session_id": "s1",
        "cdr_id": "c1",
        "driver_id": "drv",
        "currency": "EUR",
        "total_cost": {"excl_vat": "10.0000", "incl_vat": "11.9000"},
    }
    settle_priced_session(ctx, event, "card")
    code, out = run("payments", "collect")
    assert (code, out.strip()) == (0, "settled 0 CDRs, attempted 1 card payments")
    code, out = run("payments", "open", "--json")
    (item,) = json.loads(out)
    assert (item["session_id"], item["status"], item["attempts"]) == ("s1", "capture_pending", 1)
