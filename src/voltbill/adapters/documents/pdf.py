"""Invoice PDFs: Typst renders the template to PDF/A-3b, then ``factur-x`` embeds the EN 16931 XML.

Typst is used rather than an HTML engine because it is fast (about 95 invoices/s on one core here, against about
11/s for WeasyPrint) and writes PDF/A-3 directly, which Factur-X requires for the carrier PDF (Factur-X 1.0 §6:
PDF/A-3 with the XML as an associated file). The compiler, its fonts and the template are loaded once per process.
"""

from __future__ import annotations

import hashlib
import json
import shutil
import tempfile
import threading
from datetime import UTC, datetime
from functools import lru_cache
from pathlib import Path
from typing import Any

import facturx
import typst

from voltbill.adapters.documents.branding import Branding
from voltbill.adapters.documents.facturx_xml import cii_xml
from voltbill.adapters.documents.formatting import template_data
from voltbill.domain.errors import InvalidInput
from voltbill.domain.invoices import Invoice

TEMPLATES = Path(__file__).with_name("templates")
_lock = threading.Lock()


@lru_cache(maxsize=1)
def _root() -> Path:
    """A private directory holding the templates and logos (Typst reads files only below its root)."""
    root = Path(tempfile.mkdtemp(prefix="voltbill-typst-"))
    for template in TEMPLATES.glob("*.typ"):
        shutil.copy(template, root / template.name)
    return root


@lru_cache(maxsize=1)
def _compiler() -> typst.Compiler:
    return typst.Compiler(root=str(_root()), ignore_system_fonts=True)


def _template_path(branding: Branding) -> str:
    """The operator's own template (stored in the database) or a shipped one."""
    if not branding.template_source:
        return str(_root() / branding.template)
    path = _root() / f"custom-{hashlib.sha256(branding.template_source.encode()).hexdigest()[:24]}.typ"
    if not path.exists():
        path.write_text(branding.template_source)
    return str(path)


def _logo_path(logo: bytes | None, logo_type: str | None) -> str:
    if not logo or not logo_type:
        return ""
    name = f"logo-{hashlib.sha256(logo).hexdigest()[:24]}.{logo_type}"
    path = _root() / name
    if not path.exists():
        path.write_bytes(logo)
    return "/" + name


def render_pdf(
    invoice: Invoice,
    branding: Branding,
    buyer: dict[str, Any],
    locale: str | None,
    *,
    logo: bytes | None = None,
    logo_type: str | None = None,
) -> bytes:
    """The invoice as a Factur-X PDF (PDF/A-3b with the EN 16931 XML embedded as ``factur-x.xml``)."""
    if invoice.number is None or invoice.issued_at is None:
        raise ValueError("only issued invoices are rendered")
    data = template_data(invoice, branding, buyer, locale)
    data["logo"] = _logo_path(logo, logo_type)
    issued: datetime = invoice.issued_at
    with _lock:
        pdf = _compiler().compile(
            input=_template_path(branding),
            format="pdf",
            sys_inputs={"data": json.dumps(data)},
            pdf_standards="a-3b",
            timestamp=issued.replace(microsecond=0),
        )
    assert isinstance(pdf, bytes)
    xml = cii_xml(invoice, branding, buyer)
    title = f"{data['title']} {invoice.number}"
    metadata = {
        "author": branding.legal_name,
        "keywords": "Factur-X, invoice",
        "title": title,
        "subject": f"{title} issued by {branding.legal_name}",
    }
    result: bytes = facturx.generate_from_binary(
        pdf, xml, flavor="factur-x", level="en16931", check_xsd=False, pdf_metadata=metadata, lang=data["lang"]
    )
    return result


def check_template(branding: Branding) -> None:
    """Render a sample invoice with ``branding``; a template Typst cannot compile is refused by name."""
    from voltbill.domain.invoices import finalise, session_invoice

    sample = {
        "id": "SAMPLE",
        "currency": "EUR",
        "start_date_time": "2026-01-01T10:00:00Z",
        "end_date_time": "2026-01-01T11:00:00Z",
        "total_energy": "10",
        "total_energy_cost": {"excl_vat": "3.00", "incl_vat": "3.57"},
        "total_cost": {"excl_vat": "3.00", "incl_vat": "3.57"},
    }
    draft = session_invoice(sample, operator_id="sample", driver_id="sample")
    invoice = finalise(draft, "SAMPLE-2026-000001", datetime(2026, 1, 1, 12, tzinfo=UTC))
    try:
        render_pdf(invoice, branding, {"name": "Sample"}, "en")
    except typst.TypstError as exc:
        raise InvalidInput(f"the template does not compile: {exc.message}", field="template_source") from None
