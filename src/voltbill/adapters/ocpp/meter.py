"""OCPP MeterValue lists (1.6 ``meterValue``/``transactionData``, 2.0.1 ``meterValue``) to domain samples in base
units: energy in Wh, power in W, current in A. Signed meter data is kept out (no value to price)."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any

from ocpp.exceptions import PropertyConstraintViolationError

from voltbill.domain.sessions import ENERGY_REGISTER, Sample

# unit -> (base unit, factor); OCPP 1.6 UnitOfMeasure, OCPP 2.0.1 UnitOfMeasureType (2.0.1 adds a multiplier)
_UNITS = {"kWh": ("Wh", Decimal(1000)), "kW": ("W", Decimal(1000)), "kvarh": ("varh", Decimal(1000))}


def parse_timestamp(text: str) -> datetime:
    """An OCPP dateTime (RFC 3339); a value without offset is read as UTC, as OCPP requires UTC."""
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError as exc:
        raise PropertyConstraintViolationError(details={"cause": f"{text!r} is not an RFC 3339 timestamp"}) from exc
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment


def _number(value: Any) -> Decimal:
    try:
        number = Decimal(str(value))
    except InvalidOperation as exc:
        raise PropertyConstraintViolationError(details={"cause": f"sampled value {value!r} is not a number"}) from exc
    if not number.is_finite():
        raise PropertyConstraintViolationError(details={"cause": f"sampled value {value!r} is not a number"})
    return number


def samples_from(meter_values: Iterable[Mapping[str, Any]] | None) -> tuple[Sample, ...]:
    """Samples of a (snake_cased) ``meter_value`` list of either version."""
    out = []
    for meter_value in meter_values or ():
        at = parse_timestamp(meter_value["timestamp"])
        for sv in meter_value.get("sampled_value", ()):
            if sv.get("format") == "SignedData":
                continue
            value = _number(sv["value"])
            uom = sv.get("unit_of_measure") or {}
            unit = uom.get("unit") or sv.get("unit")
            if uom.get("multiplier"):
                value = value.scaleb(int(uom["multiplier"]))
            if unit in _UNITS:
                unit, factor = _UNITS[unit]
                value *= factor
            measurand = sv.get("measurand") or ENERGY_REGISTER
            out.append(
                Sample(
                    timestamp=at,
                    measurand=measurand,
                    phase=sv.get("phase") or "",
                    value=value,
                    unit=unit or ("Wh" if measurand == ENERGY_REGISTER else None),
                    context=sv.get("context"),
                )
            )
    return tuple(out)
