"""``voltbill analytics ...``: usage, peak hours, revenue, placement, anomalies and tariff what-if in the terminal.

Every analysis prints a Rich table on stdout and can also write ``--csv FILE`` / ``--parquet FILE``. Common
filters: ``--from``/``--to`` (ISO date or datetime; ``--to`` exclusive; without an offset they are read in each
station's local time), ``--location``. Data comes from ``VOLTBILL_DATABASE_URL``, or from a Parquet export with
``--input DIR`` (``voltbill analytics export --parquet DIR``).
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import asdict, fields, is_dataclass
from datetime import date, datetime
from decimal import Decimal
from enum import Enum
from pathlib import Path
from typing import TYPE_CHECKING, Any

import typer
from rich.console import Console
from rich.table import Table

from voltbill.cli import DEFAULT_OPERATOR_ID, app, one_line_errors, stderr
from voltbill.domain.clock import SystemClock
from voltbill.domain.errors import InvalidInput

if TYPE_CHECKING:
    from voltbill.adapters.analytics.engine import AnalyticsEngine
    from voltbill.adapters.store.db import Database
    from voltbill.services.analytics import Filters

analytics_app = typer.Typer(
    help="Usage, peaks, revenue, placement, anomalies and tariff what-if.", no_args_is_help=True
)
app.add_typer(analytics_app, name="analytics")
# Wide enough for the 24-hour heatmap when piped (Rich would assume 80 columns).
stdout = Console(width=None if sys.stdout.isatty() else 240)

FROM = typer.Option(
    None, "--from", help="Sessions starting at or after (ISO date/datetime; local time without offset)."
)
TO = typer.Option(None, "--to", help="Sessions starting before (exclusive).")
LOCATION = typer.Option(None, "--location", help="Only this location id.")
CSV = typer.Option(None, "--csv", help="Also write the rows to this CSV file.")
PARQUET = typer.Option(None, "--parquet", help="Also write the rows to this Parquet file.")
INPUT = typer.Option(None, "--input", help="Read a Parquet export directory instead of the database.")
OPERATOR = typer.Option(DEFAULT_OPERATOR_ID, "--operator", help="Operator id (default: default).")
WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")


@analytics_app.command("usage")
@one_line_errors
def usage_command(
    by: str = typer.Option("station", "--by", help="station, location, evse, day or hour."),
    start: str = FROM, end: str = TO, location: str = LOCATION, csv_file: Path = CSV, parquet_file: Path = PARQUET,
    source: Path = INPUT, operator: str = OPERATOR,
) -> None:  # fmt: skip
    """Sessions, kWh, connected vs charging hours and utilisation per station, location, EVSE, day or hour."""
    from voltbill.services import analytics as svc

    _check_choice(by, ("station", "location", "evse", "day", "hour"), "--by")
    with _engine(source, operator) as engine:
        rows = svc.usage(engine, _filters(start, end, location), by=by)  # type: ignore[arg-type]
    _output(rows, f"Usage by {by}", csv_file, parquet_file)


@analytics_app.command("peaks")
@one_line_errors
def peaks_command(
    power: bool = typer.Option(False, "--power", help="Show mean power drawn (kW) instead of sessions started."),
    start: str = FROM, end: str = TO, location: str = LOCATION, csv_file: Path = CSV, parquet_file: Path = PARQUET,
    source: Path = INPUT, operator: str = OPERATOR,
) -> None:  # fmt: skip
    """Weekday x hour heatmap in local time: sessions started, or mean power drawn with --power."""
    from voltbill.services import analytics as svc

    with _engine(source, operator) as engine:
        cells = svc.peak_hours(engine, _filters(start, end, location), per_location=location is not None)
    _write(cells, csv_file, parquet_file)
    grid = {(c.weekday, c.hour): (c.mean_power_kw if power else c.sessions) for c in cells}
    table = Table(title=("Mean power drawn (kW)" if power else "Sessions started") + " by local weekday and hour")
    table.add_column("")
    for hour in range(24):
        table.add_column(f"{hour:02d}", justify="right")
    for weekday, name in enumerate(WEEKDAYS, start=1):
        values = [grid.get((weekday, hour), 0) for hour in range(24)]
        table.add_row(name, *[f"{v:.0f}" for v in values])
    stdout.print(table)
    top = svc.busiest(cells, by="energy_kwh" if power else "sessions")
    if top is not None:
        stdout.print(f"busiest: {WEEKDAYS[top.weekday - 1]} {top.hour:02d}:00 ({top.sessions} sessions, "
                     f"{top.mean_power_kw:.1f} kW mean)")  # fmt: skip


@analytics_app.command("revenue")
@one_line_errors
def revenue_command(
    period: str = typer.Option("day", "--period", help="day, week or month."),
    by: str = typer.Option("total", "--by", help="total, location, tariff or payment_method."),
    start: str = FROM, end: str = TO, location: str = LOCATION, csv_file: Path = CSV, parquet_file: Path = PARQUET,
    source: Path = INPUT, operator: str = OPERATOR,
) -> None:  # fmt: skip
    """Revenue per period (and location, tariff or payment method), average per kWh and session, growth."""
    from voltbill.services import analytics as svc

    _check_choice(period, ("day", "week", "month"), "--period")
    _check_choice(by, ("total", "location", "tariff", "payment_method"), "--by")
    with _engine(source, operator) as engine:
        rows = svc.revenue(engine, _filters(start, end, location), period=period, by=by)  # type: ignore[arg-type]
    _output(rows, f"Revenue per {period}" + ("" if by == "total" else f" and {by}"), csv_file, parquet_file)
    totals: dict[str, list[Decimal]] = {}
    for row in rows:
        acc = totals.setdefault(row.currency, [Decimal(0), Decimal(0)])
        acc[0] += row.revenue_excl_vat
        acc[1] += row.kwh
    for currency, (excl, kwh) in sorted(totals.items()):
        stdout.print(f"total {excl} {currency} excl. VAT for {kwh} kWh")


@analytics_app.command("placement")
@one_line_errors
def placement_command(
    area: bool = typer.Option(False, "--area", help="Group locations into H3 cells (the area view)."),
    resolution: int = typer.Option(7, "--resolution", help="H3 resolution of the area view (7 is about 5 km²)."),
    queue_minutes: int = typer.Option(15, "--queue-minutes", help="A start this soon after a full site freed up "
                                      "counts as queued."),
    target: float = typer.Option(0.8, "--target-utilisation", help="Utilisation a site can sustain (0..1)."),
    start: str = FROM, end: str = TO, location: str = LOCATION, csv_file: Path = CSV, parquet_file: Path = PARQUET,
    source: Path = INPUT, operator: str = OPERATOR,
) -> None:  # fmt: skip
    """Locations (or H3 areas) ranked by demand against capacity: utilisation, queueing, refused starts."""
    from voltbill.services import analytics as svc

    if not 0 < target <= 1:
        raise InvalidInput("must be between 0 and 1", field="--target-utilisation")
    filters = _filters(start, end, location)
    with _engine(source, operator) as engine:
        ranked = svc.location_demand(engine, filters, queue_minutes=queue_minutes, target_utilisation=target)
        hours = engine.span_seconds(filters) / 3600
    if area:
        areas = svc.area_demand(ranked, resolution=resolution, target_utilisation=target, window_hours=hours)
        _output(areas, "Areas by demand (H3)", csv_file, parquet_file)
    else:
        _output(ranked, "Locations by demand", csv_file, parquet_file)


@analytics_app.command("anomalies")
@one_line_errors
def anomalies_command(
    unreviewed: bool = typer.Option(False, "--unreviewed", help="Leave out anomalies already checked or credited."),
    start: str = FROM, end: str = TO, location: str = LOCATION, csv_file: Path = CSV, parquet_file: Path = PARQUET,
    source: Path = INPUT, operator: str = OPERATOR,
) -> None:  # fmt: skip
    """Sessions that look wrong, with the reason and how to resolve each."""
    from voltbill.services import analytics as svc

    db = _database()
    try:
        with _engine(source, operator, db) as engine, db.uow() as uow:
            rows = svc.anomalies(engine, uow, operator, _filters(start, end, location), include_reviewed=not unreviewed)
    finally:
        db.dispose()
    _write(rows, csv_file, parquet_file)
    table = Table(title=f"Anomalies ({len(rows)})")
    for column in ("session", "kind", "reason", "resolution", "review"):
        table.add_column(column, overflow="fold")
    for row in rows:
        checked = ""
        if row.checked_at is not None:
            credit = f" {row.credit_note}" if row.credit_note else ""
            checked = f"{row.review_status}{credit} by {row.checked_by} {row.checked_at:%Y-%m-%d}"
        table.add_row(row.session_id, row.kind.value, row.reason, row.resolution, checked)
    stdout.print(table)


@analytics_app.command("check")
@one_line_errors
def check_command(
    session_id: str = typer.Argument(..., help="The session with the anomaly."),
    kind: str = typer.Argument(..., help="The anomaly kind, e.g. energy_meter_mismatch."),
    note: str = typer.Option(None, "--note", help="Why it is fine or what was done."),
    by: str = typer.Option("cli", "--by", help="Who checked it."),
    operator: str = OPERATOR,
) -> None:
    """Mark an anomaly as checked (idempotent)."""
    from voltbill.services import analytics as svc

    db = _database()
    try:
        with db.uow() as uow:
            review = svc.mark_checked(uow, operator, session_id, kind, reviewed_by=by, clock=SystemClock(), note=note)
    finally:
        db.dispose()
    stdout.print(f"{review.session_id} {review.kind.value}: {review.status} by {review.reviewed_by}")


@analytics_app.command("credit")
@one_line_errors
def credit_command(
    session_id: str = typer.Argument(..., help="The session with the anomaly."),
    kind: str = typer.Argument(..., help="The anomaly kind, e.g. charged_zero_energy."),
    note: str = typer.Option(None, "--note", help="Why the driver is credited."),
    by: str = typer.Option("cli", "--by", help="Who decided it."),
    operator: str = OPERATOR,
) -> None:
    """Resolve an anomaly with a credit note for the session's receipt (idempotent)."""
    from voltbill.services import analytics as svc

    db = _database()
    try:
        with db.uow() as uow:
            review = svc.credit_anomaly(uow, operator, session_id, kind, reviewed_by=by, clock=SystemClock(), note=note)
    finally:
        db.dispose()
    stdout.print(f"{review.session_id} {review.kind.value}: credited with credit note {review.credit_note}")


