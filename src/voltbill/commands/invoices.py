"""``voltbill invoices list|show|pdf|resend|credit|void|catch-up|run-monthly|template``."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import TYPE_CHECKING

import typer
from rich.console import Console
from rich.table import Table

from voltbill.cli import DEFAULT_OPERATOR_ID, app, fail, one_line_errors
from voltbill.domain.clock import SystemClock
from voltbill.domain.invoice_json import invoice_to_json

if TYPE_CHECKING:
    from rich.progress import Progress

    from voltbill.adapters.store.db import Database

invoices_app = typer.Typer(help="Invoices, receipts, monthly statements and credit notes.", no_args_is_help=True)
template_app = typer.Typer(help="The operator's invoice branding and template.", no_args_is_help=True)
invoices_app.add_typer(template_app, name="template")
app.add_typer(invoices_app, name="invoices")

out = Console()
err = Console(stderr=True)
OperatorOpt = typer.Option(DEFAULT_OPERATOR_ID, "--operator", help="Operator id.")
JsonOpt = typer.Option(False, "--json", help="Print JSON.")


def _db() -> Database:
    from voltbill.adapters.store.db import Database
    from voltbill.adapters.store.migrate import migrate
    from voltbill.config import get_settings

    url = get_settings().database_url
    migrate(url)
    return Database(url)


def _progress() -> Progress:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeElapsedColumn

    return Progress(
        TextColumn("{task.description}"), BarColumn(), MofNCompleteColumn(), TimeElapsedColumn(), console=err
    )


@invoices_app.command("list")
@one_line_errors
def list_(
    driver: str = typer.Option(None, "--driver", help="Only this driver's invoices."),
    limit: int = typer.Option(50, "--limit", min=1, max=500),
    operator: str = OperatorOpt,
    as_json: bool = JsonOpt,
) -> None:
    """Issued documents, newest first."""
    from voltbill.services import invoicing

    with _db().uow() as uow:
        items, _ = invoicing.list_invoices(uow, operator, driver_id=driver, limit=limit)
    if as_json:
        typer.echo(json.dumps([invoice_to_json(i) for i in items], indent=2))
        return
    table = Table("number", "kind", "status", "driver", "issued", "total", "currency")
    for i in items:
        issued = i.issued_at.date().isoformat() if i.issued_at else ""
        table.add_row(i.number, i.kind, i.status, i.driver_id or "", issued, str(i.gross_total), i.currency)
    out.print(table)


@invoices_app.command("show")
@one_line_errors
def show(number: str, operator: str = OperatorOpt) -> None:
    """One invoice as JSON: lines, VAT breakdown, totals, status, CDRs."""
    from voltbill.services import invoicing

    with _db().uow() as uow:
        typer.echo(json.dumps(invoice_to_json(invoicing.get_invoice(uow, operator, number)), indent=2))


@invoices_app.command("pdf")
@one_line_errors
def pdf(
    number: str,
    output: Path = typer.Option(None, "--output", "-o", help="File to write (default NUMBER.pdf)."),
    operator: str = OperatorOpt,
) -> None:
    """Write the invoice PDF (with its embedded Factur-X XML)."""
    from voltbill.services import invoicing

    target = output or Path(f"{number}.pdf")
    target.write_bytes(invoicing.invoice_pdf(_db(), operator, number, clock=SystemClock()))
    typer.echo(str(target))


@invoices_app.command("resend")
@one_line_errors
def resend(
    number: str,
    to: str = typer.Option(None, "--to", help="Send to this address instead of the driver's."),
    operator: str = OperatorOpt,
) -> None:
    """Send the invoice e-mail (again) now; queued for the server's retries if SMTP is unreachable."""
    from voltbill.config import get_settings
    from voltbill.services import outbox

    db, clock = _db(), SystemClock()
    with db.uow() as uow:
        message_id = outbox.resend(uow, operator, number, clock=clock, to=to)
    settings = get_settings()
    if not settings.smtp_url:
        raise fail("VOLTBILL_SMTP_URL is not set; the e-mail stays queued until a server with SMTP sends it")
    run = outbox.process_outbox(db, clock, settings.smtp_url, timeout_s=settings.smtp_timeout_s)
    typer.echo(f"{message_id}: {'sent' if run.sent else 'queued for retry'}")


@invoices_app.command("credit")
@one_line_errors
def credit(number: str, operator: str = OperatorOpt) -> None:
    """Issue a credit note cancelling an issued invoice in full."""
    from voltbill.services import invoicing

    with _db().uow() as uow:
        typer.echo(invoicing.credit_invoice(uow, operator, number, clock=SystemClock()).invoice.number)


@invoices_app.command("void")
@one_line_errors
def void(number: str, operator: str = OperatorOpt) -> None:
    """Void an issued invoice that has not been sent (it keeps its number)."""
    from voltbill.services import invoicing

    with _db().uow() as uow:
        typer.echo(f"{invoicing.void_invoice(uow, operator, number).number} void")


