"""Meter curves: what a charger's meter reads while a car charges.

AC (``ac``): the on-board charger draws a flat ~11 kW (16 A, 3 phases at 230 V) until the battery is nearly
full, then tapers. DC fast charging (``dc``): constant current (CC) up to a state of charge, then constant voltage
(CV) where the current decays exponentially, the usual lithium-ion CC/CV profile. Readings are device values
(float); the register is cumulative over the charger's whole life, as a real energy meter is.
"""

from __future__ import annotations

import math
import random
from abc import ABC, abstractmethod
from dataclasses import dataclass

GRID_VOLTAGE_V = 230.0
AC_PHASES = 3
_STEP_S = 5.0  # integration step; small against a meter interval, cheap for thousands of chargers


@dataclass(frozen=True)
class Reading:
    """One meter sample.

    Attributes: ``energy_wh`` cumulative Energy.Active.Import.Register (Wh), ``power_w`` Power.Active.Import (W),
    ``current_a`` Current.Import (A, per phase for AC), ``soc`` State of Charge (percent, 0-100).
    """

    energy_wh: float
    power_w: float
    current_a: float
    soc: float


@dataclass(frozen=True)
class Vehicle:
    """The car plugged in: ``capacity_wh`` usable battery, ``soc_start``/``soc_target`` fractions (0-1)."""

    capacity_wh: float
    soc_start: float
    soc_target: float

    @classmethod
    def random(cls, rng: random.Random) -> Vehicle:
        """A plausible car: 40-100 kWh battery, arriving at 10-50 %, leaving at 80-100 %."""
        return cls(
            capacity_wh=rng.choice((40_000.0, 58_000.0, 64_000.0, 77_000.0, 100_000.0)),
            soc_start=rng.uniform(0.10, 0.50),
            soc_target=rng.uniform(0.80, 1.00),
        )


class ChargeCurve(ABC):
    """Integrates the charging power over time for one session.

    ``limit_w`` is the connector's maximum power; the reported power never exceeds it. ``register_start_wh`` is
    the meter register when the session starts.
    """

    def __init__(self, vehicle: Vehicle, limit_w: float, register_start_wh: float) -> None:
        if limit_w <= 0:
            raise ValueError("limit_w must be positive")
        self.vehicle = vehicle
        self.limit_w = limit_w
        self._energy_wh = register_start_wh
        self._soc = vehicle.soc_start
        self._elapsed_s = 0.0

    @property
    def full(self) -> bool:
        """True once the car reached its target state of charge."""
        return self._soc >= self.vehicle.soc_target

    @abstractmethod
    def power_at(self, soc: float, elapsed_s: float) -> float:
        """Charging power (W) at a state of charge, before the connector limit."""

    @abstractmethod
    def current_at(self, power_w: float, soc: float) -> float:
        """Current (A) for a power at a state of charge."""

    def reading(self) -> Reading:
        """The meter now, without advancing time."""
        power = 0.0 if self.full else min(self.power_at(self._soc, self._elapsed_s), self.limit_w)
        return Reading(
            energy_wh=round(self._energy_wh, 1),
            power_w=math.floor(power * 10) / 10,  # rounded down: never above the limit
            current_a=round(self.current_at(power, self._soc), 2),
            soc=round(self._soc * 100, 1),
        )

    def advance(self, seconds: float) -> Reading:
        """Let ``seconds`` of charging pass and read the meter."""
        remaining = max(seconds, 0.0)
        while remaining > 0 and not self.full:
            dt = min(_STEP_S, remaining)
            power = min(self.power_at(self._soc, self._elapsed_s), self.limit_w)
            energy = power * dt / 3600.0
            headroom = (self.vehicle.soc_target - self._soc) * self.vehicle.capacity_wh
            if energy >= headroom:
                energy = max(headroom, 0.0)
                self._soc = self.vehicle.soc_target
            else:
                self._soc += energy / self.vehicle.capacity_wh
            self._energy_wh += energy
            self._elapsed_s += dt
            remaining -= dt
        self._elapsed_s += remaining
        return self.reading()


class AcCurve(ChargeCurve):
    """AC charging: flat at the on-board charger's power, tapering linearly above ``taper_soc``."""

    taper_soc = 0.92
    floor_fraction = 0.15

    def power_at(self, soc: float, elapsed_s: float) -> float:
        if soc < self.taper_soc:
            return self.limit_w
        span = (1.0 - soc) / (1.0 - self.taper_soc)
        return self.limit_w * max(self.floor_fraction, span)

    def current_at(self, power_w: float, soc: float) -> float:
        return power_w / (GRID_VOLTAGE_V * AC_PHASES)


class DcCurve(ChargeCurve):
    """DC fast charging, CC/CV: pack voltage rises with SoC; current is constant (bounded by the power limit)
    until ``cv_soc``, then decays exponentially; a short ramp-up while the car and charger negotiate."""

    cv_soc = 0.75
    cv_tau = 0.08
    ramp_s = 30.0
    max_current_a = 400.0

    def pack_voltage(self, soc: float) -> float:
        return 340.0 + 70.0 * soc

    def power_at(self, soc: float, elapsed_s: float) -> float:
        voltage = self.pack_voltage(soc)
        current = min(self.max_current_a, self.limit_w / voltage)
        if soc >= self.cv_soc:
            current *= math.exp(-(soc - self.cv_soc) / self.cv_tau)
        ramp = min(1.0, 0.1 + elapsed_s / self.ramp_s)
        return voltage * current * ramp

    def current_at(self, power_w: float, soc: float) -> float:
        return power_w / self.pack_voltage(soc)


CURVES: dict[str, type[ChargeCurve]] = {"ac": AcCurve, "dc": DcCurve}
DEFAULT_LIMIT_W = {"ac": 11_000.0, "dc": 150_000.0}