@analytics_app.command("whatif")
@one_line_errors
def whatif_command(
    tariff_file: Path = typer.Option(..., "--tariff", help="The proposed OCPI 2.2.1 Tariff (JSON file)."),
    days: int = typer.Option(30, "--days", help="Re-price the sessions that ended in the last N days."),
    location: str = LOCATION, csv_file: Path = CSV, parquet_file: Path = PARQUET, operator: str = OPERATOR,
) -> None:  # fmt: skip
    """Revenue of recent real sessions re-priced with a proposed tariff, against what they were billed."""
    from voltbill.domain.tariffs import parse_tariff
    from voltbill.services import analytics as svc

    try:
        data = json.loads(tariff_file.read_text(encoding="utf-8"))
    except (OSError, ValueError) as exc:
        raise InvalidInput(f"cannot read tariff {tariff_file}: {exc}", field="--tariff") from None
    tariff = parse_tariff(data)
    db = _database()
    try:
        with db.uow() as uow:
            report = svc.tariff_whatif(uow, operator, tariff, days=days, clock=SystemClock(), location_id=location)
    finally:
        db.dispose()
    title = f"Tariff {report.tariff_id} on sessions ended {report.since:%Y-%m-%d} .. {report.until:%Y-%m-%d}"
    _output(report.rows, title, csv_file, parquet_file)
    if report.skipped:
        stdout.print(f"{report.skipped} sessions skipped (another currency or not priced)")


