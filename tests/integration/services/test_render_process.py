"""The server's render process: invoices rendered in a process of its own, one that died replaced at the next batch."""

from __future__ import annotations

import multiprocessing
import os
import signal
import time
from concurrent.futures.process import BrokenProcessPool
from datetime import UTC, datetime

import facturx
import pytest

from invoice_cdrs import make_cdr
from voltbill.adapters.documents.branding import Branding
from voltbill.domain.invoice_json import invoice_to_json
from voltbill.domain.invoices import finalise, session_invoice
from voltbill.services.invoice_documents import RenderJob, RenderProcess

SELLER = Branding(legal_name="Stromtankstelle Nord GmbH", address=("Hafenstraße 7", "20457 Hamburg"))


def job(n: int) -> RenderJob:
    cdr = make_cdr(f"CDR-{n}", "EUR", {"FLAT": ("1.00", "19"), "ENERGY": ("9.20", "19")})
    draft = session_invoice(cdr, operator_id="op", driver_id="d-7", time_zone="Europe/Berlin")
    issued = finalise(draft, f"VB-2026-{n:06d}", datetime(2026, 10, 31, 23, 30, tzinfo=UTC))
    parties = {"seller": SELLER.to_json(), "buyer": {"name": "Erika Mustermann"}}
    return RenderJob(n, invoice_to_json(issued), issued.status, parties, "en", None, None)


def children_beside(before: set[int]) -> set[int]:
    return {child.pid for child in multiprocessing.active_children() if child.pid is not None} - before


def test_pdfs_come_from_a_process_of_their_own_which_is_replaced_after_it_died() -> None:
    before = children_beside(set())
    renderer = RenderProcess()
    try:
        results = list(renderer.results([job(1), job(2)]))
        assert [invoice_id for invoice_id, _ in results] == [1, 2]
        for invoice_id, pdf in results:
            xml = facturx.get_xml_from_pdf(pdf, check_xsd=False)[1]
            assert f"VB-2026-{invoice_id:06d}".encode() in xml
        (child,) = children_beside(before)
        assert child != os.getpid()

        os.kill(child, signal.SIGKILL)
        deadline = time.monotonic() + 10
        while child in children_beside(before) and time.monotonic() < deadline:
            time.sleep(0.05)
        with pytest.raises(BrokenProcessPool):
            list(renderer.results([job(3)]))
        assert [invoice_id for invoice_id, _ in renderer.results([job(3)])] == [3]
        (replacement,) = children_beside(before)
        assert replacement != child
    finally:
        renderer.close()
    deadline = time.monotonic() + 10
    while children_beside(before) and time.monotonic() < deadline:
        time.sleep(0.05)
    assert children_beside(before) == set()
