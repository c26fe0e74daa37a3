"""``voltbill price``: price one session offline (CONTRACT.md, command line)."""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import typer

from voltbill.cli import app, one_line_errors, stderr
from voltbill.domain import json_text
from voltbill.domain.errors import InvalidInput
from voltbill.domain.pricing.ocpi_json import Reader
from voltbill.domain.pricing.periods import read_session
from voltbill.domain.pricing.pricer import price_session
from voltbill.domain.pricing.report import build_cdr
from voltbill.domain.tariffs import Tariff, read_tariff, select_tariff


@app.command()
@one_line_errors
def price(
    tariff: Path = typer.Option(..., "--tariff", help="OCPI 2.2.1 Tariff JSON, or a JSON array of tariffs."),
    cdr: Path = typer.Option(..., "--cdr", help="OCPI 2.2.1 CDR JSON whose charging_periods describe the session."),
    timezone: str | None = typer.Option(
        None, "--timezone", help="IANA zone for time restrictions (default: the location's time_zone, else UTC)."
    ),
) -> None:
    """Price one session offline and print the priced OCPI 2.2.1 CDR as JSON."""
    tariff_data = _read_json(tariff)
    cdr_data = _read_json(cdr)
    documents = tariff_data if isinstance(tariff_data, list) else [tariff_data]
    if not documents:
        raise InvalidInput(f"{tariff} holds an empty array; give at least one tariff", field="$")
    tariffs = [
        _parse_one(doc, f"$[{i}]" if isinstance(tariff_data, list) else "$", tariff) for i, doc in enumerate(documents)
    ]
    session = _within(cdr, read_session, cdr_data)
    chosen = select_tariff(tariffs, session.start_date_time)
    if isinstance(cdr_data, Mapping) and cdr_data.get("currency") not in (None, chosen.currency):
        raise InvalidInput(
            f"the CDR's currency {cdr_data['currency']!r} differs from the tariff's {chosen.currency} (in {cdr})",
            field="$.currency",
        )
    zone = _zone(timezone, documents, cdr_data)
    priced = price_session(chosen, session, zone)
    extra = cdr_data if isinstance(cdr_data, Mapping) else {}
    out = build_cdr(priced, chosen, session, cdr_id=str(extra.get("id") or chosen.id or "cdr"), extra=extra)
    typer.echo(json_text.dumps(out, indent=2))


def _read_json(path: Path) -> Any:
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise InvalidInput(f"cannot read {path}: {exc.__class__.__name__}: {exc}", field=str(path)) from None
    try:
        return json.loads(text, parse_float=Decimal, parse_constant=_refuse_constant)
    except ValueError as exc:
        raise InvalidInput(f"{path} is not valid JSON: {exc}", field=str(path)) from None


def _refuse_constant(name: str) -> Any:
    raise ValueError(f"{name} is not a JSON number")


def _parse_one(data: Any, path: str, source: Path) -> Tariff:
    """Parse one tariff of ``source`` whose JSON path is ``path``; warnings go to stderr."""
    reader = Reader()
    tariff = read_tariff(data, reader, path)
    try:
        reader.raise_errors()
    except InvalidInput as exc:
        raise InvalidInput(f"{exc.message} (in {source})", field=exc.field) from None
    assert tariff is not None  # no errors means a tariff was built
    for issue in reader.issues:
        line = f"warning: {source}: {issue.path}: {issue.message}"
        stderr.print(line, markup=False, highlight=False, soft_wrap=True)
    return tariff


def _within(source: Path, read: Any, data: Any) -> Any:
    """Run ``read(data)``, naming ``source`` in the error message."""
    try:
        return read(data)
    except InvalidInput as exc:
        raise InvalidInput(f"{exc.message} (in {source})", code=exc.code, field=exc.field) from None


def _zone(name: str | None, tariffs: list[Any], cdr: Any) -> ZoneInfo:
    field = "--timezone"
    if name is None:
        name, field = _location_zone(cdr, tariffs)
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise InvalidInput(f"{name!r} is not an IANA time zone such as Europe/Amsterdam", field=field) from None


def _location_zone(cdr: Any, tariffs: list[Any]) -> tuple[str, str]:
    candidates = [("$.cdr_location.time_zone", cdr, "cdr_location"), ("$.location.time_zone", cdr, "location")]
    for path, holder, key in candidates:
        location = holder.get(key) if isinstance(holder, Mapping) else None
        if isinstance(location, Mapping) and isinstance(location.get("time_zone"), str):
            return location["time_zone"], path
    for tariff in tariffs:
        if isinstance(tariff, Mapping) and isinstance(tariff.get("time_zone"), str):
            return tariff["time_zone"], "tariff $.time_zone"
    return "UTC", "--timezone"