@invoices_app.command("catch-up")
@one_line_errors
def catch_up() -> None:
    """Issue invoices/receipts for settled sessions that have none, render missing PDFs, send due e-mail."""
    from voltbill.config import get_settings
    from voltbill.services import outbox
    from voltbill.services.invoice_documents import render_pending
    from voltbill.services.invoice_runs import catch_up as run_catch_up

    db, clock = _db(), SystemClock()
    issued = run_catch_up(db, clock, limit=100_000)
    rendered = render_pending(db, clock, limit=100_000, processes=os.cpu_count() or 1)
    settings = get_settings()
    sent = outbox.process_outbox(db, clock, settings.smtp_url, limit=100_000, timeout_s=settings.smtp_timeout_s).sent
    with db.uow() as uow:
        queue = ", ".join(f"{n} {status}" for status, n in sorted(outbox.outbox_counts(uow).items())) or "empty"
    typer.echo(f"issued {issued}, rendered {rendered}, e-mailed {sent}; e-mail outbox: {queue}")


@invoices_app.command("run-monthly")
@one_line_errors
def run_monthly(
    period: str = typer.Option(..., "--period", help="Month to bill, YYYY-MM (operator's time zone)."),
    operator: str = typer.Option(None, "--operator", help="Only this operator (default: all)."),
    processes: int = typer.Option(os.cpu_count() or 1, "--processes", min=1, help="PDF rendering processes."),
) -> None:
    """Issue the monthly statements of post-paid drivers, render their PDFs and e-mail them. Safe to rerun."""
    from voltbill.config import get_settings
    from voltbill.services import invoicing, outbox
    from voltbill.services.invoice_documents import render_pending, rows_without_pdf
    from voltbill.services.invoice_runs import post_paid_drivers
    from voltbill.services.invoice_runs import run_monthly as run

    invoicing.check_period(period)
    db, clock = _db(), SystemClock()
    with _progress() as bar:
        task = bar.add_task(f"statements {period}", total=len(post_paid_drivers(db, operator)))
        result = run(db, period, clock=clock, operator_id=operator, progress=lambda n: bar.advance(task, n))
        with db.uow() as uow:
            pending = len(rows_without_pdf(uow, 1_000_000))
        task = bar.add_task("PDFs", total=pending)
        render_pending(db, clock, limit=1_000_000, processes=processes, progress=lambda n: bar.advance(task, n))
    settings = get_settings()
    sent = outbox.process_outbox(db, clock, settings.smtp_url, limit=1_000_000, timeout_s=settings.smtp_timeout_s).sent
    typer.echo(
        f"{period}: {result.drivers} post-paid drivers, {len(result.issued)} statements issued, "
        f"{len(result.existing)} already issued, {sent} e-mailed"
    )


@template_app.command("show")
@one_line_errors
def template_show(operator: str = OperatorOpt) -> None:
    """Print the branding as JSON."""
    from voltbill.services import invoicing

    with _db().uow() as uow:
        branding, logo, kind = invoicing.get_branding(uow, operator)
    shown = {**branding.to_json(), "logo_type": kind, "has_logo": logo is not None}
    shown["template_source"] = f"{len(branding.template_source)} characters" if branding.template_source else ""
    typer.echo(json.dumps(shown, indent=2))


@template_app.command("set")
@one_line_errors
def template_set(
    operator: str = OperatorOpt,
    logo: Path = typer.Option(None, "--logo", exists=True, dir_okay=False, help="PNG, JPEG or SVG logo."),
    color: str = typer.Option(None, "--color", help="Brand colour, e.g. #0b6e4f."),
    legal_name: str = typer.Option(None, "--legal-name"),
    address: list[str] = typer.Option(None, "--address", help="One address line; repeat for more."),
    country: str = typer.Option(None, "--country", help="ISO 3166-1 alpha-2 (e-invoice seller country)."),
    vat_id: str = typer.Option(None, "--vat-id"),
    footer: str = typer.Option(None, "--footer"),
    prefix: str = typer.Option(None, "--prefix", help="Invoice number prefix (PREFIX-YYYY-000123)."),
    email_from: str = typer.Option(None, "--email-from"),
    template: str = typer.Option(None, "--template", help="Typst template file under adapters/documents/templates."),
    template_file: Path = typer.Option(
        None, "--template-file", exists=True, dir_okay=False, help="Your own Typst template (stored per operator)."
    ),
) -> None:
    """Change branding fields; only the options given change."""
    from voltbill.services import invoicing

    changes = {
        "color": color,
        "legal_name": legal_name,
        "address": address or None,
        "country": country,
        "vat_id": vat_id,
        "footer": footer,
        "invoice_prefix": prefix,
        "email_from": email_from,
        "template": template,
        "template_source": template_file.read_text() if template_file else None,
    }
    with _db().uow() as uow:
        invoicing.set_branding(
            uow,
            operator,
            {k: v for k, v in changes.items() if v is not None},
            clock=SystemClock(),
            logo=logo.read_bytes() if logo else None,
        )
    typer.echo(f"branding of {operator} updated: {', '.join(sorted(k for k, v in changes.items() if v)) or 'logo'}")
