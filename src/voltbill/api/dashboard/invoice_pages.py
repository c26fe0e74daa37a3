"""Invoice pages for the operator (all invoices) and for drivers (only their own), with the PDF inline.

The PDF is served here, behind the web sign-in, so the page can show it in an iframe (the REST API's PDF needs
an API key). A driver asking for another driver's invoice gets 404, the same as for a number that does not
exist, so invoice numbers of other people cannot be probed.
"""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Query, Request
from fastapi.responses import HTMLResponse, Response

from voltbill.api.dashboard.web import DriverUser, OperatorUser, render
from voltbill.api.deps import ClockDep, DbDep, UowDep
from voltbill.domain.errors import NotFound
from voltbill.domain.invoices import Invoice
from voltbill.services import invoicing

router = APIRouter(include_in_schema=False)
PAGE_SIZE = 50
KIND_LABELS = {
    "invoice": "Invoice",
    "receipt": "Receipt",
    "statement": "Monthly statement",
    "credit_note": "Credit note",
}
# The PDF may be framed by our own pages only (the app's default policy forbids all framing).
PDF_HEADERS = {"Content-Security-Policy": "default-src 'none'; frame-ancestors 'self'", "X-Frame-Options": "SAMEORIGIN"}


def _cursor(value: str | None) -> int | None:
    return int(value) if value and value.isdigit() else None


def _next_url(request: Request, after: int | None) -> str | None:
    return str(request.url.include_query_params(cursor=after)) if after is not None else None


def _pdf(db: Any, operator_id: str, number: str, clock: Any, download: bool) -> Response:
    pdf = invoicing.invoice_pdf(db, operator_id, number, clock=clock)
    disposition = "attachment" if download else "inline"
    headers = {**PDF_HEADERS, "Content-Disposition": f'{disposition}; filename="{number}.pdf"'}
    return Response(pdf, media_type="application/pdf", headers=headers)


def _own_invoice(uow: Any, caller: Any, number: str) -> Invoice:
    invoice = invoicing.get_invoice(uow, caller.operator_id, number)
    if invoice.driver_id != caller.driver_id:
        raise NotFound(f"invoice {number} does not exist.", code="invoice_not_found")
    return invoice


# --- operator --------------------------------------------------------------------------------------------------


@router.get("/dashboard/invoices", response_class=HTMLResponse, name="dashboard_invoices")
def invoices_page(
    request: Request,
    caller: OperatorUser,
    uow: UowDep,
    driver_id: str | None = Query(None, max_length=64),
    cursor: str | None = Query(None, max_length=20),
) -> HTMLResponse:
    items, after = invoicing.list_invoices(
        uow, caller.operator_id, driver_id=driver_id or None, limit=PAGE_SIZE, after=_cursor(cursor)
    )
    return render(
        request,
        caller,
        "dashboard/invoices.html",
        "invoices",
        title="Invoices",
        invoices=items,
        kinds=KIND_LABELS,
        driver_id=driver_id or "",
        detail_route="dashboard_invoice",
        next_url=_next_url(request, after),
    )


@router.get("/dashboard/invoices/{number}", response_class=HTMLResponse, name="dashboard_invoice")
def invoice_page(request: Request, number: str, caller: OperatorUser, uow: UowDep) -> HTMLResponse:
    invoice = invoicing.get_invoice(uow, caller.operator_id, number)
    return render(
        request,
        caller,
        "dashboard/invoice.html",
        "invoices",
        title=f"{KIND_LABELS.get(invoice.kind, 'Invoice')} {number}",
        invoice=invoice,
        kinds=KIND_LABELS,
        pdf_url=request.url_for("dashboard_invoice_pdf", number=number),
        back_url=request.url_for("dashboard_invoices"),
    )


@router.get("/dashboard/invoices/{number}/pdf", name="dashboard_invoice_pdf")
def invoice_pdf(
    number: str, caller: OperatorUser, db: DbDep, clock: ClockDep, download: bool = Query(False)
) -> Response:
    return _pdf(db, caller.operator_id, number, clock, download)


# --- driver ----------------------------------------------------------------------------------------------------


@router.get("/driver/invoices", response_class=HTMLResponse, name="driver_invoices")
def my_invoices_page(
    request: Request, caller: DriverUser, uow: UowDep, cursor: str | None = Query(None, max_length=20)
) -> HTMLResponse:
    items, after = invoicing.list_invoices(
        uow, caller.operator_id, driver_id=caller.driver_id, limit=PAGE_SIZE, after=_cursor(cursor)
    )
    return render(
        request,
        caller,
        "driver/invoices.html",
        "my-invoices",
        title="My invoices",
        invoices=items,
        kinds=KIND_LABELS,
        next_url=_next_url(request, after),
    )


@router.get("/driver/invoices/{number}", response_class=HTMLResponse, name="driver_invoice")
def my_invoice_page(request: Request, number: str, caller: DriverUser, uow: UowDep) -> HTMLResponse:
    invoice = _own_invoice(uow, caller, number)
    return render(
        request,
        caller,
        "dashboard/invoice.html",
        "my-invoices",
        title=f"{KIND_LABELS.get(invoice.kind, 'Invoice')} {number}",
        invoice=invoice,
        kinds=KIND_LABELS,
        pdf_url=request.url_for("driver_invoice_pdf", number=number),
        back_url=request.url_for("driver_invoices"),
    )


@router.get("/driver/invoices/{number}/pdf", name="driver_invoice_pdf")
def my_invoice_pdf(
    number: str, caller: DriverUser, db: DbDep, clock: ClockDep, download: bool = Query(False)
) -> Response:
    with db.uow() as uow:  # closed before the PDF is rendered and stored in its own transactions
        _own_invoice(uow, caller, number)
    return _pdf(db, caller.operator_id, number, clock, download)
