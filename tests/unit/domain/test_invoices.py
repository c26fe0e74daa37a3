"""Invoice amounts built from priced OCPI CDRs: totals equal the CDR to the minor unit, lines and VAT add up."""

from __future__ import annotations

import json
from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from invoice_cdrs import make_cdr
from voltbill.domain.errors import Conflict
from voltbill.domain.invoice_json import invoice_from_json, invoice_to_json
from voltbill.domain.invoices import credit_note_for, finalise, monthly_statements, session_invoice
from voltbill.domain.money import Money
from voltbill.domain.rounding import invoice_line
from voltbill.domain.vat import allocate

# The CDR example of OCPI 2.2.1 (mod_cdrs, "Example of a CDR"), verbatim.
EXAMPLE = Path(__file__).parents[2] / "fixtures" / "invoices" / "ocpi_cdr_example.json"


def example_cdr() -> dict[str, Any]:
    return dict(json.loads(EXAMPLE.read_text()))


def test_the_ocpi_example_cdr_becomes_an_invoice_with_its_totals() -> None:
    invoice = session_invoice(example_cdr(), operator_id="op", driver_id="d1")
    assert (invoice.net_total, invoice.vat_total, invoice.gross_total) == (
        Decimal("4.00"),
        Decimal("0.40"),
        Decimal("4.40"),
    )
    (line,) = invoice.lines
    assert (line.dimension, line.volume, line.unit, line.unit_price, line.vat_rate) == (
        "TIME",
        Decimal("1.973"),
        "h",
        Decimal("2.0"),
        Decimal("10.0"),
    )
    assert [(v.rate, v.base, v.vat) for v in invoice.vat] == [(Decimal("10.0"), Decimal("4.00"), Decimal("0.40"))]
    assert invoice.number is None and invoice.status == "draft"


def test_lines_are_rounded_so_they_add_up_to_the_rounded_cdr_total() -> None:
    # Three lines of 0.105 round to 0.11 each (0.33), but the CDR total 0.315 rounds to 0.32.
    cdr = make_cdr("c1", "EUR", {"FLAT": ("0.105", "19"), "ENERGY": ("0.105", "19"), "TIME": ("0.105", "19")})
    invoice = session_invoice(cdr, operator_id="op", driver_id="d1")
    assert invoice.net_total == Decimal("0.32")
    assert sum(line.net for line in invoice.lines) == Decimal("0.32")
    assert sorted(line.net for line in invoice.lines) == [Decimal("0.10"), Decimal("0.11"), Decimal("0.11")]


def test_session_invoice_shows_location_local_times_and_tariff() -> None:
    cdr = make_cdr("c1", "EUR", {"ENERGY": ("4.6026", "19")}, start="2026-10-05T06:00:00Z", end="2026-10-05T07:30:00Z")
    invoice = session_invoice(cdr, operator_id="op", driver_id="d1", time_zone="Europe/Berlin", charge_point_id="CP1")
    (session,) = invoice.sessions
    assert session.local(session.start).isoformat() == "2026-10-05T08:00:00+02:00"
    assert (session.duration_s, session.charge_point_id, session.location["name"]) == (5400, "CP1", "Gent Zuid")
    assert session.tariff_components[0]["price"] == "0.30"


def test_min_price_difference_becomes_an_adjustment_line() -> None:
    cdr = make_cdr("c1", "EUR", {"ENERGY": ("1.20", "20")}, total=("2.00", "2.40"))
    invoice = session_invoice(cdr, operator_id="op", driver_id="d1")
    assert [(line.dimension, line.net) for line in invoice.lines] == [
        ("ENERGY", Decimal("1.20")),
        ("ADJUSTMENT", Decimal("0.80")),
    ]
    assert (invoice.gross_total, invoice.vat[0].vat) == (Decimal("2.40"), Decimal("0.40"))


def test_a_cdr_without_vat_information_has_no_vat() -> None:
    cdr = make_cdr("c1", "EUR", {"ENERGY": ("3.00", None)}, total=("3.00", None))
    invoice = session_invoice(cdr, operator_id="op", driver_id=None, receipt=True)
    assert (invoice.kind, invoice.gross_total, invoice.vat_total) == ("receipt", Decimal("3.00"), Decimal("0.00"))
    assert invoice.vat[0].rate is None


def test_monthly_statement_is_one_document_per_currency_in_start_order() -> None:
    cdrs = [
        make_cdr("late", "EUR", {"ENERGY": ("5.1234", "19")}, start="2026-10-20T10:00:00Z", end="2026-10-20T11:00:00Z"),
        make_cdr("chf", "CHF", {"ENERGY": ("7.00", "8.1")}),
        make_cdr("early", "EUR", {"TIME": ("1.0049", "19")}, start="2026-10-02T10:00:00Z", end="2026-10-02T11:00:00Z"),
    ]
    chf, eur = monthly_statements(cdrs, operator_id="op", driver_id="d1", period="2026-10")
    assert (chf.currency, chf.cdr_ids, eur.currency, eur.cdr_ids) == ("CHF", ("chf",), "EUR", ("early", "late"))
    assert eur.net_total == Decimal("1.00") + Decimal("5.12")
    assert eur.kind == "statement" and eur.period == "2026-10"


