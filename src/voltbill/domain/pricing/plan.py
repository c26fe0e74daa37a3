"""A tariff compiled for pricing: candidate components per mode and dimension, restriction checks, boundaries.

Compiled once per tariff object and cached, so pricing a session does no per-tariff work.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Literal

from voltbill.domain.pricing.restrictions import Boundaries, Check, Moment, compile_restrictions
from voltbill.domain.tariffs import PriceComponent, Tariff, TariffRestrictions

Mode = Literal["session", "reservation", "expired"]
_NO_RESTRICTIONS = TariffRestrictions()

Candidates = tuple[tuple[Check | None, PriceComponent], ...]


@dataclass(frozen=True, slots=True)
class Plan:
    """A tariff compiled for pricing: per mode and dimension, the candidate components in tariff order, each with
    its compiled restrictions (``None``: always applies)."""

    tariff: Tariff
    candidates: dict[Mode, dict[str, Candidates]]
    boundaries: Boundaries
    has_vat: bool
    merge_lines: bool  # components that differ only in step_size still make one line
    has_boundaries: bool
    has_reservation: bool

    @classmethod
    def of(cls, tariff: Tariff) -> Plan:
        found: dict[Mode, dict[str, list[tuple[Check | None, PriceComponent]]]] = {
            "session": {},
            "reservation": {},
            "expired": {},
        }
        expires: dict[str, list[tuple[Check | None, PriceComponent]]] = {}
        canonical: dict[PriceComponent, PriceComponent] = {}
        for element in tariff.elements:
            r = element.restrictions
            unrestricted = r is None or replace(r, reservation=None) == _NO_RESTRICTIONS
            check = None if unrestricted or r is None else compile_restrictions(r)
            reservation = r.reservation if r is not None else None
            seen: set[str] = set()
            for listed in element.price_components:
                if listed.type in seen:
                    continue
                seen.add(listed.type)
                # Equal components of different elements share one ledger entry (and one invoice line).
                component = canonical.setdefault(listed, listed)
                if reservation is None:
                    found["session"].setdefault(component.type, []).append((check, component))
                elif reservation == "RESERVATION":
                    found["reservation"].setdefault(component.type, []).append((check, component))
                else:
                    expires.setdefault(component.type, []).append((check, component))
        # mod_tariffs, ReservationRestrictionType: an expired reservation is priced by RESERVATION_EXPIRES elements
        # first, then by RESERVATION elements.
        for kind in {*expires, *found["reservation"]}:
            found["expired"][kind] = expires.get(kind, []) + found["reservation"].get(kind, [])
        candidates = {
            mode: {kind: tuple(entries) for kind, entries in by_kind.items()} for mode, by_kind in found.items()
        }
        distinct = {(c.type, c.price, c.vat) for c in canonical}
        boundaries = Boundaries.of(tariff)
        merge = len(distinct) < len(canonical)
        reservations = bool(candidates["reservation"] or candidates["expired"])
        return cls(tariff, candidates, boundaries, tariff.has_vat(), merge, bool(boundaries), reservations)


_PLANS: dict[int, Plan] = {}


def plan_for(tariff: Tariff) -> Plan:
    """The compiled plan of ``tariff``, cached by object identity (tariffs are immutable)."""
    plan = _PLANS.get(id(tariff))
    if plan is None or plan.tariff is not tariff:
        if len(_PLANS) > 1024:
            _PLANS.clear()
        plan = _PLANS[id(tariff)] = Plan.of(tariff)
    return plan


def first_component(candidates: Candidates | None, at: Moment) -> PriceComponent | None:
    """The first candidate component whose restrictions hold at ``at``."""
    if candidates:
        for check, component in candidates:
            if check is None or check(at):
                return component
    return None
