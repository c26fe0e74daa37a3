"""Anomaly rules: which sessions look wrong, why (one readable sentence) and how to resolve them.

Detection over many sessions runs in the analytics engine with these thresholds; this module owns the
thresholds, the robust z-score, the wording of each reason and the resolution path, so they read the same in
the CLI, the REST API and the dashboard.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from decimal import Decimal
from enum import StrEnum

# Iglewicz & Hoaglin (1993), "How to Detect and Handle Outliers": modified z = 0.6745 (x - median) / MAD,
# flagged above 3.5. 0.6745 is the 0.75 quantile of the standard normal, making MAD consistent with sigma.
MAD_CONSISTENCY = 0.6745


class AnomalyKind(StrEnum):
    """The kinds of anomaly, as stable snake_case codes."""

    ENERGY_METER_MISMATCH = "energy_meter_mismatch"
    METER_BACKWARDS = "meter_backwards"
    IMPOSSIBLE_POWER = "impossible_power"
    CHARGED_ZERO_ENERGY = "charged_zero_energy"
    NEVER_STOPPED = "never_stopped"
    CAPTURE_MISMATCH = "capture_mismatch"
    DUPLICATE_SESSION = "duplicate_session"
    STATISTICAL_OUTLIER = "statistical_outlier"


@dataclass(frozen=True)
class AnomalyRules:
    """Thresholds. Energy in kWh; ``*_ratio`` are fractions (0.02 = 2 %).

    - energy vs meter: flagged when the difference exceeds ``max(energy_tolerance_kwh, ratio x metered)``;
    - power: flagged above ``connector max x (1 + power_tolerance_ratio)`` (peak or average); when the
      connector's rating is not recorded, ``unknown_connector_max_kw`` (the most a public charger delivers) is used;
    - never stopped: still active ``never_stopped_after`` after its start;
    - duplicate: same EVSE and driver, starts within ``duplicate_window``, energy within the energy tolerance;
    - outlier: robust z-score above ``outlier_z`` among at least ``outlier_min_sessions`` of the station.
    """

    energy_tolerance_kwh: Decimal = Decimal("0.05")
    energy_tolerance_ratio: Decimal = Decimal("0.02")
    power_tolerance_ratio: Decimal = Decimal("0.10")
    unknown_connector_max_kw: Decimal = Decimal("350")
    never_stopped_after: timedelta = timedelta(hours=24)
    duplicate_window: timedelta = timedelta(minutes=2)
    outlier_z: float = 3.5
    outlier_min_sessions: int = 20


@dataclass(frozen=True)
class Anomaly:
    """One finding: ``session_id``, ``kind``, ``reason`` (a sentence), ``resolution`` (what to do),
    ``creditable`` (a credit note may resolve it) and the ``facts`` the reason was built from."""

    session_id: str
    kind: AnomalyKind
    reason: str
    resolution: str
    creditable: bool
    facts: Mapping[str, object] = field(default_factory=dict)


_REASONS: dict[AnomalyKind, str] = {
    AnomalyKind.ENERGY_METER_MISMATCH: (
        "Billed energy {kwh} kWh differs from the meter register difference {metered_kwh} kWh "
        "({meter_start_wh} Wh -> {meter_stop_wh} Wh)."
    ),
    AnomalyKind.METER_BACKWARDS: (
        "The meter register went backwards, from {meter_start_wh} Wh at start to {meter_stop_wh} Wh at stop."
    ),
    AnomalyKind.IMPOSSIBLE_POWER: ("Power {power_kw} kW ({measure}) exceeds {limit}."),
    AnomalyKind.CHARGED_ZERO_ENERGY: "The session delivered 0 kWh but was charged {total_cost} {currency}.",
    AnomalyKind.NEVER_STOPPED: "The session started {start_date_time} and was still not stopped after {hours} h.",
    AnomalyKind.CAPTURE_MISMATCH: (
        "The CDR total is {total_cost} {currency} but {captured_amount} {currency} was captured."
    ),
    AnomalyKind.DUPLICATE_SESSION: (
        "Same EVSE and driver as session {other_session_id}, started {seconds_apart} s apart with {kwh} kWh."
    ),
    AnomalyKind.STATISTICAL_OUTLIER: (
        "{metric} {value} is far from this station's median {median} (robust z-score {z}, MAD {mad})."
    ),
}

_RESOLUTIONS: dict[AnomalyKind, str] = {
    AnomalyKind.ENERGY_METER_MISMATCH: "Check the meter values; if the driver was overbilled, issue a credit note.",
    AnomalyKind.METER_BACKWARDS: "Check whether the meter was replaced or reset; then mark as checked.",
    AnomalyKind.IMPOSSIBLE_POWER: "Check the connector's registered power and the meter values; then mark as checked.",
    AnomalyKind.CHARGED_ZERO_ENERGY: "Issue a credit note for the charge, unless a flat or parking fee was intended.",
    AnomalyKind.NEVER_STOPPED: "Stop the session remotely or ask the charger to replay its queued messages.",
    AnomalyKind.CAPTURE_MISMATCH: "Reconcile the payment with the CDR: refund the excess or collect the rest.",
    AnomalyKind.DUPLICATE_SESSION: "If both sessions were billed, issue a credit note for the duplicate.",
    AnomalyKind.STATISTICAL_OUTLIER: "Look at the session's meter values; mark as checked if it is genuine.",
}  # fmt: skip

_CREDITABLE = frozenset(
    {
        AnomalyKind.ENERGY_METER_MISMATCH,
        AnomalyKind.CHARGED_ZERO_ENERGY,
        AnomalyKind.CAPTURE_MISMATCH,
        AnomalyKind.DUPLICATE_SESSION,
    }
)


def explain(session_id: str, kind: AnomalyKind, facts: Mapping[str, object]) -> Anomaly:
    """The finding for ``session_id`` with its reason filled from ``facts`` and its resolution path."""
    return Anomaly(
        session_id=session_id,
        kind=kind,
        reason=_REASONS[kind].format(**facts),
        resolution=_RESOLUTIONS[kind],
        creditable=creditable(kind),
        facts=dict(facts),
    )


def creditable(kind: AnomalyKind) -> bool:
    """Whether a credit note may resolve an anomaly of ``kind`` (the driver may have paid too much)."""
    return kind in _CREDITABLE


def power_limit(connector_max_kw: Decimal | None, rules: AnomalyRules) -> str:
    """How the power limit reads in a reason: the connector's rating, or the fallback when it is unknown."""
    if connector_max_kw is not None:
        return f"what the connector can deliver, {connector_max_kw} kW"
    return (
        f"{rules.unknown_connector_max_kw} kW, the most a public charger delivers (the connector's rating is unknown)"
    )


def robust_z(value: float, median: float, mad: float) -> float | None:
    """The modified z-score of ``value`` given the group's median and MAD; ``None`` when MAD is 0."""
    if mad == 0:
        return None
    return MAD_CONSISTENCY * (value - median) / mad