def test_amounts_in_currencies_without_minor_unit_are_whole() -> None:
    cdr = make_cdr("c1", "JPY", {"ENERGY": ("520.5", "10"), "FLAT": ("100.4", "10")})
    invoice = session_invoice(cdr, operator_id="op", driver_id="d1")
    assert invoice.net_total == Decimal("621")
    assert [line.net for line in invoice.lines] == [Decimal("100"), Decimal("521")]  # FLAT first


def test_credit_note_cancels_the_issued_invoice_and_drafts_cannot_be_credited() -> None:
    draft = session_invoice(example_cdr(), operator_id="op", driver_id="d1")
    with pytest.raises(Conflict) as refused:
        credit_note_for(draft)
    assert refused.value.code == "invoice_not_creditable"
    issued = finalise(draft, "VB-2026-000001", datetime(2026, 10, 5, tzinfo=UTC))
    credit = credit_note_for(issued)
    assert (credit.kind, credit.credits, credit.gross_total, credit.number) == (
        "credit_note",
        "VB-2026-000001",
        Decimal("-4.40"),
        None,
    )
    with pytest.raises(Conflict):
        finalise(issued, "VB-2026-000002", datetime(2026, 10, 5, tzinfo=UTC))


def test_invoice_json_round_trips() -> None:
    cdr = make_cdr("c1", "EUR", {"FLAT": ("1.00", "19"), "ENERGY": ("4.6026", "7")})
    issued = finalise(session_invoice(cdr, operator_id="op", driver_id="d1"), "VB-2026-000007", datetime.now(UTC))
    data = invoice_to_json(issued)
    assert json.loads(json.dumps(data)) == data
    assert invoice_from_json(data) == issued
    assert data["totals"] == {"excl_vat": "5.60", "vat": "0.51", "incl_vat": "6.11"}


amounts = st.decimals(min_value=Decimal("0"), max_value=Decimal("500"), places=4, allow_nan=False)
rates = st.sampled_from(["0", "5.5", "7", "10", "19", "20", "21"])
dimension_costs = st.dictionaries(
    st.sampled_from(["FLAT", "ENERGY", "TIME", "PARKING_TIME"]), st.tuples(amounts.map(str), rates), min_size=1
)


@settings(max_examples=300, deadline=None)
@given(costs=st.lists(dimension_costs, min_size=1, max_size=6), currency=st.sampled_from(["EUR", "JPY", "KWD"]))
def test_invoice_totals_equal_cdr_totals_to_the_minor_unit(costs: list[Any], currency: str) -> None:
    cdrs = [make_cdr(f"c{i}", currency, c) for i, c in enumerate(costs)]
    for cdr in cdrs:
        invoice = session_invoice(cdr, operator_id="op", driver_id="d1")
        net = invoice_line(Money(Decimal(cdr["total_cost"]["excl_vat"]), currency)).amount
        gross = invoice_line(Money(Decimal(cdr["total_cost"]["incl_vat"]), currency)).amount
        assert (invoice.net_total, invoice.gross_total) == (net, gross)
        assert sum(line.net for line in invoice.lines) == net
        assert sum(v.base for v in invoice.vat) == net
        assert sum(v.vat for v in invoice.vat) == gross - net == invoice.vat_total
    (statement,) = monthly_statements(cdrs, operator_id="op", driver_id="d1", period="2026-10")
    expected = sum(invoice_line(Money(Decimal(c["total_cost"]["incl_vat"]), currency)).amount for c in cdrs)
    assert statement.gross_total == expected
    assert sum(v.base + v.vat for v in statement.vat) == expected


@settings(max_examples=300, deadline=None)
@given(exact=st.lists(amounts, min_size=1, max_size=8))
def test_allocation_moves_each_amount_by_less_than_one_minor_unit(exact: list[Decimal]) -> None:
    total = invoice_line(Money(sum(exact, Decimal(0)), "EUR")).amount
    allocated = allocate(exact, total, "EUR")
    assert sum(allocated) == total
    assert all(abs(a - e) < Decimal("0.01") for a, e in zip(allocated, exact, strict=True))


def test_without_tariff_details_the_vat_rate_is_implied_by_the_cdr_prices() -> None:
    cdr = make_cdr("c1", "EUR", {"ENERGY": ("10.00", "19")})
    cdr["tariffs"] = []
    (line,) = session_invoice(cdr, operator_id="op", driver_id="d1").lines
    assert (line.vat_rate, line.unit_price) == (Decimal("19"), None)
