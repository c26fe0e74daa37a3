"""Fuzzing tariff and CDR JSON: the answer is a price or a clear InvalidInput, never another exception."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from voltbill.domain import json_text
from voltbill.domain.errors import InvalidInput
from voltbill.domain.pricing.periods import read_session
from voltbill.domain.pricing.pricer import price_session
from voltbill.domain.pricing.report import build_cdr
from voltbill.domain.tariffs import parse_tariff, select_tariff

FIXTURES = Path(__file__).parents[2] / "fixtures" / "tariffs"
PAIRS = [
    (json.loads((p.parent / "tariff.json").read_text()), json.loads(p.read_text()))
    for p in sorted(FIXTURES.glob("*/cdr_*.json"))
]
ZONE = ZoneInfo("Europe/Amsterdam")

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(10**20), max_value=10**20)
    | st.floats(allow_nan=True, allow_infinity=True)
    | st.text(max_size=12)
    | st.sampled_from(["ENERGY", "TIME", "PARKING_TIME", "FLAT", "RESERVATION_TIME", "12:00", "24:00", "2025-03-30",
                       "2025-03-30T01:30:00Z", "0000-01-01T00:00:00Z", "9999-12-31T23:59:59Z", "1e99999", "-0", "NaN"]),
    lambda children: st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4),
    max_leaves=12,
)  # fmt: skip


def _mutate(value: Any, data: st.DataObject, depth: int = 0) -> Any:
    """Replace, drop or keep one randomly chosen node of a JSON document."""
    action = data.draw(st.sampled_from(["descend", "replace", "keep"] if depth < 6 else ["replace", "keep"]))
    if action == "replace":
        return data.draw(json_values)
    if action == "keep" or not isinstance(value, (dict, list)) or not value:
        return value
    if isinstance(value, dict):
        key = data.draw(st.sampled_from(sorted(value)))
        copy = dict(value)
        if data.draw(st.booleans()):
            copy[key] = _mutate(value[key], data, depth + 1)
        else:
            del copy[key]
        return copy
    index = data.draw(st.integers(min_value=0, max_value=len(value) - 1))
    copy_list = list(value)
    copy_list[index] = _mutate(value[index], data, depth + 1)
    return copy_list


def _price(tariff_data: Any, cdr_data: Any) -> None:
    try:
        tariff = parse_tariff(tariff_data)
        session = read_session(cdr_data)
        select_tariff([tariff], session.start_date_time)
    except InvalidInput as exc:
        assert exc.message and exc.field
        return
    priced = price_session(tariff, session, ZONE)
    json_text.dumps(build_cdr(priced, tariff, session, cdr_id="fuzz"))  # the CDR serialises as the API sends it


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(pair=st.sampled_from(PAIRS), data=st.data())
def test_mutated_tariffs_and_cdrs_price_or_fail_with_invalid_input(pair: tuple[Any, Any], data: st.DataObject) -> None:
    tariff_data, cdr_data = pair
    _price(_mutate(tariff_data, data), _mutate(cdr_data, data))


@settings(max_examples=150, deadline=None)
@given(tariff_data=json_values, cdr_data=json_values)
def test_random_json_prices_or_fails_with_invalid_input(tariff_data: Any, cdr_data: Any) -> None:
    _price(tariff_data, cdr_data)
