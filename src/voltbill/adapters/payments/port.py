"""The payment gateway port: what voltbill asks of a card provider. Adapters: ``stripe``, ``sandbox``.

Every call that changes money takes an idempotency key, so a retried call after a crash or timeout is applied once
by the provider. Amounts are ``Money`` in the currency's minor unit.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Protocol

from voltbill.domain.errors import VoltbillError
from voltbill.domain.money import Money


class PaymentDeclined(VoltbillError):
    """The provider refused the card (declined, insufficient funds, expired)."""

    code = "payment_declined"


class GatewayUnavailable(VoltbillError):
    """The provider could not be reached or failed; the same call may be retried with the same key."""

    code = "payment_gateway_unavailable"


class InvalidWebhook(VoltbillError):
    """A webhook whose signature does not verify (or that cannot be parsed)."""

    code = "invalid_webhook_signature"


@dataclass(frozen=True, slots=True)
class WebhookEvent:
    """A verified provider event. Attributes: ``id`` (unique per event), ``type`` (``payment_intent.succeeded``),
    ``object_id`` (the PaymentIntent/refund id it is about), ``data`` (the event object)."""

    id: str
    type: str
    object_id: str | None
    data: dict[str, Any] = field(default_factory=dict)


class PaymentGateway(Protocol):
    """A card payment provider."""

    name: str

    def ensure_customer(self, driver_id: str, email: str | None, *, key: str) -> str:
        """Create (once per key) the provider's customer for a driver; returns its id."""
        ...

    def attach_card(self, customer_id: str, payment_method_id: str, *, key: str) -> str:
        """Attach a card (payment method id) to the customer; returns the payment method id."""
        ...

    def authorize(self, customer_id: str | None, payment_method_id: str, amount: Money, *, key: str) -> str:
        """Hold ``amount`` on the card (manual capture); returns the authorisation (PaymentIntent) id."""
        ...

    def capture(self, ref: str, amount: Money, *, key: str) -> None:
        """Capture ``amount`` (at most the held amount) of authorisation ``ref``; the rest is released."""
        ...

    def cancel(self, ref: str, *, key: str) -> None:
        """Release the hold ``ref`` without taking money."""
        ...

    def charge(self, customer_id: str | None, payment_method_id: str, amount: Money, *, key: str) -> str:
        """Take ``amount`` now, without the driver present (off-session); returns the payment id."""
        ...

    def refund(self, ref: str, amount: Money, *, key: str) -> str:
        """Give back ``amount`` of payment ``ref``; returns the refund id."""
        ...

    def parse_webhook(self, payload: bytes, signature: str | None) -> WebhookEvent:
        """Verify and parse a webhook delivery; raises ``InvalidWebhook``."""
        ...
