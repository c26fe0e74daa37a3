"""Path identifiers (restricted to characters that survive URLs, OCPP identities and OCPI CiStrings) and text
fields for request bodies."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import Path
from pydantic import AfterValidator

_SAFE = r"^[A-Za-z0-9._:*+@-]+$"

# OCPI 2.2.1 mod_tariffs: Tariff.id is CiString(36).
TariffId = Annotated[str, Path(min_length=1, max_length=36, pattern=_SAFE, description="Tariff id (OCPI, max 36).")]
# OCPP 2.0.1 Part 2 §2.1 / 1.6 security whitepaper: the charging station identity is at most 48 characters.
ChargePointId = Annotated[
    str, Path(min_length=1, max_length=48, pattern=_SAFE, description="Charge point identity (max 48).")
]
DriverId = Annotated[str, Path(min_length=1, max_length=64, pattern=_SAFE, description="Driver id (max 64).")]
# OCPP 2.0.1 IdTokenType.idToken is identifierString[36] (1.6 idTag is CiString20); OCPI Token.uid CiString(36).
TokenUid = Annotated[str, Path(min_length=1, max_length=36, pattern=_SAFE, description="Id token uid (max 36).")]


def _no_nul(value: Any) -> Any:
    """Refuse NUL characters anywhere in a text or a JSON object (PostgreSQL text cannot hold them)."""
    if isinstance(value, str) and "\x00" in value:
        raise ValueError("text must not contain NUL characters")
    if isinstance(value, dict):
        for key, item in value.items():
            _no_nul(key)
            _no_nul(item)
    elif isinstance(value, list):
        for item in value:
            _no_nul(item)
    return value


Text = Annotated[str, AfterValidator(_no_nul)]
JsonObject = Annotated[dict[str, Any], AfterValidator(_no_nul)]
