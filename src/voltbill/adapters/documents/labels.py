"""Printed words of an invoice, per language. Numbers, money and dates are formatted by Babel, not here."""

from __future__ import annotations

from babel import Locale, UnknownLocaleError

LABELS: dict[str, dict[str, str]] = {
    "en": {
        "invoice": "Invoice",
        "receipt": "Receipt",
        "statement": "Monthly statement",
        "credit_note": "Credit note",
        "number": "Number",
        "date": "Date",
        "period": "Period",
        "credits": "Corrects invoice",
        "bill_to": "Bill to",
        "customer": "Customer",
        "sessions": "Charging sessions",
        "location": "Location",
        "charger": "Charger",
        "start": "Start",
        "end": "End",
        "duration": "Duration",
        "energy": "Energy",
        "tariff": "Tariff",
        "description": "Description",
        "quantity": "Quantity",
        "unit_price": "Unit price",
        "vat_rate": "VAT",
        "net": "Net",
        "vat_breakdown": "VAT breakdown",
        "base": "Taxable amount",
        "vat": "VAT",
        "no_vat": "no VAT stated",
        "total_net": "Total excl. VAT",
        "total_vat": "Total VAT",
        "total_gross": "Total incl. VAT",
        "vat_id": "VAT ID",
        "FLAT": "Session fee",
        "ENERGY": "Energy",
        "TIME": "Charging time",
        "PARKING_TIME": "Parking / idle time",
        "ADJUSTMENT": "Minimum / maximum price adjustment",
        "kWh": "kWh",
        "h": "h",
        "session": "session",
        "e_invoice": "This PDF contains the structured e-invoice (Factur-X / ZUGFeRD, EN 16931).",
    },
    "de": {
        "invoice": "Rechnung",
        "receipt": "Quittung",
        "statement": "Monatsabrechnung",
        "credit_note": "Gutschrift",
        "number": "Nummer",
        "date": "Datum",
        "period": "Zeitraum",
        "credits": "Korrigiert Rechnung",
        "bill_to": "Rechnungsempfänger",
        "customer": "Kunde",
        "sessions": "Ladevorgänge",
        "location": "Standort",
        "charger": "Ladestation",
        "start": "Beginn",
        "end": "Ende",
        "duration": "Dauer",
        "energy": "Energie",
        "tariff": "Tarif",
        "description": "Beschreibung",
        "quantity": "Menge",
        "unit_price": "Einzelpreis",
        "vat_rate": "USt.",
        "net": "Netto",
        "vat_breakdown": "Umsatzsteuer",
        "base": "Bemessungsgrundlage",
        "vat": "USt.",
        "no_vat": "keine USt. angegeben",
        "total_net": "Summe netto",
        "total_vat": "Umsatzsteuer gesamt",
        "total_gross": "Gesamtbetrag brutto",
        "vat_id": "USt-IdNr.",
        "FLAT": "Startgebühr",
        "ENERGY": "Energie",
        "TIME": "Ladezeit",
        "PARKING_TIME": "Park- / Standzeit",
        "ADJUSTMENT": "Ausgleich Mindest- / Höchstpreis",
        "kWh": "kWh",
        "h": "Std.",
        "session": "Vorgang",
        "e_invoice": "Dieses PDF enthält die strukturierte E-Rechnung (Factur-X / ZUGFeRD, EN 16931).",
    },
}


def babel_locale(locale: str | None) -> Locale:
    """The Babel locale for a driver's ``locale`` (``de``, ``de-DE``, ``en_GB``); English when unknown."""
    try:
        return Locale.parse((locale or "en").replace("-", "_"))
    except (UnknownLocaleError, ValueError):
        return Locale.parse("en")


def labels_for(locale: Locale) -> dict[str, str]:
    """The labels in the locale's language, English when there is no translation."""
    return LABELS.get(locale.language, LABELS["en"])
