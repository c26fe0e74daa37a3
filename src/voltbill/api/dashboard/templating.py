"""Jinja2 set-up for the web pages: template folder, static URLs and the display filters (money, local time).

Money is formatted from ``Decimal`` with Babel (never via float); times are stored in UTC and shown in the zone
the page names (the station's for sessions, the operator's for totals).
"""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal
from pathlib import Path
from zoneinfo import ZoneInfo

from babel.numbers import format_currency, format_decimal
from fastapi.templating import Jinja2Templates

import voltbill

API_DIR = Path(__file__).resolve().parents[1]
TEMPLATES_DIR = API_DIR / "templates"
STATIC_DIR = API_DIR / "static"
STATIC_PREFIX = "/static"

templates = Jinja2Templates(directory=str(TEMPLATES_DIR))


def static_url(path: str) -> str:
    """URL of a file under ``api/static`` with the version as cache buster."""
    return f"{STATIC_PREFIX}/{path}?v={voltbill.__version__}"


def money(amount: Decimal | str | None, currency: str | None, locale: str = "en") -> str:
    """``12.3456 EUR`` -> ``€12.35`` for display; the stored value keeps its precision."""
    if amount is None or currency is None:
        return "—"
    return format_currency(Decimal(str(amount)), currency, locale=locale)


def number(value: Decimal | str | int | None, places: int = 2, locale: str = "en") -> str:
    """A decimal with a fixed number of places for display (``kWh``, hours)."""
    if value is None:
        return "—"
    quantum = Decimal(1).scaleb(-places)
    return format_decimal(Decimal(str(value)).quantize(quantum), format=f"#,##0.{'0' * places}", locale=locale)


def _moment(value: datetime | str) -> datetime:
    """A datetime from a datetime or an ISO 8601 string (as the JSON read models give them); naive = UTC."""
    if isinstance(value, str):
        value = datetime.fromisoformat(value.replace("Z", "+00:00"))
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def local_time(moment: datetime | str | None, tz: str | None = None, fmt: str = "%Y-%m-%d %H:%M") -> str:
    """A UTC datetime (or ISO string) shown in ``tz`` with the zone's abbreviation."""
    if moment is None:
        return "—"
    moment = _moment(moment)
    zone = ZoneInfo(tz or "UTC")
    shown = moment.astimezone(zone)
    return f"{shown.strftime(fmt)} {shown.tzname()}"


def duration(start: datetime | str | None, end: datetime | str | None) -> str:
    """``1 h 05 min`` between two datetimes (or ISO strings); ``—`` when one is missing."""
    if start is None or end is None:
        return "—"
    minutes = int((_moment(end) - _moment(start)).total_seconds() // 60)
    hours, minutes = divmod(max(minutes, 0), 60)
    return f"{hours} h {minutes:02d} min" if hours else f"{minutes} min"


templates.env.globals["static_url"] = static_url
templates.env.filters["money"] = money
templates.env.filters["number"] = number
templates.env.filters["local_time"] = local_time
templates.env.globals["duration"] = duration
