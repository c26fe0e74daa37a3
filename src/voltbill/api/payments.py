"""Payments REST: wallets and top-ups, cards on file, payment history, refunds, the ledger's trial balance, and
the payment provider webhooks (``/api/v1/webhooks/stripe``, ``/api/v1/webhooks/sandbox``; signed, no API key)."""

from __future__ import annotations

from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Header, Query, Request
from pydantic import BaseModel, ConfigDict, Field

from voltbill.api.deps import OperatorDep, UowDep
from voltbill.api.ids import DriverId
from voltbill.api.pagination import Cursor, Limit, decode_cursor, encode_cursor
from voltbill.domain.errors import NotFound
from voltbill.services import payment_events, payments, registry, wallet
from voltbill.services.payment_context import PaymentsContext

router = APIRouter(prefix="/api/v1", tags=["payments"])

_AMOUNT = r"^[0-9]+(\.[0-9]+)?$"
IdempotencyKey = Annotated[
    str,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Unique per intended operation; a retry with the same key answers the first result.",
    ),
]


class TopUpIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: str = Field(pattern=_AMOUNT, examples=["50.00"])
    currency: str = Field(pattern=r"^[A-Z]{3}$", examples=["EUR"])
    source: str = Field(default="manual", pattern=r"^(manual|card)$", description="manual, or card (card on file)")


class CardIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    provider: str = Field(examples=["stripe"])
    payment_method_id: str = Field(min_length=1, max_length=100, examples=["pm_card_visa"])


class AutoTopUpIn(BaseModel):
    """Charge ``amount`` to the card on file when the balance falls below ``threshold``; nulls switch it off."""

    model_config = ConfigDict(extra="forbid")

    threshold: str | None = Field(default=None, pattern=_AMOUNT)
    amount: str | None = Field(default=None, pattern=_AMOUNT)
    currency: str = Field(pattern=r"^[A-Z]{3}$")


class RefundIn(BaseModel):
    model_config = ConfigDict(extra="forbid")

    amount: str = Field(pattern=_AMOUNT, examples=["5.00"])
    currency: str = Field(pattern=r"^[A-Z]{3}$")
    reason: str | None = Field(default=None, max_length=200)


def _ctx(request: Request) -> PaymentsContext:
    ctx: PaymentsContext = request.app.state.payments
    payment_events.ensure_worker(ctx)
    return ctx


def _driver(uow: Any, driver_id: str, operator_id: str) -> registry.DriverInfo:
    """The operator's driver; ends the request's transaction, since payments open their own units of work (on
    SQLite every transaction holds the one write lock)."""
    driver = registry.get_driver(uow, driver_id, operator_id=operator_id)
    uow.rollback()
    if driver is None:
        raise NotFound(f"driver {driver_id} is not registered.", code="driver_not_found", field="driver_id")
    return driver


@router.get("/drivers/{driver_id}/wallet", summary="A driver's wallet balance")
def get_wallet(driver_id: DriverId, caller: OperatorDep, uow: UowDep, request: Request) -> dict[str, Any]:
    _driver(uow, driver_id, caller.operator_id)
    return wallet.get_wallet(uow, driver_id, _ctx(request).config.default_currency).to_json()


@router.post("/drivers/{driver_id}/wallet/top-ups", summary="Top up a wallet (idempotent); answers the new balance")
def post_top_up(
    driver_id: DriverId, body: TopUpIn, key: IdempotencyKey, caller: OperatorDep, uow: UowDep, request: Request
) -> dict[str, Any]:
    _driver(uow, driver_id, caller.operator_id)
    amount = wallet.parse_amount(body.amount, body.currency, "$.amount")
    return wallet.top_up_wallet(_ctx(request), driver_id, amount, key, source=body.source)


@router.put("/drivers/{driver_id}/wallet/auto-top-up", summary="Set the automatic card top-up of a wallet")
def put_auto_top_up(
    driver_id: DriverId, body: AutoTopUpIn, caller: OperatorDep, uow: UowDep, request: Request
) -> dict[str, Any]:
    _driver(uow, driver_id, caller.operator_id)
    threshold = None if body.threshold is None else wallet.parse_amount(body.threshold, body.currency, "$.threshold")
    amount = None if body.amount is None else wallet.parse_amount(body.amount, body.currency, "$.amount")
    return wallet.set_auto_top_up(_ctx(request), driver_id, threshold, amount)