@analytics_app.command("export")
@one_line_errors
def export_command(
    parquet_dir: Path = typer.Option(..., "--parquet", help="Directory to write <table>.parquet files into."),
    operator: str = OPERATOR,
) -> None:
    """Export the analytics input (sessions, locations, EVSEs, status events) as Parquet for large histories."""
    import pyarrow.parquet as pq

    from voltbill.services import analytics as svc

    db = _database()
    try:
        with stderr.status("exporting analytics input"), db.uow() as uow:
            written = svc.export_parquet(uow, operator, parquet_dir)
    finally:
        db.dispose()
    for path in written:
        stdout.print(f"{path} ({pq.read_metadata(path).num_rows} rows)")


# ---- helpers ----------------------------------------------------------------------------------------------------


def _database() -> Database:
    from voltbill.adapters.store.db import Database
    from voltbill.adapters.store.migrate import migrate
    from voltbill.config import get_settings

    settings = get_settings()
    migrate(settings.database_url)
    return Database(settings.database_url)


@contextmanager
def _engine(source: Path | None, operator: str, db: Database | None = None) -> Iterator[AnalyticsEngine]:
    from voltbill.services import analytics as svc

    own = db is None and source is None
    with stderr.status("loading analytics data"):
        if source is not None:
            engine = svc.open_parquet(source, SystemClock())
        else:
            database = db or _database()
            try:
                with database.uow() as uow:
                    engine = svc.open_engine(uow, operator, SystemClock())
            finally:
                if own:
                    database.dispose()
    try:
        yield engine
    finally:
        engine.close()


