"""``voltbill invoices ...`` through the real Typer app on a real SQLite database."""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest
from pypdf import PdfReader
from typer.testing import CliRunner

from invoice_cdrs import make_cdr
from voltbill.adapters.store.db import Database
from voltbill.adapters.store.migrate import migrate
from voltbill.cli import app
from voltbill.config import get_settings
from voltbill.domain.clock import FixedClock
from voltbill.domain.invoices import session_invoice
from voltbill.services.invoicing import issue

CUSTOM = """#let data = json(bytes(sys.inputs.data))
#set text(font: "Libertinus Serif", lang: data.lang)
= Custom layout #data.number
#data.totals.gross
"""


@pytest.fixture
def cli_db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[str]:
    url = f"sqlite:///{tmp_path / 'cli.db'}"
    monkeypatch.setenv("VOLTBILL_DATABASE_URL", url)
    monkeypatch.delenv("VOLTBILL_SMTP_URL", raising=False)
    monkeypatch.chdir(tmp_path)
    get_settings.cache_clear()
    migrate(url)
    yield url
    get_settings.cache_clear()


def run(*args: str) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, list(args))
    return result.exit_code, result.stdout, result.stderr


def seed(url: str, cdr_id: str) -> str:
    db = Database(url)
    draft = session_invoice(
        make_cdr(cdr_id, "EUR", {"ENERGY": ("4.6026", "19")}), operator_id="default", driver_id="d1"
    )
    with db.uow() as uow:
        clock = FixedClock(datetime(2026, 10, 5, tzinfo=UTC))
        number = issue(uow, draft, source_key=cdr_id, buyer={"name": "Ana"}, locale="en", clock=clock).invoice.number
    db.dispose()
    return str(number)


def test_branding_and_an_own_template_are_set_from_the_command_line(cli_db: str, tmp_path: Path) -> None:
    (tmp_path / "logo.svg").write_text('<svg xmlns="http://www.w3.org/2000/svg" width="8" height="8"/>')
    (tmp_path / "mine.typ").write_text(CUSTOM)
    code, _, err = run(
        "invoices", "template", "set", "--legal-name", "Harbour Charging BV", "--color", "#112233",
        "--prefix", "HC", "--logo", "logo.svg", "--template-file", "mine.typ", "--address", "Kade 1",
    )  # fmt: skip
    assert code == 0, err
    shown = json.loads(run("invoices", "template", "show")[1])
    assert (shown["legal_name"], shown["color"], shown["invoice_prefix"], shown["logo_type"]) == (
        "Harbour Charging BV",
        "#112233",
        "HC",
        "svg",
    )
    assert shown["address"] == ["Kade 1"]
    number = seed(cli_db, "c1")
    assert number == "HC-2026-000001"
    code, _, err = run("invoices", "pdf", number, "-o", "out.pdf")
    assert code == 0, err
    text = PdfReader(io.BytesIO((tmp_path / "out.pdf").read_bytes())).pages[0].extract_text()
    assert f"Custom layout {number}" in text and "€5.48" in text


def test_a_template_that_does_not_compile_is_refused_in_one_line(cli_db: str, tmp_path: Path) -> None:
    (tmp_path / "broken.typ").write_text("#let x = (\n")
    code, _, err = run("invoices", "template", "set", "--template-file", "broken.typ")
    assert code == 2
    assert err.startswith("error: template_source: the template does not compile")
    assert len(err.strip().splitlines()) == 1


def test_list_show_credit_and_period_errors(cli_db: str) -> None:
    number = seed(cli_db, "c1")
    code, out, _ = run("invoices", "list", "--json")
    assert code == 0 and [i["number"] for i in json.loads(out)] == [number]
    shown = json.loads(run("invoices", "show", number)[1])
    assert shown["totals"]["incl_vat"] == "5.48"
    code, out, _ = run("invoices", "credit", number)
    assert (code, out.strip()) == (0, "VBC-2026-000001")
    code, _, err = run("invoices", "credit", number)
    assert code == 1 and "cannot be credited" in err
    code, _, err = run("invoices", "run-monthly", "--period", "2026-13")
    assert code == 2 and err.startswith("error: period:")
    code, out, err = run("invoices", "run-monthly", "--period", "2026-10")
    assert code == 0, err
    assert "0 post-paid drivers, 0 statements issued" in out
