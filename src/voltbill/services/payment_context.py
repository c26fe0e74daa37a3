"""What the payments use cases share: settings, the gateway, the database, the bus, the clock, remote commands."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from pydantic_settings import BaseSettings, SettingsConfigDict

from voltbill.adapters.payments.port import PaymentGateway
from voltbill.adapters.store.db import Database
from voltbill.domain.clock import Clock
from voltbill.services.events import EventBus

log = logging.getLogger(__name__)

# Sends a remote command (``remote-stop``, ``remote-start``) to a charger from any thread; failures are logged.
SendCommand = Callable[[str, str, dict[str, Any]], None]


class PaymentSettings(BaseSettings):
    """Payment settings (environment, prefix ``VOLTBILL_``).

    ``payment_gateway``: ``stripe`` or ``sandbox`` (default: ``stripe`` when ``VOLTBILL_STRIPE_API_KEY`` is set);
    ``wallet_minimum``: balance a wallet driver needs to start; ``preauth_amount``: the hold on a card at session
    start; ``default_currency``: of a wallet that was never topped up; ``capture_max_attempts`` and
    ``capture_retry_base_s``: retries of a declined card payment (backoff doubles) before it is booked as debt (an
    unreachable provider is retried every ``capture_retry_base_s`` without using up attempts); ``stripe_timeout_s``:
    the timeout of one Stripe request.
    """

    model_config = SettingsConfigDict(env_prefix="VOLTBILL_", env_file=".env", extra="ignore")

    payment_gateway: str | None = None
    stripe_api_key: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secret: str | None = None
    sandbox_webhook_secret: str = "whsec_sandbox"
    wallet_minimum: Decimal = Decimal("5.00")
    preauth_amount: Decimal = Decimal("50.00")
    default_currency: str = "EUR"
    capture_max_attempts: int = 5
    capture_retry_base_s: int = 60
    payments_poll_s: float = 30.0
    stripe_timeout_s: float = 30.0


def make_gateway(config: PaymentSettings) -> PaymentGateway:
    """The configured gateway: Stripe (SDK) or the in-process sandbox."""
    choice = config.payment_gateway or ("stripe" if config.stripe_api_key else "sandbox")
    if choice == "stripe":
        from voltbill.adapters.payments.stripe_gateway import StripeGateway

        if not config.stripe_api_key:
            raise ValueError("VOLTBILL_PAYMENT_GATEWAY=stripe needs VOLTBILL_STRIPE_API_KEY")
        return StripeGateway(
            config.stripe_api_key,
            api_base=config.stripe_api_base,
            webhook_secret=config.stripe_webhook_secret,
            timeout_s=config.stripe_timeout_s,
        )
    from voltbill.adapters.payments.sandbox import SandboxGateway

    return SandboxGateway(config.sandbox_webhook_secret)


@dataclass
class PaymentsContext:
    """Everything a payments use case needs; ``send_command`` is the OCPP layer's remote command (may be absent)."""

    db: Database
    gateway: PaymentGateway
    bus: EventBus
    clock: Clock
    config: PaymentSettings
    send_command: SendCommand | None = None
    stopping: set[str] = field(default_factory=set)
    worker: asyncio.Task[None] | None = None

    def in_background(self, fn: Callable[[], Any]) -> None:
        """Run blocking gateway I/O off the event loop when there is one; inline otherwise (CLI, tests)."""
        try:
            running = asyncio.get_running_loop()
        except RuntimeError:
            fn()
            return
        running.run_in_executor(None, _logged(fn))


def _logged(fn: Callable[[], Any]) -> Callable[[], Any]:
    def run() -> Any:
        try:
            return fn()
        except Exception:
            log.exception("payments background job failed; the payments worker retries it")
            return None

    return run