def _filters(start: str | None, end: str | None, location: str | None) -> Filters:
    from voltbill.services.analytics import Filters

    return Filters(start=_moment(start, "--from"), end=_moment(end, "--to"), location_id=location)


def _moment(text: str | None, option: str) -> datetime | None:
    if text is None:
        return None
    try:
        return datetime.fromisoformat(text)
    except ValueError:
        raise InvalidInput(f"{text!r} is not an ISO date or datetime (2025-06-01, 2025-06-01T08:00)",
                           field=option) from None  # fmt: skip


def _check_choice(value: str, choices: Sequence[str], option: str) -> None:
    if value not in choices:
        raise InvalidInput(f"{value!r} is not one of {', '.join(choices)}", field=option)


def _output(rows: Sequence[Any], title: str, csv_file: Path | None, parquet_file: Path | None) -> None:
    _write(rows, csv_file, parquet_file)
    table = Table(title=title)
    names = _columns(rows)
    for name in names:
        table.add_column(name, justify="left" if name in ("key", "location_id", "name", "cell") else "right")
    for row in rows:
        table.add_row(*[_text(getattr(row, name)) for name in names])
    stdout.print(table)


def _columns(rows: Sequence[Any]) -> list[str]:
    if not rows or not is_dataclass(rows[0]):
        return []
    return [f.name for f in fields(rows[0]) if f.name != "facts"]


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float):
        return f"{value:.2f}"
    if isinstance(value, Enum):
        return str(value.value)
    if isinstance(value, (datetime, date)):
        return value.isoformat()
    return str(value)


def _plain(row: Any) -> dict[str, Any]:
    """A row for files: enums as their value, nested mappings as JSON; Decimal and datetime kept exact."""
    out = {}
    for key, value in asdict(row).items():
        if isinstance(value, Enum):
            value = value.value
        elif isinstance(value, dict):
            value = json.dumps(value, default=str, sort_keys=True)
        out[key] = value
    return out


def _write(rows: Sequence[Any], csv_file: Path | None, parquet_file: Path | None) -> None:
    plain = [_plain(row) for row in rows]
    if csv_file is not None:
        with csv_file.open("w", newline="", encoding="utf-8") as handle:
            names = list(plain[0]) if plain else _columns(rows)
            writer = csv.DictWriter(handle, fieldnames=names)
            writer.writeheader()
            writer.writerows({k: "" if v is None else v for k, v in row.items()} for row in plain)
        stderr.print(f"wrote {len(plain)} rows to {csv_file}", highlight=False)
    if parquet_file is not None:
        import pyarrow as pa
        import pyarrow.parquet as pq

        pq.write_table(pa.Table.from_pylist(plain), parquet_file)
        stderr.print(f"wrote {len(plain)} rows to {parquet_file}", highlight=False)
