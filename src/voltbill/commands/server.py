"""``voltbill serve`` and ``voltbill migrate``: run the server, bring the database schema up to date."""

from __future__ import annotations

import typer

from voltbill.adapters.store.migrate import migrate as run_migrations
from voltbill.cli import app, one_line_errors
from voltbill.config import get_settings


@app.command()
@one_line_errors
def serve(
    host: str = typer.Option(None, "--host", help="Interface to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="TCP port (default 8180)."),
) -> None:
    """Run the server: OCPP endpoint, REST API and web pages. Migrates the database first."""
    import uvicorn

    from voltbill.api.app import create_app

    settings = get_settings()
    application = create_app(settings)
    uvicorn.run(application, host=host or settings.host, port=port or settings.port, proxy_headers=True)


@app.command()
@one_line_errors
def migrate() -> None:
    """Apply database migrations to VOLTBILL_DATABASE_URL (default ./voltbill.db)."""
    settings = get_settings()
    run_migrations(settings.database_url)
    typer.echo(f"database is up to date: {_safe(settings.database_url)}", err=True)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)
