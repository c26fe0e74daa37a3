from __future__ import annotations

from datetime import UTC, datetime
from zoneinfo import ZoneInfo

import pytest

from voltbill.domain.errors import InvalidInput
from voltbill.domain.numbering import format_number, parse_number, series_for


def test_invoice_numbers_are_prefix_year_and_six_digits() -> None:
    assert format_number("VB-2026", 123) == "VB-2026-000123"
    assert parse_number("VB-2026-000123") == ("VB-2026", 123)


def test_the_series_year_is_the_operators_local_year() -> None:
    new_year_in_berlin = datetime(2026, 12, 31, 23, 30, tzinfo=UTC)
    assert series_for("VB", "invoice", new_year_in_berlin, ZoneInfo("Europe/Berlin")) == "VB-2027"
    assert series_for("VB", "invoice", new_year_in_berlin, ZoneInfo("UTC")) == "VB-2026"


def test_receipts_and_credit_notes_have_series_of_their_own() -> None:
    at = datetime(2026, 5, 1, tzinfo=UTC)
    kinds = ("invoice", "statement", "receipt", "credit_note")
    assert [series_for("VB", kind, at, ZoneInfo("UTC")) for kind in kinds] == [
        "VB-2026",
        "VB-2026",
        "VBR-2026",
        "VBC-2026",
    ]


def test_malformed_numbers_and_prefixes_are_refused_by_field() -> None:
    with pytest.raises(InvalidInput) as bad_number:
        parse_number("2026-12")
    with pytest.raises(InvalidInput) as bad_prefix:
        series_for("vb-x", "invoice", datetime(2026, 5, 1, tzinfo=UTC), ZoneInfo("UTC"))
    assert (bad_number.value.field, bad_prefix.value.field) == ("number", "invoice_prefix")
