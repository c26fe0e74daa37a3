"""Anomaly and billing-discrepancy detection over all sessions, one vectorised query per rule.

Thresholds, reasons and resolutions come from ``voltbill.domain.anomalies``; each query only finds candidate
sessions and the facts its reason needs.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from typing import Any

from voltbill.adapters.analytics.engine import AnalyticsEngine, Filters
from voltbill.domain.anomalies import MAD_CONSISTENCY, AnomalyKind, AnomalyRules, explain, power_limit, robust_z
from voltbill.domain.money import Money, check_currency, minor_units
from voltbill.domain.rounding import invoice_line


@dataclass(frozen=True)
class AnomalyRow:
    """A session that looks wrong: where and when, the ``kind``, a readable ``reason``, the ``resolution`` path,
    whether a credit note may resolve it (``creditable``), the ``facts`` behind the reason, and the review mark
    (``review_status`` ``checked``/``credited``, ``checked_at``, ``checked_by``, ``note``, ``credit_note``; filled
    from the store by the service)."""

    session_id: str
    kind: AnomalyKind
    reason: str
    resolution: str
    creditable: bool
    charge_point_id: str
    location_id: str | None
    start_date_time: datetime
    facts: dict[str, Any]
    review_status: str | None = None
    checked_at: datetime | None = None
    checked_by: str | None = None
    note: str | None = None
    credit_note: str | None = None


_COMMON = "s.session_id, s.charge_point_id, s.location_id, s.start_date_time"

# Every per-session rule in one scan: sessions matching any rule's condition, then the columns the reasons need
# and one flag per rule (in ``_RULES`` order). A capture may be the exact CDR total or that total at the
# currency's minor unit, at most half a minor unit away ({half_unit}: a CASE over the currencies present); Python
# confirms with invoice_line. The previous session on the same EVSE (``prev_*``) is computed by the engine.
_TOTAL = "coalesce(s.total_cost_incl_vat, s.total_cost_excl_vat)"
_METERED = "((s.meter_stop_wh - s.meter_start_wh) * 0.001)"
_AVG_KW = (
    "(CASE WHEN coalesce(s.charging_seconds, 0) > 0 THEN s.kwh::DOUBLE * 3600 / s.charging_seconds"
    " WHEN s.connected_us > 0 THEN s.kwh::DOUBLE * 3.6e9 / s.connected_us END)"
)
_PEAK_IS_MAX = f"coalesce(s.max_power_kw, 0) >= coalesce({_AVG_KW}, 0)"
_CONDITIONS = (
    f"s.meter_stop_wh >= s.meter_start_wh AND abs(s.kwh - {_METERED}) > greatest($tol_kwh, $tol_ratio * {_METERED})",
    "s.meter_stop_wh < s.meter_start_wh",
    f"greatest(coalesce(s.max_power_kw, 0), coalesce({_AVG_KW}, 0))"
    " > coalesce(s.connector_max_kw, $unknown_max_kw) * (1 + $tol_power)",
    f"s.kwh = 0 AND {_TOTAL} > 0",
    "s.end_date_time IS NULL AND epoch_us(s.start_date_time) < epoch_us($now) - $stale_us",
    f"s.captured_amount <> {_TOTAL} AND abs(s.captured_amount - {_TOTAL}) >= {{half_unit}}",
    "s.prev_session_id IS NOT NULL AND s.driver_id IS NOT DISTINCT FROM s.prev_driver_id"
    " AND epoch_us(s.start_date_time) - epoch_us(s.prev_start) <= $window_us"
    " AND abs(s.kwh - s.prev_kwh) <= greatest($tol_kwh, $tol_ratio * s.kwh)",
)
_ROW_RULES = f"""
WITH hit AS (SELECT * FROM sessions s WHERE {{cond}} AND ({" OR ".join(f"({c})" for c in _CONDITIONS)}))
SELECT {_COMMON}, s.kwh, {_METERED}, s.meter_start_wh, s.meter_stop_wh, s.connector_max_kw,
       CASE WHEN {_PEAK_IS_MAX} THEN s.max_power_kw ELSE {_AVG_KW} END,
       CASE WHEN {_PEAK_IS_MAX} THEN 'peak' ELSE 'average' END,
       {_TOTAL}, s.currency, s.captured_amount, (epoch_us($now) - epoch_us(s.start_date_time)) / 3.6e9,
       s.prev_session_id, (epoch_us(s.start_date_time) - epoch_us(s.prev_start)) / 1e6,
       {", ".join(f"coalesce({c}, false)" for c in _CONDITIONS)}
