"""OCPI 2.2.1 Tariff parsing: strict on prices, lenient on identification, every problem with its JSON path."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest

from voltbill.domain.errors import InvalidInput
from voltbill.domain.price import Price
from voltbill.domain.pricing.lint import lint_tariff
from voltbill.domain.tariffs import parse_tariff, select_tariff, tariff_warnings

# The spec's example tariffs, copied verbatim into the pricing fixtures.
SPEC_TARIFFS = sorted((Path(__file__).parents[2] / "fixtures" / "tariffs").glob("spec_*/tariff.json"))


def _tariff(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "country_code": "NL",
        "party_id": "VBL",
        "id": "t",
        "currency": "EUR",
        "elements": [{"price_components": [{"type": "ENERGY", "price": "0.30", "vat": 21, "step_size": 1}]}],
        "last_updated": "2025-01-01T00:00:00Z",
    }
    base.update(changes)
    return base


def _component(**changes: Any) -> dict[str, Any]:
    component: dict[str, Any] = {"type": "ENERGY", "price": "0.30", "step_size": 1}
    component.update(changes)
    return component


@pytest.mark.parametrize("path", SPEC_TARIFFS, ids=lambda p: p.parent.name)
def test_every_spec_example_tariff_parses_and_round_trips(path: Path) -> None:
    data = json.loads(path.read_text())
    tariff = parse_tariff(data)
    assert parse_tariff(tariff.to_ocpi()) == tariff
    assert tariff.currency == "EUR"


def test_prices_are_read_exactly_from_json_floats_and_strings() -> None:
    tariff = parse_tariff(_tariff(elements=[{"price_components": [_component(price=0.1), _component(price="0.2")]}]))
    prices = [c.price for c in tariff.elements[0].price_components]
    assert prices == [Decimal("0.1"), Decimal("0.2")]


def test_missing_identification_fields_still_price_with_warnings() -> None:
    data = _tariff()
    for key in ("country_code", "party_id", "last_updated", "id"):
        del data[key]
    tariff = parse_tariff(data)
    assert tariff.id == ""
    assert sorted(w.split(":")[0] for w in tariff_warnings(data)) == [
        "$.country_code",
        "$.id",
        "$.last_updated",
        "$.party_id",
    ]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"currency": "euro"}, "$.currency"),
        ({"currency": None}, "$.currency"),
        ({"elements": []}, "$.elements"),
        ({"elements": [{"price_components": [_component(price=-1)]}]}, "$.elements[0].price_components[0].price"),
        ({"elements": [{"price_components": [_component(price=True)]}]}, "$.elements[0].price_components[0].price"),
        ({"elements": [{"price_components": [_component(type="KWH")]}]}, "$.elements[0].price_components[0].type"),
        ({"elements": [{"price_components": [_component(vat="x")]}]}, "$.elements[0].price_components[0].vat"),
        (
            {"elements": [{"price_components": [_component(step_size=None)]}]},
            "$.elements[0].price_components[0].step_size",
        ),
        ({"elements": [{"price_components": [_component(price="1e40")]}]}, "$.elements[0].price_components[0].price"),
        ({"type": "CHEAP"}, "$.type"),
        ({"min_price": {"incl_vat": 1}}, "$.min_price.excl_vat"),
        ({"min_price": {"excl_vat": 5}, "max_price": {"excl_vat": 4}}, "$.min_price"),
        ({"start_date_time": "2025-02-01T00:00:00Z", "end_date_time": "2025-01-01T00:00:00Z"}, "$.end_date_time"),
        ({"start_date_time": "yesterday"}, "$.start_date_time"),
    ],
)
def test_invalid_price_fields_are_refused_with_their_json_path(change: dict[str, Any], field: str) -> None:
    with pytest.raises(InvalidInput) as caught:
        parse_tariff(_tariff(**change))
    assert caught.value.field == field


@pytest.mark.parametrize(
    ("restrictions", "field"),
    [
        ({"start_time": "24:00"}, "start_time"),
        ({"end_time": "7:00"}, "end_time"),
        ({"start_date": "2025-02-30"}, "start_date"),
        ({"start_date": "2025-03-02", "end_date": "2025-03-01"}, "end_date"),
        ({"min_kwh": 10, "max_kwh": 5}, "max_kwh"),
        ({"min_current": -1}, "min_current"),
        ({"min_power": 50, "max_power": 50}, "max_power"),
        ({"min_duration": 1.5}, "min_duration"),
        ({"min_duration": 600, "max_duration": 60}, "max_duration"),
        ({"day_of_week": ["MON"]}, "day_of_week[0]"),
        ({"reservation": "YES"}, "reservation"),
    ],
)
def test_invalid_restrictions_are_refused_with_their_json_path(restrictions: dict[str, Any], field: str) -> None:
    element = {"price_components": [_component()], "restrictions": restrictions}
    with pytest.raises(InvalidInput) as caught:
        parse_tariff(_tariff(elements=[element]))
    assert caught.value.field == f"$.elements[0].restrictions.{field}"


def test_lint_collects_every_problem_at_once() -> None:
    element = {"price_components": [_component(price=-1), _component(type="X")], "restrictions": {"end_time": "x"}}
    issues = lint_tariff(_tariff(currency="eur", elements=[element]))
    errors = {issue.path for issue in issues if issue.severity == "error"}
    assert errors == {
        "$.currency",
        "$.elements[0].price_components[0].price",
        "$.elements[0].price_components[1].type",
        "$.elements[0].restrictions.end_time",
    }


def test_lint_warns_about_unreachable_and_missing_fallback_elements() -> None:
    elements = [
        {"price_components": [_component(vat=21)]},
        {"price_components": [_component(vat=21)], "restrictions": {"start_time": "18:00"}},
        {"price_components": [_component(type="TIME", vat=21)], "restrictions": {"max_power": 11}},
    ]
    warnings = {(i.path, i.message.split(";")[0]) for i in lint_tariff(_tariff(elements=elements))}
    assert (
        "$.elements[1].price_components[0]",
        "element 0 has no restrictions, so this ENERGY component never applies",
    ) in warnings
    assert ("$.elements[2]", "no unrestricted TIME element follows") in warnings


def test_the_first_tariff_covering_the_session_start_is_selected() -> None:
    old = parse_tariff(_tariff(id="old", end_date_time="2025-06-01T00:00:00Z"))
    new = parse_tariff(_tariff(id="new", start_date_time="2025-06-01T00:00:00Z"))
    assert select_tariff([old, new], datetime(2025, 5, 31, 23, 59, tzinfo=UTC)).id == "old"
    assert select_tariff([old, new], datetime(2025, 6, 1, tzinfo=UTC)).id == "new"


def test_no_tariff_covering_the_session_start_is_an_error_named_tariff_not_active() -> None:
    future = parse_tariff(_tariff(start_date_time="2030-01-01T00:00:00Z"))
    with pytest.raises(InvalidInput) as caught:
        select_tariff([future], datetime(2025, 1, 1, tzinfo=UTC))
    assert caught.value.code == "tariff_not_active"


def test_min_and_max_price_are_kept_excl_and_incl_vat() -> None:
    tariff = parse_tariff(_tariff(min_price={"excl_vat": 0.5, "incl_vat": 0.55}, max_price={"excl_vat": "10"}))
    assert tariff.min_price == Price(Decimal("0.5"), Decimal("0.55"))
    assert tariff.max_price == Price(Decimal("10"), None)
