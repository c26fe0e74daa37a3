"""Settings, in one place: environment variables prefixed ``VOLTBILL_`` (or a ``.env`` file)."""

from __future__ import annotations

from decimal import Decimal
from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration. See README "Configuration" for each variable."""

    model_config = SettingsConfigDict(env_prefix="VOLTBILL_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./voltbill.db"
    api_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8180
    smtp_url: str | None = None
    smtp_timeout_s: float = 15.0  # one SMTP connection or command; a claimed e-mail's lease is eight of them
    allow_unauthenticated_chargers: bool = False
    session_timeout_s: int = 6 * 3600
    # OCPP gateway limits and behaviour (docs/ocpp.md)
    ocpp_max_frame_bytes: int = 64 * 1024
    ocpp_max_messages_per_s: float = 20.0
    ocpp_max_connections_per_ip: int = 1000  # handshakes in progress included; 0: no limit
    ocpp_heartbeat_interval_s: int = 300
    ocpp_clock_skew_tolerance_s: int = 300
    ocpp_response_timeout_s: float = 30.0
    ocpp_cost_update_interval_s: int = 300
    ocpp16_cost_data_transfer: bool = False
    ocpp_ping_interval_s: float = 60.0  # WebSocket pings from the server (0: none); a dead link is closed
    ocpp_websocket_compression: bool = False  # permessage-deflate: costs a zlib context per charger and CPU


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


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
