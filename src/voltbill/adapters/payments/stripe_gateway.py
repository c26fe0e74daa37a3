"""Stripe gateway through the official SDK (``stripe.StripeClient``).

Card on file: a Customer with the PaymentMethod attached. Session payments are PaymentIntents with
``capture_method=manual``: confirmed off-session at session start (the hold), captured with ``amount_to_capture``
at the end, cancelled when nothing is owed. Every request carries an idempotency key (Stripe API, "Idempotent
requests"), so retrying after a timeout never charges twice.
"""

from __future__ import annotations

from typing import Any

import stripe

from voltbill.adapters.payments.port import GatewayUnavailable, InvalidWebhook, PaymentDeclined, WebhookEvent
from voltbill.domain.money import Money, minor_units


def _minor(amount: Money) -> int:
    return int(amount.amount.scaleb(minor_units(amount.currency)))


class StripeGateway:
    """Stripe (or a Stripe-compatible server at ``api_base``, such as localstripe)."""

    name = "stripe"

    def __init__(
        self,
        api_key: str,
        *,
        api_base: str | None = None,
        webhook_secret: str | None = None,
        http_client: stripe.HTTPClient | None = None,
        timeout_s: float = 30.0,
    ) -> None:
        base: Any = {"api": api_base.rstrip("/")} if api_base else None
        http_client = http_client or stripe.RequestsClient(timeout=timeout_s)
        self.client = stripe.StripeClient(api_key, base_addresses=base, max_network_retries=2, http_client=http_client)
        self.webhook_secret = webhook_secret

    def _call(self, fn: Any, *args: Any, key: str, params: dict[str, Any] | None = None) -> Any:
        try:
            return fn(*args, params=params or {}, options={"idempotency_key": key})
        except stripe.CardError as exc:
            raise PaymentDeclined(f"the card was declined: {exc.user_message or exc.code}", field="card") from None
        except stripe.InvalidRequestError as exc:
            if exc.code in ("card_declined", "payment_intent_payment_attempt_failed"):
                raise PaymentDeclined(f"the card was declined: {exc.user_message}", field="card") from None
            raise
        except (stripe.APIConnectionError, stripe.RateLimitError) as exc:
            raise GatewayUnavailable(f"Stripe did not answer: {exc.user_message}") from None
        except stripe.APIError as exc:  # 5xx after the SDK's own retries: the same key may be tried again later
            raise GatewayUnavailable(f"Stripe failed with HTTP {exc.http_status}: {exc.user_message}") from None

    def ensure_customer(self, driver_id: str, email: str | None, *, key: str) -> str:
        params: dict[str, Any] = {"metadata": {"driver_id": driver_id}}
        if email:
            params["email"] = email
        return str(self._call(self.client.v1.customers.create, key=key, params=params).id)

    def attach_card(self, customer_id: str, payment_method_id: str, *, key: str) -> str:
        pm = self._call(
            self.client.v1.payment_methods.attach, payment_method_id, key=key, params={"customer": customer_id}
        )
        return str(pm.id)

    def _intent(self, customer_id: str | None, pm: str, amount: Money, key: str, capture_method: str) -> str:
        params: dict[str, Any] = {
            "amount": _minor(amount),
            "currency": amount.currency.lower(),
            "payment_method": pm,
            "payment_method_types": ["card"],
            "capture_method": capture_method,
            "confirm": True,
        }
        if customer_id:
            params["customer"] = customer_id
            params["off_session"] = True
        intent = self._call(self.client.v1.payment_intents.create, key=key, params=params)
        if intent.status not in ("requires_capture", "succeeded", "processing"):
            raise PaymentDeclined(f"the card payment ended in status {intent.status}", field="card")
        return str(intent.id)

    def authorize(self, customer_id: str | None, payment_method_id: str, amount: Money, *, key: str) -> str:
        return self._intent(customer_id, payment_method_id, amount, key, "manual")

    def capture(self, ref: str, amount: Money, *, key: str) -> None:
        try:
            self._call(
                self.client.v1.payment_intents.capture, ref, key=key, params={"amount_to_capture": _minor(amount)}
            )
        except stripe.InvalidRequestError:
            if not self._already(ref, "succeeded"):
                raise

    def cancel(self, ref: str, *, key: str) -> None:
        try:
            self._call(self.client.v1.payment_intents.cancel, ref, key=key)
        except stripe.InvalidRequestError:
            if not self._already(ref, "canceled"):
                raise

    def _already(self, ref: str, status: str) -> bool:
        """Whether intent ``ref`` is in ``status`` already: a retried capture/cancel whose first try was applied but
        whose answer was lost, once the idempotency key no longer replays it (Stripe keeps keys for 24 hours; a
        Stripe-compatible server may not keep them at all). Only voltbill captures or cancels its intents."""
        try:
            return bool(self.client.v1.payment_intents.retrieve(ref).status == status)
        except stripe.StripeError:
            return False

    def charge(self, customer_id: str | None, payment_method_id: str, amount: Money, *, key: str) -> str:
        return self._intent(customer_id, payment_method_id, amount, key, "automatic")

    def refund(self, ref: str, amount: Money, *, key: str) -> str:
        params = {"payment_intent": ref, "amount": _minor(amount)}
        return str(self._call(self.client.v1.refunds.create, key=key, params=params).id)

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        if not self.webhook_secret:
            raise InvalidWebhook("VOLTBILL_STRIPE_WEBHOOK_SECRET is not set; webhooks cannot be verified")
        try:
            event = self.client.construct_event(payload, signature, self.webhook_secret)
        except (stripe.SignatureVerificationError, ValueError) as exc:
            raise InvalidWebhook(f"the Stripe webhook signature does not verify: {exc}", field="signature") from None
        obj = event.data.object
        return WebhookEvent(event.id, event.type, getattr(obj, "id", None), obj.to_dict())