FROM hit s
"""

# Both metrics in one pass: per-station median and MAD, then the sessions beyond z x MAD / 0.6745 of either.
_OUTLIERS = f"""
WITH st AS (
    SELECT charge_point_id, median(e) AS e_med, mad(e) AS e_mad, count(e) AS e_n,
           median(c) AS c_med, mad(c) AS c_mad, count(c) AS c_n
    FROM (SELECT s.charge_point_id, s.kwh::DOUBLE AS e, s.total_cost_excl_vat::DOUBLE AS c FROM sessions s
          WHERE {{cond}} AND s.end_date_time IS NOT NULL)
    GROUP BY 1
), lim AS (
    SELECT charge_point_id, e_med, e_mad, c_med, c_mad,
           CASE WHEN e_n >= $min_n AND e_mad > 0 THEN $z * e_mad / $k END AS e_lim,
           CASE WHEN c_n >= $min_n AND c_mad > 0 THEN $z * c_mad / $k END AS c_lim
    FROM st
)
SELECT {_COMMON}, s.kwh::DOUBLE, l.e_med, l.e_mad, abs(s.kwh::DOUBLE - l.e_med) > l.e_lim,
       s.total_cost_excl_vat::DOUBLE, l.c_med, l.c_mad, abs(s.total_cost_excl_vat::DOUBLE - l.c_med) > l.c_lim
FROM sessions s JOIN lim l USING (charge_point_id)
WHERE {{cond}} AND s.end_date_time IS NOT NULL
  AND (abs(s.kwh::DOUBLE - l.e_med) > l.e_lim OR abs(s.total_cost_excl_vat::DOUBLE - l.c_med) > l.c_lim)
