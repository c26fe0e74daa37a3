"""Price: an OCPI 2.2.1 Price object (types.asciidoc, Price class), kept at full precision."""

from __future__ import annotations

from dataclasses import dataclass
from decimal import Decimal

_ZERO = Decimal(0)


@dataclass(frozen=True, slots=True)
class Price:
    """A cost excluding and including VAT.

    Attributes: ``excl_vat`` (Decimal, full precision), ``incl_vat`` (Decimal, or ``None`` when the VAT is unknown;
    never zero as a stand-in for "unknown").
    """

    excl_vat: Decimal
    incl_vat: Decimal | None

    @classmethod
    def zero(cls) -> Price:
        return cls(_ZERO, _ZERO)

    def __add__(self, other: Price) -> Price:
        incl = None if self.incl_vat is None or other.incl_vat is None else self.incl_vat + other.incl_vat
        return Price(self.excl_vat + other.excl_vat, incl)
