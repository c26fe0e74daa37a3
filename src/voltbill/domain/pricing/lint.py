"""Tariff lint: every problem of a tariff at once, each with its JSON path (as ocpi-tariffs' lint does).

Errors make ``parse_tariff`` refuse the tariff; warnings point at tariffs that price, but maybe not as meant.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from voltbill.domain.pricing.ocpi_json import Reader, TariffIssue
from voltbill.domain.tariffs import Tariff, read_tariff

__all__ = ["TariffIssue", "lint_tariff"]


def lint_tariff(data: Mapping[str, Any]) -> list[TariffIssue]:
    """All errors and warnings of an OCPI 2.2.1 Tariff JSON object, in document order per check."""
    reader = Reader()
    tariff = read_tariff(data, reader)
    issues = list(reader.issues)
    if tariff is not None:
        issues.extend(_design_warnings(tariff))
    return issues


def _design_warnings(tariff: Tariff) -> list[TariffIssue]:
    issues = []
    if not tariff.has_vat():
        issues.append(
            TariffIssue("$.elements", "no component states a VAT rate; prices incl. VAT are unknown", "warning")
        )
    fallback: dict[tuple[str, str | None], int] = {}
    restricted: dict[tuple[str, str | None], int] = {}
    for i, element in enumerate(tariff.elements):
        r = element.restrictions
        reservation = r.reservation if r is not None else None
        unrestricted = r is None or r == type(r)(reservation=reservation)
        if r is not None and r.start_time is not None and r.start_time == r.end_time:
            path = f"$.elements[{i}].restrictions.end_time"
            issues.append(TariffIssue(path, "start_time equals end_time, so the element applies all day", "warning"))
        for j, component in enumerate(element.price_components):
            key = (component.type, reservation)
            path = f"$.elements[{i}].price_components[{j}]"
            if key in fallback:
                shadow = (
                    f"element {fallback[key]} has no restrictions, so this {component.type} component never applies"
                )
                issues.append(TariffIssue(path, shadow, "warning"))
            elif unrestricted:
                fallback[key] = i
            else:
                restricted.setdefault(key, i)
            if component.type != "FLAT" and component.step_size == 0:
                issues.append(TariffIssue(f"{path}.step_size", "step_size 0 bills the exact volume", "warning"))
    for (kind, reservation), i in restricted.items():
        if (kind, reservation) not in fallback:
            message = f"no unrestricted {kind} element follows; outside the restrictions {kind} is free"
            issues.append(TariffIssue(f"$.elements[{i}]", message, "warning"))
    return issues
