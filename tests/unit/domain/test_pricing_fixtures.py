"""Every scenario under tests/fixtures/tariffs prices to the totals written in its CDR (ocpi-tariffs layout).

One folder per scenario: ``tariff.json`` and ``cdr_*.json``; the CDR carries the expected totals and its
``cdr_location.time_zone``. Expected amounts come from the OCPI 2.2.1 text (``remark`` says which example).
"""

from __future__ import annotations

import json
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest

from voltbill.domain.pricing.periods import read_session
from voltbill.domain.pricing.pricer import price_session
from voltbill.domain.pricing.report import build_cdr
from voltbill.domain.rounding import cdr_amount
from voltbill.domain.tariffs import parse_tariff

FIXTURES = Path(__file__).parents[2] / "fixtures" / "tariffs"
CASES = sorted(FIXTURES.glob("*/cdr_*.json"))
TOTALS = (
    "total_cost", "total_fixed_cost", "total_energy", "total_energy_cost", "total_time", "total_time_cost",
    "total_parking_time", "total_parking_cost", "total_reservation_cost",
)  # fmt: skip


def _load(path: Path) -> Any:
    return json.loads(path.read_text(), parse_float=Decimal)


def _as_amount(value: Any) -> Decimal | None:
    return None if value is None else cdr_amount(Decimal(str(value)))


def _mismatches(expected: dict[str, Any], actual: dict[str, Any]) -> list[str]:
    problems = []
    for field in TOTALS:
        if field not in expected:
            continue
        want, got = expected[field], actual.get(field)
        if isinstance(want, dict):
            for part in ("excl_vat", "incl_vat"):
                got_part = got.get(part) if isinstance(got, dict) else "missing"
                if got_part == "missing" or _as_amount(want.get(part)) != _as_amount(got_part):
                    problems.append(f"{field}.{part}: expected {want.get(part)}, got {got_part}")
        elif _as_amount(want) != _as_amount(got):
            problems.append(f"{field}: expected {want}, got {got}")
    return problems


def test_the_fixture_set_covers_every_spec_tariff_example() -> None:
    scenarios = {path.parent.name for path in CASES}
    assert len(CASES) >= 40
    assert {f"spec_{n}" for n in range(1, 19)} <= {name.split("_")[0] + "_" + name.split("_")[1] for name in scenarios}


@pytest.mark.parametrize("cdr_path", CASES, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_the_scenario_prices_to_its_expected_totals(cdr_path: Path) -> None:
    tariff = parse_tariff(_load(cdr_path.parent / "tariff.json"))
    expected = _load(cdr_path)
    session = read_session(expected)
    zone = ZoneInfo(expected["cdr_location"]["time_zone"])

    priced = price_session(tariff, session, zone)
    actual = build_cdr(priced, tariff, session, cdr_id=expected["id"])

    problems = _mismatches(expected, actual)
    assert not problems, f"{expected['remark']}: " + "; ".join(problems)
