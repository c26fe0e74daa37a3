"""Path identifiers, restricted to characters that survive URLs, OCPP identities and OCPI CiStrings."""

from __future__ import annotations

from typing import Annotated

from fastapi import Path

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
