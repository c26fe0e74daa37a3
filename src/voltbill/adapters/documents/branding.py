"""An operator's invoice branding: legal details, colours, logo, footer, number prefix, template, sender."""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass
from typing import Any

from voltbill.domain.errors import InvalidInput
from voltbill.domain.numbering import check_prefix

_COLOR = re.compile(r"^#[0-9a-fA-F]{6}$")
LOGO_TYPES = {"png": b"\x89PNG", "jpg": b"\xff\xd8\xff", "svg": b"<"}
FIELDS = (
    "legal_name",
    "address",
    "country",
    "vat_id",
    "color",
    "footer",
    "invoice_prefix",
    "email_from",
    "template",
    "template_source",
)
MAX_TEMPLATE_BYTES = 200_000


@dataclass(frozen=True, slots=True)
class Branding:
    """What an operator's invoices look like and say about the seller.

    Attributes: ``legal_name``, ``address`` (lines), ``country`` (ISO 3166-1 alpha-2, for the e-invoice),
    ``vat_id``, ``color`` (``#rrggbb``), ``footer``, ``invoice_prefix`` (numbers ``PREFIX-YYYY-000123``),
    ``email_from``, ``template`` (file name under ``adapters/documents/templates``), ``template_source`` (the
    Typst source of the operator's own template; empty: use ``template``).
    """

    legal_name: str = "voltbill operator"
    address: tuple[str, ...] = ()
    country: str = "DE"
    vat_id: str = ""
    color: str = "#0b6e4f"
    footer: str = ""
    invoice_prefix: str = "VB"
    email_from: str = "invoices@voltbill.invalid"
    template: str = "invoice.typ"
    template_source: str = ""

    def to_json(self) -> dict[str, Any]:
        data = dataclasses.asdict(self)
        data["address"] = list(self.address)
        return data


def branding_from(data: dict[str, Any], base: Branding | None = None) -> Branding:
    """``base`` (default branding when omitted) with the fields given in ``data``; each is checked by name."""
    unknown = set(data) - set(FIELDS)
    if unknown:
        raise InvalidInput(f"unknown branding field {sorted(unknown)[0]!r}", field=sorted(unknown)[0])
    changes = {k: v for k, v in data.items() if v is not None}
    if "address" in changes:
        address = changes["address"]
        changes["address"] = tuple(address.split("\n") if isinstance(address, str) else address)
    for key in set(changes) - {"address"}:
        if not isinstance(changes[key], str):
            raise InvalidInput("must be a string", field=key)
    if "color" in changes and not _COLOR.match(changes["color"]):
        raise InvalidInput(f"colour {changes['color']!r} must look like #0b6e4f", field="color")
    if "country" in changes and not (len(changes["country"]) == 2 and changes["country"].isalpha()):
        raise InvalidInput("country must be an ISO 3166-1 alpha-2 code such as DE", field="country")
    if "invoice_prefix" in changes:
        check_prefix(changes["invoice_prefix"])
    if "template" in changes and not re.match(r"^[a-z0-9_-]+\.typ$", changes["template"]):
        raise InvalidInput("template must be a .typ file name under adapters/documents/templates", field="template")
    if len(changes.get("template_source", "").encode()) > MAX_TEMPLATE_BYTES:
        raise InvalidInput(f"template source is larger than {MAX_TEMPLATE_BYTES} bytes", field="template_source")
    return dataclasses.replace(base or Branding(), **changes)


def logo_type(logo: bytes) -> str:
    """``png``, ``jpg`` or ``svg`` from the file's first bytes; anything else is refused."""
    for kind, magic in LOGO_TYPES.items():
        if logo.lstrip()[: len(magic)] == magic:
            return kind
    raise InvalidInput("logo must be a PNG, JPEG or SVG file", field="logo")
