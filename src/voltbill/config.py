"""Settings, in one place: environment variables prefixed ``VOLTBILL_`` (or a ``.env`` file)."""

from __future__ import annotations

from functools import lru_cache

from pydantic_settings import BaseSettings, SettingsConfigDict


class Settings(BaseSettings):
    """Runtime configuration. See README "Configuration" for each variable."""

    model_config = SettingsConfigDict(env_prefix="VOLTBILL_", env_file=".env", extra="ignore")

    database_url: str = "sqlite:///./voltbill.db"
    api_key: str | None = None
    host: str = "127.0.0.1"
    port: int = 8180
    stripe_api_key: str | None = None
    stripe_api_base: str | None = None
    stripe_webhook_secret: str | None = None
    smtp_url: str | None = None
    allow_unauthenticated_chargers: bool = False
    session_timeout_s: int = 6 * 3600
    # OCPP gateway limits and behaviour (docs/ocpp.md)
    ocpp_max_frame_bytes: int = 64 * 1024
    ocpp_max_messages_per_s: float = 20.0
    ocpp_heartbeat_interval_s: int = 300
    ocpp_clock_skew_tolerance_s: int = 300
    ocpp_response_timeout_s: float = 30.0
    ocpp_cost_update_interval_s: int = 300
    ocpp16_cost_data_transfer: bool = False


@lru_cache
def get_settings() -> Settings:
    """The process-wide settings, read once."""
    return Settings()
