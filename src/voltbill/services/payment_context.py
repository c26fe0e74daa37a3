"""What the payments use cases share: settings, the gateway, the database, the bus, the clock, remote commands."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from voltbill.adapters.payments.port import PaymentGateway
from voltbill.adapters.store.db import Database
from voltbill.config import PaymentSettings
from voltbill.domain.clock import Clock
from voltbill.services.events import CatchUpSchedule, EventBus

log = logging.getLogger(__name__)

# Sends a remote command (``remote-stop``, ``remote-start``) to a charger from any thread; failures are logged.
SendCommand = Callable[[str, str, dict[str, Any]], None]


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
    catch_up: CatchUpSchedule = field(init=False)  # when the worker looks for priced CDRs nobody settled

    def __post_init__(self) -> None:
        self.catch_up = CatchUpSchedule(self.bus)

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
