"""Ad-hoc charging without a contract (EU AFIR, Regulation (EU) 2023/1804, Art. 5: pay by card at the charger).

``price_sheet`` shows what the EVSE costs before the session; ``start_ad_hoc`` creates a one-off driver with an
``AD_HOC_USER`` token and the card on file, holds ``preauth_amount`` and asks the charger to start; from then on the
session is paid like any card session (capture of the CDR total, the rest of the hold released). ``ad_hoc_status``
is what the page polls.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from sqlalchemy import select

from voltbill.adapters.payments.port import PaymentDeclined
from voltbill.adapters.store.tables.invoices import InvoiceRow
from voltbill.adapters.store.tables.ledger import Payment
from voltbill.domain.errors import InvalidInput, NotFound
from voltbill.domain.idempotency import idempotency_key
from voltbill.domain.rounding import cdr_amount
from voltbill.services import registry
from voltbill.services.card_holds import Hold, preauthorise_token, release_hold
from voltbill.services.payment_context import PaymentsContext
from voltbill.services.payments import save_card
from voltbill.services.sessions_query import get_session, list_sessions

# OCPI 2.2.1 mod_tariffs TariffDimensionType: TIME and PARKING_TIME are priced per hour, ENERGY per kWh.
_LABELS = {
    "ENERGY": ("per kWh", Decimal(1)),
    "TIME": ("per minute charging", Decimal(60)),
    "FLAT": ("per session", Decimal(1)),
    "PARKING_TIME": ("per minute idle (parking) fee", Decimal(60)),
}


@dataclass(frozen=True, slots=True)
class Evse:
    """An EVSE as the pay page names it: ``{charge_point_id}-{evse_id}`` (the CDR's ``evse_uid``)."""

    charge_point_id: str
    evse_id: int
    operator_id: str
    tariff_id: str | None

    @property
    def uid(self) -> str:
        return f"{self.charge_point_id}-{self.evse_id}"


def find_evse(ctx: PaymentsContext, evse_uid: str) -> Evse:
    """Resolve ``{charge_point_id}-{evse_id}`` (or a bare charge point id: its EVSE 1)."""
    cp_id, _, number = evse_uid.rpartition("-")
    candidates = [(cp_id, int(number))] if cp_id and number.isdigit() else []
    candidates.append((evse_uid, 1))
    with ctx.db.uow() as uow:
        for cp, evse in candidates:
            info = registry.get_charge_point(uow, cp)
            if info is not None:
                return Evse(info.id, evse, info.operator_id, info.tariff_id)
    raise NotFound(f"charging point {evse_uid} is not known here", code="evse_not_found", field="evse_id")


def _price(value: Decimal) -> str:
    text = format(cdr_amount(value), "f").rstrip("0")
    whole, _, frac = text.partition(".")
    return f"{whole}.{frac.ljust(2, '0')}"


def price_sheet(ctx: PaymentsContext, evse: Evse) -> dict[str, Any]:
    """The tariff's price components now, excl. and incl. VAT (``incl_vat`` None when the tariff has no VAT)."""
    if evse.tariff_id is None:
        return {"currency": None, "elements": [], "tariff_id": None}
    with ctx.db.uow() as uow:
        tariff = registry.tariff_at(uow, evse.tariff_id, ctx.clock.now())
    elements = []
    for element in tariff.elements:
        rows = []
        for c in element.price_components:
            label, divisor = _LABELS.get(c.type, (c.type.lower(), Decimal(1)))
            net = c.price / divisor
            rows.append(
                {
                    "type": c.type,
                    "label": label,
                    "excl_vat": _price(net),
                    "incl_vat": None if c.vat is None else _price(net * (1 + c.vat / 100)),
                    "vat": None if c.vat is None else format(c.vat.normalize(), "f"),
                }
            )
        restrictions = element.restrictions
        when = []
        if restrictions is not None:
            if restrictions.start_time or restrictions.end_time:
                when.append(f"{restrictions.start_time or '00:00'}–{restrictions.end_time or '24:00'}")
            if restrictions.day_of_week:
                when.append(", ".join(d.title()[:3] for d in restrictions.day_of_week))
        elements.append({"components": rows, "when": " ".join(str(w) for w in when)})
    alt = next((t.text for t in tariff.tariff_alt_text if t.language.startswith("en")), None)
    bounds = {
        name: {
            "excl_vat": _price(price.excl_vat),
            "incl_vat": None if price.incl_vat is None else _price(price.incl_vat),
        }
        for name, price in (("min_price", tariff.min_price), ("max_price", tariff.max_price))
        if price is not None
    }
    return {"currency": tariff.currency, "elements": elements, "tariff_id": tariff.id, "alt_text": alt, **bounds}


@dataclass(frozen=True, slots=True)
class AdHocStart:
    """The pay page's session handle: ``token`` (the id token, secret: it is the page's access key), the hold."""

    token: str
    driver_id: str
    hold: Hold


def start_ad_hoc(ctx: PaymentsContext, evse: Evse, payment_method_id: str, email: str | None) -> AdHocStart:
    """Register the one-off driver and token, put the card on file and hold ``preauth_amount`` (raises
    ``PaymentDeclined``). The caller then sends ``remote-start`` and ``abandon_ad_hoc`` if the charger refuses."""
    sheet = price_sheet(ctx, evse)
    if sheet["currency"] is None:
        raise InvalidInput(f"{evse.uid} has no tariff; it cannot be paid ad hoc", code="no_tariff", field="evse_id")
    token = "AH" + secrets.token_hex(9).upper()  # 20 characters: OCPP 1.6 idTag is CiString20
    driver_id = f"adhoc-{token.lower()}"
    with ctx.db.uow() as uow:
        registry.upsert_driver(
            uow, evse.operator_id, driver_id, name="Ad-hoc payment", email=email or "", payment_method="card",
            clock=ctx.clock,
        )  # fmt: skip
    with ctx.db.uow() as uow:
        registry.upsert_token(uow, evse.operator_id, driver_id, token, type="AD_HOC_USER", clock=ctx.clock)
    save_card(ctx, driver_id, email, ctx.gateway.name, payment_method_id)
    hold = preauthorise_token(ctx, driver_id, token, str(sheet["currency"]))
    if hold.status != "authorised":
        raise PaymentDeclined(f"the card was not accepted: {hold.error}", field="card")
    return AdHocStart(token, driver_id, hold)


def abandon_ad_hoc(ctx: PaymentsContext, start: AdHocStart) -> None:
    """Release the hold of an ad-hoc session that never started."""
    release_hold(ctx, start.hold.payment_id)


def ad_hoc_status(ctx: PaymentsContext, token: str) -> dict[str, Any]:
    """What the page shows: ``waiting`` for the charger, ``active`` with the cost so far, ``completed`` with the
    total, the payment status and, once issued, the receipt number."""
    driver_id = f"adhoc-{token.lower()}"
    with ctx.db.uow() as uow:
        hold = (
            uow.session.execute(select(Payment).where(Payment.id_token == token).order_by(Payment.created_at))
            .scalars()
            .first()
        )
        if hold is None:
            raise NotFound("this payment page link is not valid", code="ad_hoc_not_found", field="token")
        sessions, _ = list_sessions(uow, driver_id=driver_id, limit=1)
        out: dict[str, Any] = {"status": "waiting", "payment_status": hold.status, "currency": hold.currency}
        if hold.status == "cancelled" and not sessions:
            out["status"] = "cancelled"
        if sessions:
            session = get_session(uow, sessions[0]["id"]) or sessions[0]
            out.update(status=session["status"], kwh=session.get("kwh"), session_id=session["id"])
            live = session.get("live_cost") or {}
            if live.get("total_cost"):
                out["cost"] = live["total_cost"]
            if session.get("cdr_id"):
                payment = uow.session.execute(
                    select(Payment).where(Payment.session_id == session["id"])
                ).scalar_one_or_none()
                if payment is not None:
                    out["payment_status"] = payment.status
                    out["paid"] = None if payment.amount is None else format(payment.amount, "f")
                key = idempotency_key("invoice", cdr_id=session["cdr_id"])
                number = uow.session.execute(
                    select(InvoiceRow.number).where(InvoiceRow.source_key == key)
                ).scalar_one_or_none()
                out["receipt_number"] = number
        return out
