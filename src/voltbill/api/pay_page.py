"""The ad-hoc payment page (EU AFIR Art. 5): ``/pay/{evse_id}``, no login.

Shows the EVSE's prices before the session, takes a card (sandbox: a card number; Stripe: the PaymentMethod id
Stripe.js makes), holds the pre-authorisation, starts the charger remotely, then shows the live session (the page
polls ``/pay/{evse_id}/sessions/{token}.json``) and the receipt. The token in the URL is the session's secret key.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Any

import anyio
from fastapi import APIRouter, Form, Request
from fastapi.responses import FileResponse, HTMLResponse, RedirectResponse, Response
from fastapi.templating import Jinja2Templates

from voltbill.adapters.payments.port import GatewayUnavailable, PaymentDeclined
from voltbill.adapters.payments.sandbox import tokenize_card
from voltbill.api.auth import CsrfDep, csrf_token_for
from voltbill.domain.errors import InvalidInput, NotFound, VoltbillError
from voltbill.services import ad_hoc, invoicing
from voltbill.services.payment_context import PaymentsContext
from voltbill.services.payment_events import ensure_worker

router = APIRouter(tags=["pay page"], include_in_schema=False)
templates = Jinja2Templates(directory=str(Path(__file__).with_name("templates")))
SCRIPT = Path(__file__).parent / "static" / "pay" / "pay.js"
_TOKEN = r"^AH[0-9A-F]{18}$"


def _ctx(request: Request) -> PaymentsContext:
    ctx: PaymentsContext = request.app.state.payments
    ensure_worker(ctx)
    return ctx


def _page(
    request: Request, evse: ad_hoc.Evse, ctx: PaymentsContext, error: str | None = None, status: int = 200
) -> Response:
    return templates.TemplateResponse(
        request,
        "pay/evse.html",
        {
            "evse": evse,
            "sheet": ad_hoc.price_sheet(ctx, evse),
            "sandbox": ctx.gateway.name == "sandbox",
            "preauth": ctx.config.preauth_amount,
            "csrf_token": csrf_token_for(request),
            "error": error,
        },
        status_code=status,
    )


@router.get("/pay/assets/pay.js")
def pay_script() -> FileResponse:
    return FileResponse(SCRIPT, media_type="text/javascript")


@router.get("/pay/{evse_id}", response_class=HTMLResponse)
def pay_page(evse_id: str, request: Request) -> Response:
    ctx = _ctx(request)
    try:
        evse = ad_hoc.find_evse(ctx, evse_id)
    except NotFound as exc:
        return templates.TemplateResponse(request, "pay/not_found.html", {"message": exc.message}, status_code=404)
    return _page(request, evse, ctx)


@router.post("/pay/{evse_id}/start")
async def pay_start(
    evse_id: str,
    request: Request,
    _csrf: CsrfDep,
    card_number: Annotated[str | None, Form(max_length=30)] = None,
    payment_method_id: Annotated[str | None, Form(max_length=100)] = None,
    email: Annotated[str | None, Form(max_length=320)] = None,
) -> Response:
    """Hold the pre-authorisation and start the charger; on success go to the live session page."""
    ctx = _ctx(request)
    evse = ad_hoc.find_evse(ctx, evse_id)
    try:
        if ctx.gateway.name == "sandbox":
            payment_method_id = tokenize_card(card_number or "")
        if not payment_method_id:
            raise InvalidInput("enter your card", field="payment_method_id")
        start = await anyio.to_thread.run_sync(ad_hoc.start_ad_hoc, ctx, evse, payment_method_id, email or None)
    except (PaymentDeclined, GatewayUnavailable, InvalidInput) as exc:
        return _page(request, evse, ctx, error=exc.message, status=402 if isinstance(exc, PaymentDeclined) else 422)
    params = {"id_token": start.token, "evse_id": evse.evse_id, "connector_id": evse.evse_id}
    try:
        answer: Any = await _send_remote_start(evse.charge_point_id, params)
        accepted = str((answer or {}).get("status", "Accepted")) == "Accepted"
        reason = "the charger refused to start"
    except VoltbillError as exc:
        accepted, reason = False, exc.message
    if not accepted:
        await anyio.to_thread.run_sync(ad_hoc.abandon_ad_hoc, ctx, start)
        return _page(request, evse, ctx, error=f"{reason}; your card hold was released.", status=409)
    return RedirectResponse(f"/pay/{evse.uid}/sessions/{start.token}", status_code=303)


async def _send_remote_start(cp_id: str, params: dict[str, Any]) -> Any:
    from voltbill.adapters.ocpp.connections import send_command

    return await send_command(cp_id, "remote-start", params)


@router.get("/pay/{evse_id}/sessions/{token}.json")
def pay_session_json(evse_id: str, token: str, request: Request) -> dict[str, Any]:
    ctx = _ctx(request)
    status = ad_hoc.ad_hoc_status(ctx, _check_token(token))
    if status.get("receipt_number"):
        status["receipt_url"] = f"/pay/{evse_id}/sessions/{token}/receipt.pdf"
    return status


@router.get("/pay/{evse_id}/sessions/{token}", response_class=HTMLResponse)
def pay_session(evse_id: str, token: str, request: Request) -> Response:
    ctx = _ctx(request)
    evse = ad_hoc.find_evse(ctx, evse_id)
    status = ad_hoc.ad_hoc_status(ctx, _check_token(token))
    return templates.TemplateResponse(request, "pay/session.html", {"evse": evse, "token": token, "status": status})


@router.get("/pay/{evse_id}/sessions/{token}/receipt.pdf")
def pay_receipt(evse_id: str, token: str, request: Request) -> Response:
    ctx = _ctx(request)
    evse = ad_hoc.find_evse(ctx, evse_id)
    number = ad_hoc.ad_hoc_status(ctx, _check_token(token)).get("receipt_number")
    if not number:
        raise NotFound("the receipt is not ready yet; retry in a moment", code="receipt_not_ready")
    pdf = invoicing.invoice_pdf(ctx.db, evse.operator_id, number, clock=ctx.clock)
    return Response(
        pdf, media_type="application/pdf", headers={"Content-Disposition": f'inline; filename="{number}.pdf"'}
    )


def _check_token(token: str) -> str:
    if not re.fullmatch(_TOKEN, token):
        raise NotFound("this payment page link is not valid", code="ad_hoc_not_found", field="token")
    return token
