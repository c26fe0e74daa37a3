"""Invoice numbers: ``PREFIX-YYYY-000123``, gap-free per operator and series (STYLE.md §6).

A series is the prefix of one document kind plus the issuing year in the operator's time zone; each series counts
from 1. Invoices and monthly statements share the operator's prefix (``VB``), receipts add ``R`` (``VBR``), credit
notes add ``C`` (``VBC``), so each kind is a gap-free sequence of its own. The counter lives in the database and is
advanced in the transaction that makes the document final; a draft has no number.
"""

from __future__ import annotations

import re
from datetime import datetime
from zoneinfo import ZoneInfo

from voltbill.domain.clock import ensure_utc
from voltbill.domain.errors import InvalidInput

KIND_SUFFIX = {"invoice": "", "statement": "", "receipt": "R", "credit_note": "C"}
_PREFIX = re.compile(r"^[A-Z][A-Z0-9]{0,9}$")
_NUMBER = re.compile(r"^(?P<series>[A-Z][A-Z0-9]{0,10}-\d{4})-(?P<seq>\d{6,})$")


def check_prefix(prefix: str, field: str = "invoice_prefix") -> str:
    """Return ``prefix`` if it is 1-10 upper-case letters/digits starting with a letter, else raise."""
    if not _PREFIX.match(prefix):
        raise InvalidInput(f"invoice prefix {prefix!r} must be 1-10 upper-case letters or digits", field=field)
    return prefix


def series_for(prefix: str, kind: str, issued_at: datetime, tz: ZoneInfo) -> str:
    """The series a document of ``kind`` issued at ``issued_at`` belongs to, e.g. ``VB-2026``."""
    year = ensure_utc(issued_at).astimezone(tz).year
    return f"{check_prefix(prefix)}{KIND_SUFFIX[kind]}-{year:04d}"


def format_number(series: str, sequence: int) -> str:
    """``VB-2026`` and 123 -> ``VB-2026-000123``."""
    if sequence < 1:
        raise ValueError("invoice sequences start at 1")
    return f"{series}-{sequence:06d}"


def parse_number(number: str) -> tuple[str, int]:
    """``VB-2026-000123`` -> (``VB-2026``, 123); raises ``InvalidInput`` for anything else."""
    match = _NUMBER.match(number)
    if match is None:
        raise InvalidInput(f"{number!r} is not an invoice number like VB-2026-000123", field="number")
    return match["series"], int(match["seq"])
