"""Session rules shared by both OCPP versions: which connector states count as charging, charger clock skew,
and reading the energy register out of a session's samples."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal

ENERGY_REGISTER = "Energy.Active.Import.Register"
POWER = "Power.Active.Import"
CURRENT = "Current.Import"

# OCPP 1.6 §7.7 ChargePointStatus and OCPP 2.0.1 ChargingStateEnumType: the car is plugged in but no energy is
# offered or taken. Time in these states is parking (OCPI 2.2.1 CdrDimensionType PARKING_TIME), not charging.
PARKED_STATES = frozenset({"SuspendedEV", "SuspendedEVSE", "Finishing", "EVConnected", "Idle"})
CHARGING_STATES = frozenset({"Charging"})


def is_charging(state: str) -> bool | None:
    """``True`` for a charging state, ``False`` for a parked one, ``None`` for states that say neither
    (Available, Preparing, Occupied, Faulted, ...)."""
    if state in CHARGING_STATES:
        return True
    if state in PARKED_STATES:
        return False
    return None


def clamp_future(moment: datetime, now: datetime, tolerance_s: int) -> tuple[datetime, bool]:
    """A charger timestamp more than ``tolerance_s`` ahead of the server clock is replaced by the server time.

    Returns the timestamp to use and whether it was clamped (the caller records it). Timestamps in the past are
    kept: offline chargers legitimately replay old messages.
    """
    if moment > now + timedelta(seconds=tolerance_s):
        return now, True
    return moment, False


@dataclass(frozen=True)
class Sample:
    """One sampled value (OCPP SampledValue) normalised to base units.

    Attributes: ``timestamp`` (aware UTC), ``measurand`` (OCPP name), ``phase`` ("" when the charger sent none),
    ``value`` (Decimal; energy in Wh, power in W, current in A), ``unit``, ``context`` (OCPP ReadingContext).
    """

    timestamp: datetime
    measurand: str
    phase: str
    value: Decimal
    unit: str | None = None
    context: str | None = None


def _registers(samples: Iterable[Sample]) -> list[Sample]:
    return sorted((s for s in samples if s.measurand == ENERGY_REGISTER and s.phase == ""), key=lambda s: s.timestamp)


def first_energy_wh(samples: Iterable[Sample]) -> Decimal | None:
    """The oldest whole-meter energy register reading (Wh) among ``samples``, or ``None``."""
    registers = _registers(samples)
    return registers[0].value if registers else None


def last_energy_wh(samples: Iterable[Sample]) -> Decimal | None:
    """The newest whole-meter energy register reading (Wh) among ``samples``, or ``None``."""
    registers = _registers(samples)
    return registers[-1].value if registers else None
