from decimal import Decimal

import pytest

from voltbill.domain.errors import InvalidInput
from voltbill.domain.idempotency import idempotency_key
from voltbill.domain.money import Money, minor_units
from voltbill.domain.rounding import cdr_amount, invoice_line


def test_money_refuses_floats() -> None:
    with pytest.raises(TypeError):
        Money.of(1.5, "EUR")  # type: ignore[arg-type]


def test_money_refuses_mixed_currencies() -> None:
    with pytest.raises(ValueError):
        Money.of("1", "EUR") + Money.of("1", "USD")


def test_money_refuses_bad_currency_codes() -> None:
    with pytest.raises(InvalidInput):
        Money.of("1", "eur")


def test_minor_units_follow_iso_4217() -> None:
    assert (minor_units("EUR"), minor_units("JPY"), minor_units("KWD")) == (2, 0, 3)


def test_invoice_line_rounds_half_up_to_minor_unit() -> None:
    assert invoice_line(Money.of("1.005", "EUR")) == Money.of("1.01", "EUR")
    assert invoice_line(Money.of("1.0049", "EUR")) == Money.of("1.00", "EUR")
    assert invoice_line(Money.of("10.5", "JPY")) == Money.of("11", "JPY")
    assert invoice_line(Money.of("0.0005", "KWD")) == Money.of("0.001", "KWD")


def test_cdr_amount_keeps_four_decimals_half_up() -> None:
    assert cdr_amount(Decimal("0.12345")) == Decimal("0.1235")
    assert cdr_amount(Decimal("2")) == Decimal("2.0000")


def test_idempotency_key_ignores_part_order_and_changes_with_parts() -> None:
    a = idempotency_key("capture", session_id="s1", amount="2.00")
    b = idempotency_key("capture", amount="2.00", session_id="s1")
    assert a == b
    assert a != idempotency_key("capture", session_id="s2", amount="2.00")
