"""``json_text``: Decimals as JSON numbers with their exact digits, and back."""

from __future__ import annotations

import json
from decimal import Decimal

import pytest

from voltbill.domain import json_text

PLAIN = {"a": [1, 2, {"b": [], "c": {}}], "é": 'x"\n', "n": None, "t": True, "f": 1.5, "z": {"y": [{"q": "w"}]}}


@pytest.mark.parametrize("indent", [None, 2])
def test_values_without_decimals_are_written_as_json_writes_them(indent: int | None) -> None:
    expected = json.dumps(PLAIN, indent=indent, ensure_ascii=False, separators=None if indent else (",", ":"))
    assert json_text.dumps(PLAIN, indent=indent) == expected
    assert json_text.dumps(PLAIN, indent=indent, sort_keys=True) == json.dumps(
        PLAIN, indent=indent, ensure_ascii=False, separators=None if indent else (",", ":"), sort_keys=True
    )


def test_a_decimal_is_a_number_with_its_exact_digits_and_reads_back_equal() -> None:
    volumes = {"total_energy": Decimal("12.3450"), "volume": Decimal("0.2777777777777777777777777778")}
    volumes["big"] = Decimal("1E+3")

    text = json_text.dumps(volumes)

    assert text == '{"total_energy":12.3450,"volume":0.2777777777777777777777777778,"big":1000}'
    assert json_text.loads(text) == volumes
    assert str(json_text.loads(text)["total_energy"]) == "12.3450"


@pytest.mark.parametrize("value", [Decimal("NaN"), Decimal("Infinity"), float("nan")])
def test_a_value_that_is_not_a_json_number_is_refused(value: object) -> None:
    with pytest.raises(ValueError):
        json_text.dumps({"volume": value})
