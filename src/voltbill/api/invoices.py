"""``/api/v1/invoices`` (issued invoices, receipts, statements, credit notes; their PDFs) and ``/api/v1/branding``."""

from __future__ import annotations

import base64
import binascii
from typing import Any

from fastapi import APIRouter, Response
from pydantic import BaseModel, ConfigDict, Field

from voltbill.api.deps import ClockDep, DbDep, OperatorDep, UowDep
from voltbill.api.pagination import Cursor, Limit, decode_cursor, page_body
from voltbill.domain.errors import InvalidInput
from voltbill.domain.invoice_json import invoice_to_json
from voltbill.services import invoicing, outbox

router = APIRouter(prefix="/api/v1", tags=["invoices"])


@router.get("/invoices", summary="List issued invoices, newest first")
def list_invoices(
    caller: OperatorDep, uow: UowDep, driver_id: str | None = None, limit: Limit = 50, cursor: Cursor = None
) -> dict[str, Any]:
    after = decode_cursor(cursor)
    if after is not None and not after.isdigit():
        raise InvalidInput("cursor is not a next_cursor returned by this API.", field="cursor")
    items, next_id = invoicing.list_invoices(
        uow, caller.operator_id, driver_id=driver_id, limit=limit, after=int(after) if after else None
    )
    return page_body([invoice_to_json(i) for i in items], None if next_id is None else str(next_id))


@router.get(
    "/invoices/{number}.pdf",
    summary="The invoice PDF (PDF/A-3 with the embedded Factur-X EN 16931 XML)",
    response_class=Response,
    responses={200: {"content": {"application/pdf": {}}}},
)
def invoice_pdf(number: str, caller: OperatorDep, db: DbDep, clock: ClockDep) -> Response:
    pdf = invoicing.invoice_pdf(db, caller.operator_id, number, clock=clock)
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{number}.pdf"'}
    )


@router.get("/invoices/{number}", summary="One invoice: lines, VAT breakdown, totals, status, CDRs")
def get_invoice(number: str, caller: OperatorDep, uow: UowDep) -> dict[str, Any]:
    return invoice_to_json(invoicing.get_invoice(uow, caller.operator_id, number))


@router.post("/invoices/{number}/credit-note", status_code=201, summary="Credit an issued invoice in full")
def credit_invoice(number: str, caller: OperatorDep, uow: UowDep, clock: ClockDep) -> dict[str, Any]:
    return invoice_to_json(invoicing.credit_invoice(uow, caller.operator_id, number, clock=clock).invoice)


@router.post("/invoices/{number}/void", summary="Void an issued invoice that was not sent yet")
def void_invoice(number: str, caller: OperatorDep, uow: UowDep) -> dict[str, Any]:
    return invoice_to_json(invoicing.void_invoice(uow, caller.operator_id, number))


@router.post("/invoices/{number}/resend", status_code=202, summary="Queue the invoice e-mail again")
def resend_invoice(number: str, caller: OperatorDep, uow: UowDep, clock: ClockDep) -> dict[str, str]:
    return {"message_id": outbox.resend(uow, caller.operator_id, number, clock=clock)}


class BrandingIn(BaseModel):
    """Any subset of the branding fields; ``logo`` is a base64 PNG, JPEG or SVG file."""

    model_config = ConfigDict(extra="forbid")

    legal_name: str | None = Field(default=None, max_length=200)
    address: list[str] | None = None
    country: str | None = None
    vat_id: str | None = Field(default=None, max_length=40)
    color: str | None = Field(default=None, examples=["#0b6e4f"])
    footer: str | None = Field(default=None, max_length=500)
    invoice_prefix: str | None = None
    email_from: str | None = Field(default=None, max_length=320)
    template: str | None = None
    template_source: str | None = Field(default=None, description="Typst source of the operator's own template")
    logo: str | None = Field(default=None, description="base64 of a PNG, JPEG or SVG file")


def _branding_out(uow: Any, operator_id: str) -> dict[str, Any]:
    branding, logo, kind = invoicing.get_branding(uow, operator_id)
    return {**branding.to_json(), "logo_type": kind, "has_logo": logo is not None}


@router.get("/branding", summary="The operator's invoice branding")
def get_branding(caller: OperatorDep, uow: UowDep) -> dict[str, Any]:
    return _branding_out(uow, caller.operator_id)


@router.put("/branding", summary="Change the operator's invoice branding (logo, colours, legal details, template)")
def put_branding(body: BrandingIn, caller: OperatorDep, uow: UowDep, clock: ClockDep) -> dict[str, Any]:
    changes = body.model_dump(exclude_none=True)
    logo = None
    if "logo" in changes:
        try:
            logo = base64.b64decode(changes.pop("logo"), validate=True)
        except (binascii.Error, ValueError):
            raise InvalidInput("logo must be base64", field="logo") from None
    invoicing.set_branding(uow, caller.operator_id, changes, clock=clock, logo=logo)
    return _branding_out(uow, caller.operator_id)