"""

Candidate = tuple[Any, ...]


def find_anomalies(engine: AnalyticsEngine, filters: Filters, rules: AnomalyRules | None = None) -> list[AnomalyRow]:
    """Every anomaly among the filtered sessions, ordered by session start then kind."""
    rules = rules or AnomalyRules()
    return sorted(_all(engine, filters, rules), key=lambda r: (r.start_date_time, r.session_id, r.kind.value))


def _all(engine: AnalyticsEngine, filters: Filters, rules: AnomalyRules) -> Iterator[AnomalyRow]:
    cond, base = filters.where()
    params = {
        **base,
        "tol_kwh": rules.energy_tolerance_kwh,
        "tol_ratio": rules.energy_tolerance_ratio,
        "tol_power": rules.power_tolerance_ratio,
        "now": engine.now,
        "stale_us": _micros(rules.never_stopped_after),
        "window_us": _micros(rules.duplicate_window),
        "unknown_max_kw": rules.unknown_connector_max_kw,
    }
    sql = _ROW_RULES.replace("{cond}", cond).replace("{half_unit}", _half_minor_unit_sql(engine))
    for row in engine.rows(sql, params):
        for flag, (kind, facts) in zip(row[_FLAGS:], _RULES, strict=True):
            described = facts(row, rules) if flag else None
            if described is not None:
                yield _row(kind, row, described)
    outlier = {**base, "min_n": rules.outlier_min_sessions, "k": MAD_CONSISTENCY, "z": rules.outlier_z}
    for row in engine.rows(_OUTLIERS.replace("{cond}", cond), outlier):
        for described in _outlier_facts(row):
            yield _row(AnomalyKind.STATISTICAL_OUTLIER, row, described)


def _energy_facts(row: Candidate, rules: AnomalyRules) -> dict[str, Any]:
    return {"kwh": _num(row[4]), "metered_kwh": _num(row[5]), "meter_start_wh": _num(row[6]),
            "meter_stop_wh": _num(row[7])}  # fmt: skip


def _backwards_facts(row: Candidate, rules: AnomalyRules) -> dict[str, Any]:
    return {"meter_start_wh": _num(row[6]), "meter_stop_wh": _num(row[7])}


def _power_facts(row: Candidate, rules: AnomalyRules) -> dict[str, Any]:
    rated = Decimal(str(row[8])).normalize() if row[8] is not None else None
    return {"power_kw": _num(row[9]), "measure": row[10], "limit": power_limit(rated, rules)}


def _zero_facts(row: Candidate, rules: AnomalyRules) -> dict[str, Any]:
    return {"total_cost": _num(row[11]), "currency": row[12]}


def _stopped_facts(row: Candidate, rules: AnomalyRules) -> dict[str, Any]:
    return {"start_date_time": row[3].isoformat(), "hours": f"{row[14]:.1f}"}


def _duplicate_facts(row: Candidate, rules: AnomalyRules) -> dict[str, Any]:
    return {"other_session_id": row[15], "seconds_apart": f"{row[16]:.0f}", "kwh": _num(row[4])}


def _capture_facts(row: Candidate, rules: AnomalyRules) -> dict[str, Any] | None:
    total, currency, captured = row[11], row[12], row[13]
    if captured == invoice_line(Money(total, currency)).amount:
        return None
    return {"total_cost": _num(total), "captured_amount": _num(captured), "currency": currency}


def _outlier_facts(row: Candidate) -> list[dict[str, Any]]:
    """One finding per metric the session is an outlier in (energy at 4-7, cost excl. VAT at 8-11)."""
    found = []
    for label, (value, median, mad, beyond) in (("Energy (kWh)", row[4:8]), ("Cost excl. VAT", row[8:12])):
        if beyond:
            z = robust_z(value, median, mad)
            found.append({"metric": label, "value": f"{value:.2f}", "median": f"{median:.2f}", "mad": f"{mad:.2f}",
                          "z": f"{z:.1f}"})  # fmt: skip
    return found


_FLAGS = 17  # index of the first flag column of _ROW_RULES
_RULES: tuple[tuple[AnomalyKind, Callable[[Candidate, AnomalyRules], dict[str, Any] | None]], ...] = (
    (AnomalyKind.ENERGY_METER_MISMATCH, _energy_facts),
    (AnomalyKind.METER_BACKWARDS, _backwards_facts),
    (AnomalyKind.IMPOSSIBLE_POWER, _power_facts),
    (AnomalyKind.CHARGED_ZERO_ENERGY, _zero_facts),
    (AnomalyKind.NEVER_STOPPED, _stopped_facts),
    (AnomalyKind.CAPTURE_MISMATCH, _capture_facts),
    (AnomalyKind.DUPLICATE_SESSION, _duplicate_facts),
)


def _row(kind: AnomalyKind, row: Candidate, facts: dict[str, Any]) -> AnomalyRow:
    anomaly = explain(row[0], kind, facts)
    return AnomalyRow(
        session_id=row[0],
        kind=kind,
        reason=anomaly.reason,
        resolution=anomaly.resolution,
        creditable=anomaly.creditable,
        charge_point_id=row[1],
        location_id=row[2],
        start_date_time=row[3],
        facts=facts,
    )


def _num(value: Any) -> str:
    """A number as plain text: Decimals without trailing zeros, floats to 2 decimals."""
    if isinstance(value, Decimal):
        return format(value.normalize(), "f")
    return f"{value:.2f}"


def _half_minor_unit_sql(engine: AnalyticsEngine) -> str:
    """Half of each present currency's minor unit as an SQL CASE (codes are checked ISO 4217 shapes)."""
    currencies = [row[0] for row in engine.rows("SELECT DISTINCT currency FROM sessions WHERE currency IS NOT NULL")]
    cases = " ".join(
        f"WHEN '{check_currency(c)}' THEN {Decimal(5).scaleb(-minor_units(c) - 1)}" for c in sorted(currencies)
    )
    return f"(CASE currency {cases} ELSE 0.0005 END)" if cases else "0.0005"


def _micros(span: timedelta) -> int:
    return int(span.total_seconds() * 1_000_000)
