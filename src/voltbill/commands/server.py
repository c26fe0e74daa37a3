"""``voltbill serve``, ``migrate``, ``backup``, ``restore``, ``users create``, ``operators create|api-key``."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import typer

from voltbill.cli import DEFAULT_OPERATOR_ID, app, one_line_errors
from voltbill.domain.clock import SystemClock

if TYPE_CHECKING:
    from voltbill.adapters.store.db import Database


@app.command()
@one_line_errors
def serve(
    host: str = typer.Option(None, "--host", help="Interface to listen on (default 127.0.0.1)."),
    port: int = typer.Option(None, "--port", help="TCP port (default 8180)."),
) -> None:
    """Run the server: OCPP endpoint, REST API and web pages. Migrates the database first."""
    import uvicorn

    from voltbill.adapters.ocpp.server import websocket_options
    from voltbill.api.app import create_app
    from voltbill.config import get_settings

    settings = get_settings()
    application = create_app(settings)
    uvicorn.run(
        application,
        host=host or settings.host,
        port=port or settings.port,
        proxy_headers=True,
        **websocket_options(settings),
    )


@app.command()
@one_line_errors
def migrate() -> None:
    """Apply database migrations to VOLTBILL_DATABASE_URL (default ./voltbill.db)."""
    from voltbill.adapters.store.migrate import migrate as run_migrations
    from voltbill.config import get_settings

    settings = get_settings()
    run_migrations(settings.database_url)
    typer.echo(f"database is up to date: {_safe(settings.database_url)}", err=True)


def _safe(url: str) -> str:
    from sqlalchemy.engine import make_url

    return make_url(url).render_as_string(hide_password=True)


users_app = typer.Typer(help="Web users who sign in to the dashboard and driver pages.", no_args_is_help=True)
operators_app = typer.Typer(help="Operators (tenants) and their API keys.", no_args_is_help=True)
app.add_typer(users_app, name="users")
app.add_typer(operators_app, name="operators")


def _database() -> Database:
    """The configured database, migrated and with its default operator (as ``serve`` leaves it)."""
    from voltbill.adapters.store.db import Database
    from voltbill.adapters.store.migrate import migrate as run_migrations
    from voltbill.config import get_settings
    from voltbill.services.access import bootstrap

    settings = get_settings()
    run_migrations(settings.database_url)
    db = Database(settings.database_url)
    with db.uow() as uow:
        bootstrap(uow, settings, clock=SystemClock())
    return db


@users_app.command("create")
@one_line_errors
def create_user_command(
    email: str = typer.Option(..., "--email", help="Sign-in e-mail."),
    role: str = typer.Option(..., "--role", help="operator_admin, operator_staff or driver."),
    driver_id: str = typer.Option(None, "--driver-id", help="The driver record a driver user sees."),
    operator: str = typer.Option(DEFAULT_OPERATOR_ID, "--operator", help="Operator id (default: default)."),
    password: str = typer.Option(None, "--password", help="Password (prompted when omitted)."),
) -> None:
    """Create a web user; the password is asked for unless --password is given."""
    from voltbill.services.users import create_user

    if password is None:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    db = _database()
    try:
        with db.uow() as uow:
            user = create_user(
                uow,
                email=email,
                password=password,
                role=role,
                operator_id=operator,
                driver_id=driver_id,
                clock=SystemClock(),
            )
    finally:
        db.dispose()
    typer.echo(f"created user {user.email} ({user.role}) of operator {user.operator_id}")


@operators_app.command("create")
@one_line_errors
def create_operator_command(
    operator_id: str = typer.Argument(..., help="Short id, e.g. acme."),
    name: str = typer.Option(None, "--name", help="Display name."),
    time_zone: str = typer.Option("UTC", "--time-zone", help="IANA zone for invoices and reports."),
) -> None:
    """Create an operator (tenant); safe to rerun."""
    from voltbill.services.access import ensure_operator

    db = _database()
    try:
        with db.uow() as uow:
            ensure_operator(uow, operator_id, clock=SystemClock(), name=name, time_zone=time_zone)
    finally:
        db.dispose()
    typer.echo(f"operator {operator_id} is ready")


@operators_app.command("api-key")
@one_line_errors
def create_api_key_command(
    operator_id: str = typer.Argument(DEFAULT_OPERATOR_ID, help="Operator id."),
    role: str = typer.Option("admin", "--role", help="admin (read/write) or staff (read only)."),
    name: str = typer.Option("cli", "--name", help="What the key is for."),
) -> None:
    """Create an API key and print it once on stdout (only its hash is stored)."""
    from voltbill.services.access import create_api_key

    db = _database()
    try:
        with db.uow() as uow:
            info, key = create_api_key(uow, operator_id, clock=SystemClock(), role=role, name=name)
    finally:
        db.dispose()
    typer.echo(f"created {info.role} key {info.id} for operator {info.operator_id}", err=True)
    typer.echo(key)


@app.command()
@one_line_errors
def backup(to: Path = typer.Option(..., "--to", help="Backup file to write.")) -> None:
    """Back up the database (SQLite: online, safe while serving; PostgreSQL: pg_dump custom format)."""
    from voltbill.adapters.store import backup as store_backup
    from voltbill.config import get_settings

    settings = get_settings()
    store_backup.backup(settings.database_url, to)
    typer.echo(f"backed up {_safe(settings.database_url)} to {to}", err=True)


@app.command()
@one_line_errors
def restore(from_: Path = typer.Option(..., "--from", help="Backup file made by voltbill backup.")) -> None:
    """Replace the database with a backup (stop the server first). PostgreSQL: pg_restore --clean."""
    from voltbill.adapters.store import backup as store_backup
    from voltbill.config import get_settings

    settings = get_settings()
    store_backup.restore(settings.database_url, from_)
    typer.echo(f"restored {_safe(settings.database_url)} from {from_}", err=True)
