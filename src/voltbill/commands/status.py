"""``voltbill status``: queued work not done yet (what an outage left behind), per kind, with the oldest age."""

from __future__ import annotations

import json

import typer
from rich.console import Console
from rich.table import Table

from voltbill.cli import app, one_line_errors
from voltbill.domain.clock import SystemClock


def _age(seconds: int | None) -> str:
    if seconds is None:
        return "-"
    minutes, secs = divmod(max(seconds, 0), 60)
    hours, minutes = divmod(minutes, 60)
    return f"{hours}h{minutes:02d}m" if hours else f"{minutes}m{secs:02d}s"


@app.command()
@one_line_errors
def status(
    operator: str = typer.Option(None, "--operator", help="Only this operator's work (default: all operators)."),
    as_json: bool = typer.Option(False, "--json", help="Print JSON."),
) -> None:
    """Pending captures, queued and failed e-mails, unsettled and unpriced CDRs, sessions closed by timeout."""
    from voltbill.adapters.store.db import Database
    from voltbill.adapters.store.migrate import migrate
    from voltbill.config import get_settings
    from voltbill.services.pending import pending_json, pending_work

    url = get_settings().database_url
    migrate(url)
    db = Database(url)
    try:
        with db.uow() as uow:
            report = pending_json(pending_work(uow, operator), SystemClock().now())
    finally:
        db.dispose()
    if as_json:
        typer.echo(json.dumps(report, indent=2))
        return
    table = Table("kind", "count", "oldest", "what it is", title=f"pending work: {report['total']}")
    for item in report["items"]:
        table.add_row(item["kind"], str(item["count"]), _age(item["oldest_age_s"]), item["description"])
    Console().print(table)
