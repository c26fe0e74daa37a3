"""Invoice PDFs: the text shows the numbers, the embedded Factur-X XML is valid EN 16931, page 1 renders."""

from __future__ import annotations

import io
import shutil
import struct
import subprocess
import zlib
from datetime import UTC, datetime
from pathlib import Path

import facturx
import pytest
from lxml import etree
from pypdf import PdfReader

from invoice_cdrs import make_cdr
from voltbill.adapters.documents.branding import Branding
from voltbill.adapters.documents.pdf import render_pdf
from voltbill.domain.invoices import Invoice, credit_note_for, finalise, monthly_statements, session_invoice

ISSUED = datetime(2026, 10, 31, 23, 30, tzinfo=UTC)
BRANDING = Branding(
    legal_name="Stromtankstelle Nord GmbH",
    address=("Hafenstraße 7", "20457 Hamburg"),
    vat_id="DE123456789",
    color="#7a1f5c",
    footer="Amtsgericht Hamburg HRB 4711 · IBAN DE02 1203 0000 0000 2020 51",
)
BUYER = {
    "name": "Erika Mustermann",
    "lines": ["Musterweg 2", "80331 München"],
    "email": "e@example.com",
    "country": "DEU",
}


def png(width: int, height: int, rgb: tuple[int, int, int]) -> bytes:
    """A solid-colour PNG, written by hand (no imaging library needed)."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))

    raw = b"".join(b"\x00" + bytes(rgb) * width for _ in range(height))
    header = struct.pack(">IIBBBBB", width, height, 8, 2, 0, 0, 0)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", header) + chunk(b"IDAT", zlib.compress(raw)) + chunk(b"IEND", b"")


def invoice(number: str = "VB-2026-000042") -> Invoice:
    cdr = make_cdr(
        "CDR-A1", "EUR", {"FLAT": ("1.00", "19"), "ENERGY": ("9.2052", "19"), "PARKING_TIME": ("0.75", "19")}
    )
    draft = session_invoice(cdr, operator_id="op", driver_id="d-7", time_zone="Europe/Berlin", charge_point_id="CP-9")
    return finalise(draft, number, ISSUED)


def text_of(pdf: bytes) -> str:
    text = "\n".join(page.extract_text() for page in PdfReader(io.BytesIO(pdf)).pages)
    return text.replace("\xa0", " ")  # Babel separates amount and currency with a no-break space


def test_german_pdf_shows_number_totals_and_local_times_formatted_by_locale() -> None:
    text = text_of(render_pdf(invoice(), BRANDING, BUYER, "de-DE"))
    for expected in ("Rechnung", "VB-2026-000042", "10,96 €", "13,04 €", "2,08 €", "Stromtankstelle Nord GmbH"):
        assert expected in text
    assert "05.10.2026, 23:39:09" in text  # 21:39:09Z in Europe/Berlin (CEST)
    assert "DE123456789" in text and "Erika Mustermann" in text


def test_english_pdf_uses_english_labels_and_number_format() -> None:
    text = text_of(render_pdf(invoice(), BRANDING, BUYER, "en"))
    assert "Invoice" in text and "Total incl. VAT" in text and "€13.04" in text


def test_embedded_factur_x_xml_validates_against_the_en16931_xsd() -> None:
    pdf = render_pdf(invoice(), BRANDING, BUYER, "de")
    filename, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
    assert filename == "factur-x.xml"
    assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931") is True
    root = etree.fromstring(xml)
    ns = {"ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100"}
    assert root.findtext(".//ram:GrandTotalAmount", namespaces=ns) == "13.04"
    assert root.findtext(".//ram:DuePayableAmount", namespaces=ns) == "13.04"
    lines = root.findall(".//ram:LineTotalAmount", namespaces=ns)
    assert sum(float(x.text or 0) for x in lines[:-1]) == pytest.approx(10.96)


def test_credit_notes_and_multi_session_statements_are_valid_e_invoices() -> None:
    credit = finalise(credit_note_for(invoice()), "VBC-2026-000001", ISSUED)
    cdrs = [make_cdr(f"S{i}", "EUR", {"ENERGY": (f"{i}.3333", "19"), "TIME": ("0.5", "7")}) for i in range(1, 6)]
    (statement,) = monthly_statements(cdrs, operator_id="op", driver_id="d-7", period="2026-10")
    statement = finalise(statement, "VB-2026-000043", ISSUED)
    for document, type_code in ((credit, "381"), (statement, "380")):
        pdf = render_pdf(document, BRANDING, BUYER, "de")
        _, xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)
        assert facturx.xml_check_xsd(xml, flavor="factur-x", level="en16931") is True
        assert f"<ram:TypeCode>{type_code}</ram:TypeCode>".encode() in xml
    assert "VB-2026-000042" in text_of(render_pdf(credit, BRANDING, BUYER, "en"))


@pytest.mark.skipif(shutil.which("pdftoppm") is None, reason="poppler-utils (pdftoppm) is installed by ./scripts/test")
def test_page_one_renders_to_a_non_blank_image_with_the_brand_colour(tmp_path: Path) -> None:
    logo = png(120, 40, (0x7A, 0x1F, 0x5C))
    pdf = render_pdf(invoice(), BRANDING, BUYER, "de", logo=logo, logo_type="png")
    (tmp_path / "invoice.pdf").write_bytes(pdf)
    subprocess.run(
        ["pdftoppm", "-r", "40", "-f", "1", "-l", "1", "invoice.pdf", "page"], cwd=tmp_path, check=True, timeout=60
    )
    (image,) = tmp_path.glob("page*.ppm")
    data = image.read_bytes()
    header, pixels = data.split(b"\n", 3)[:3], data.split(b"\n", 3)[3]
    assert header[0] == b"P6"
    rgb = [pixels[i : i + 3] for i in range(0, len(pixels), 3)]
    ink = sum(1 for p in rgb if max(p) < 200)
    brand = sum(1 for p in rgb if abs(p[0] - 0x7A) < 40 and p[1] < 0x60 and abs(p[2] - 0x5C) < 40)
    assert ink > 0.01 * len(rgb)  # text and tables were drawn
    assert brand > 100  # the logo and the coloured header row
