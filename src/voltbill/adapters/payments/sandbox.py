"""The sandbox gateway: in-process and deterministic, for the demo and operators without a Stripe account.

Card numbers behave like Stripe's test cards: ``4242424242424242`` (and any other valid number) succeeds,
``4000000000000002`` is declined, ``4000000000009995`` has insufficient funds, ``4000000000000341`` can be saved
but every charge on it is declined. Results depend only on the inputs, so a replayed call gives the same answer.
Webhooks are HMAC-SHA256 signed with the sandbox secret (header ``Sandbox-Signature``).
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections import deque
from decimal import Decimal

from voltbill.adapters.payments.port import InvalidWebhook, PaymentDeclined, WebhookEvent
from voltbill.domain.errors import InvalidInput
from voltbill.domain.money import Money, minor_units

DECLINED = "4000000000000002"
INSUFFICIENT_FUNDS = "4000000000009995"
CHARGE_FAILS = "4000000000000341"
_OUTCOME = {DECLINED: "declined", INSUFFICIENT_FUNDS: "nofunds", CHARGE_FAILS: "chargefail"}


def _luhn_ok(number: str) -> bool:
    digits = [int(d) for d in reversed(number)]
    total = sum(d if i % 2 == 0 else (d * 2 - 9 if d * 2 > 9 else d * 2) for i, d in enumerate(digits))
    return total % 10 == 0


def tokenize_card(number: str) -> str:
    """A sandbox payment method id for a card number (what Stripe.js does in the real flow)."""
    number = number.replace(" ", "").replace("-", "")
    if not (number.isdigit() and 12 <= len(number) <= 19 and _luhn_ok(number)):
        raise InvalidInput("card number is not valid", field="card_number")
    return f"pm_sandbox_{_OUTCOME.get(number, 'ok')}_{number[-4:]}"


def _minor(amount: Money) -> int:
    return int(amount.amount.scaleb(minor_units(amount.currency)))


class SandboxGateway:
    """See the module docstring. ``calls`` records the last ``CALLS_KEPT`` requests (action, key, args) for
    inspection; a demo server runs for days, so it does not keep them all."""

    CALLS_KEPT = 1000

    name = "sandbox"

    def __init__(self, webhook_secret: str = "whsec_sandbox") -> None:
        self.webhook_secret = webhook_secret
        self.calls: deque[tuple[str, str, tuple[object, ...]]] = deque(maxlen=self.CALLS_KEPT)

    def _id(self, prefix: str, key: str) -> str:
        return f"{prefix}_sbx_{hashlib.sha256(key.encode()).hexdigest()[:20]}"

    @staticmethod
    def _check(payment_method_id: str, *, off_session: bool) -> None:
        outcome = payment_method_id.split("_")[2] if payment_method_id.startswith("pm_sandbox_") else "ok"
        if outcome == "declined":
            raise PaymentDeclined("the card was declined (sandbox card 4000000000000002)", field="card")
        if outcome == "nofunds":
            raise PaymentDeclined("the card has insufficient funds (sandbox card 4000000000009995)", field="card")
        if outcome == "chargefail" and off_session:
            raise PaymentDeclined("the card was declined at charge time (sandbox card 4000000000000341)", field="card")

    def ensure_customer(self, driver_id: str, email: str | None, *, key: str) -> str:
        self.calls.append(("ensure_customer", key, (driver_id, email)))
        return self._id("cus", key)

    def attach_card(self, customer_id: str, payment_method_id: str, *, key: str) -> str:
        self.calls.append(("attach_card", key, (customer_id, payment_method_id)))
        self._check(payment_method_id, off_session=False)
        return payment_method_id

    def authorize(self, customer_id: str | None, payment_method_id: str, amount: Money, *, key: str) -> str:
        self.calls.append(("authorize", key, (customer_id, payment_method_id, amount)))
        self._check(payment_method_id, off_session=True)
        # The held amount travels in the id, so the sandbox needs no state to check a capture.
        return f"{self._id('pi', key)}_{amount.currency}{_minor(amount)}"

    def capture(self, ref: str, amount: Money, *, key: str) -> None:
        self.calls.append(("capture", key, (ref, amount)))
        held = ref.rsplit("_", 1)[-1]
        if held[:3] != amount.currency or _minor(amount) > int(held[3:]):
            raise InvalidInput(f"cannot capture {amount} on a hold of {held}", field="amount")

    def cancel(self, ref: str, *, key: str) -> None:
        self.calls.append(("cancel", key, (ref,)))

    def charge(self, customer_id: str | None, payment_method_id: str, amount: Money, *, key: str) -> str:
        self.calls.append(("charge", key, (customer_id, payment_method_id, amount)))
        self._check(payment_method_id, off_session=True)
        return self._id("pi", key)

    def refund(self, ref: str, amount: Money, *, key: str) -> str:
        self.calls.append(("refund", key, (ref, amount)))
        return self._id("re", key)

    def sign(self, payload: bytes) -> str:
        """The signature a sandbox webhook delivery carries."""
        return hmac.new(self.webhook_secret.encode(), payload, hashlib.sha256).hexdigest()

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        if not signature or not hmac.compare_digest(signature, self.sign(payload)):
            raise InvalidWebhook("the webhook signature does not match the sandbox secret", field="signature")
        try:
            data = json.loads(payload, parse_float=Decimal)
            return WebhookEvent(str(data["id"]), str(data["type"]), data.get("object_id"), data)
        except (ValueError, KeyError) as exc:
            raise InvalidWebhook(f"the webhook body is not a sandbox event: {exc}", field="body") from None