@router.put("/drivers/{driver_id}/card", summary="Put a card on file (a provider payment method id)")
def put_card(driver_id: DriverId, body: CardIn, caller: OperatorDep, uow: UowDep, request: Request) -> dict[str, Any]:
    driver = _driver(uow, driver_id, caller.operator_id)
    return payments.save_card(_ctx(request), driver_id, driver.email, body.provider, body.payment_method_id)


@router.get("/drivers/{driver_id}/payments", summary="A driver's payment history")
def get_driver_payments(
    driver_id: DriverId, caller: OperatorDep, uow: UowDep, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    _driver(uow, driver_id, caller.operator_id)
    items, last = payments.list_payments(
        uow, caller.operator_id, driver_id=driver_id, limit=limit, after=decode_cursor(cursor)
    )
    return {"items": items, "next_cursor": encode_cursor(last)}


@router.get("/payments", summary="Payments; ?status=open lists pending, failed and declined ones to follow up")
def get_payments(
    caller: OperatorDep,
    uow: UowDep,
    status: Annotated[str | None, Query(pattern=r"^open$")] = None,
    limit: Limit = 50,
    cursor: Cursor = None,
) -> dict[str, Any]:
    items, last = payments.list_payments(
        uow, caller.operator_id, open_only=status == "open", limit=limit, after=decode_cursor(cursor)
    )
    return {"items": items, "next_cursor": encode_cursor(last)}


@router.get("/payments/{payment_id}", summary="One payment")
def get_payment(payment_id: str, caller: OperatorDep, uow: UowDep) -> dict[str, Any]:
    return payments.get_payment(uow, payment_id, caller.operator_id)


@router.post("/payments/{payment_id}/refunds", summary="Refund (part of) a session payment (idempotent)")
def post_refund(
    payment_id: str, body: RefundIn, key: IdempotencyKey, caller: OperatorDep, uow: UowDep, request: Request
) -> dict[str, Any]:
    payments.get_payment(uow, payment_id, caller.operator_id)
    uow.rollback()
    amount = wallet.parse_amount(body.amount, body.currency, "$.amount")
    return payments.refund_payment(_ctx(request), payment_id, amount, key, body.reason)


@router.get("/ledger/trial-balance", summary="Debit and credit totals of the ledger accounts, the operator's share")
def get_trial_balance(
    caller: OperatorDep, uow: UowDep, currency: Annotated[str | None, Query(pattern=r"^[A-Z]{3}$")] = None
) -> dict[str, Any]:
    """Only the transfers of the operator's own drivers: shared accounts (``revenue``, ``vat_payable``,
    ``clearing:*``, ``refunds``) show the operator's share, and that share balances on its own."""
    return payments.trial_balance_json(uow, currency, operator_id=caller.operator_id)


@router.get("/ledger/card-reconciliation", summary="Card CDR totals against captured, pending and failed payments")
def get_card_reconciliation(caller: OperatorDep, uow: UowDep) -> dict[str, Any]:
    return payments.card_reconciliation(uow, caller.operator_id)


async def _webhook(request: Request, signature: str | None) -> dict[str, Any]:
    ctx = _ctx(request)
    payload = await request.body()
    return await anyio.to_thread.run_sync(payments.handle_webhook, ctx, payload, signature)


@router.post("/webhooks/stripe", summary="Stripe webhook (Stripe-Signature verified)", tags=["webhooks"])
async def stripe_webhook(
    request: Request, signature: Annotated[str | None, Header(alias="Stripe-Signature")] = None
) -> dict[str, Any]:
    return await _webhook(request, signature)


@router.post("/webhooks/sandbox", summary="Sandbox gateway webhook (Sandbox-Signature verified)", tags=["webhooks"])
async def sandbox_webhook(
    request: Request, signature: Annotated[str | None, Header(alias="Sandbox-Signature")] = None
) -> dict[str, Any]:
    return await _webhook(request, signature)
