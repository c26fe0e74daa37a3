"""Reading OCPI JSON values with JSON-path error reporting. Problems are collected, not raised one by one."""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import Any, Literal

from voltbill.domain.errors import InvalidInput

_DECIMAL_TEXT = re.compile(r"-?(\d+(\.\d*)?|\.\d+)([eE][-+]?\d+)?")
# types.asciidoc, DateTime: RFC 3339 in UTC; no zone designator means UTC.
_DATETIME_TEXT = re.compile(r"\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]\d{2}:\d{2})?")
_MISSING = object()
# Bounds that keep every product and sum of pricing exact within Decimal's default 28 digits.
_MIN_MAGNITUDE = Decimal("1e-12")
_MAX_MAGNITUDE = Decimal("1e12")
# Years that leave room for time zone conversion at both ends of the calendar.
_YEARS = range(1900, 9000)


@dataclass(frozen=True, slots=True)
class TariffIssue:
    """A problem in OCPI input: ``path`` (JSON path such as ``$.elements[0].price_components[1].price``),
    ``message`` (one sentence), ``severity`` (``"error"`` refuses the input, ``"warning"`` still prices)."""

    path: str
    message: str
    severity: Literal["error", "warning"] = "error"


class Reader:
    """Reads fields of decoded JSON; each failed read records an issue and returns ``None``."""

    def __init__(self) -> None:
        self.issues: list[TariffIssue] = []

    def error(self, path: str, message: str) -> None:
        self.issues.append(TariffIssue(path, message))

    def warn(self, path: str, message: str) -> None:
        self.issues.append(TariffIssue(path, message, "warning"))

    @property
    def errors(self) -> list[TariffIssue]:
        return [issue for issue in self.issues if issue.severity == "error"]

    def raise_errors(self) -> None:
        """Raise ``InvalidInput`` naming the first error (and how many more there are)."""
        errors = self.errors
        if errors:
            first = errors[0]
            more = f" ({len(errors) - 1} more problems)" if len(errors) > 1 else ""
            raise InvalidInput(first.message + more, field=first.path)

    def get(self, obj: Mapping[str, Any], key: str, path: str, *, required: bool) -> Any:
        value = obj.get(key, _MISSING)
        if value is _MISSING or value is None:
            if required:
                self.error(f"{path}.{key}", f"{key} is required")
            return _MISSING
        return value

    def mapping(self, value: Any, path: str) -> Mapping[str, Any] | None:
        if isinstance(value, Mapping):
            return value
        self.error(path, "must be a JSON object")
        return None

    def array(self, obj: Mapping[str, Any], key: str, path: str, *, required: bool) -> Sequence[Any] | None:
        value = self.get(obj, key, path, required=required)
        if value is _MISSING:
            return None
        if isinstance(value, (list, tuple)):
            if required and not value:
                self.error(f"{path}.{key}", f"{key} must not be empty")
                return None
            return value
        self.error(f"{path}.{key}", f"{key} must be a JSON array")
        return None

    def number(
        self, obj: Mapping[str, Any], key: str, path: str, *, required: bool, non_negative: bool = True
    ) -> Decimal | None:
        value = self.get(obj, key, path, required=required)
        if value is _MISSING:
            return None
        number = to_decimal(value)
        if number is None:
            self.error(f"{path}.{key}", f"{key} must be a number, not {value!r}")
        elif number and not _MIN_MAGNITUDE <= abs(number) <= _MAX_MAGNITUDE:
            self.error(f"{path}.{key}", f"{key} {value} is out of range (1e-12 to 1e12)")
            return None
        elif non_negative and number < 0:
            self.error(f"{path}.{key}", f"{key} must not be negative")
            return None
        return number

    def integer(self, obj: Mapping[str, Any], key: str, path: str, *, required: bool) -> int | None:
        number = self.number(obj, key, path, required=required)
        if number is None:
            return None
        if number != number.to_integral_value():
            self.error(f"{path}.{key}", f"{key} must be a whole number")
            return None
        return int(number)

    def string(self, obj: Mapping[str, Any], key: str, path: str, *, required: bool) -> str | None:
        value = self.get(obj, key, path, required=required)
        if value is _MISSING:
            return None
        if not isinstance(value, str):
            self.error(f"{path}.{key}", f"{key} must be a string")
            return None
        return value

    def enum(
        self, obj: Mapping[str, Any], key: str, path: str, allowed: Sequence[str], *, required: bool
    ) -> str | None:
        value = self.string(obj, key, path, required=required)
        if value is not None and value not in allowed:
            self.error(f"{path}.{key}", f"{key} {value!r} is not one of {', '.join(allowed)}")
            return None
        return value

    def datetime(self, obj: Mapping[str, Any], key: str, path: str, *, required: bool) -> datetime | None:
        value = self.string(obj, key, path, required=required)
        if value is None:
            return None
        moment = parse_datetime(value)
        if moment is None:
            self.error(f"{path}.{key}", f"{key} {value!r} is not an OCPI DateTime such as 2015-06-29T20:39:09Z")
        return moment


def to_decimal(value: Any) -> Decimal | None:
    """A finite Decimal from a JSON number or decimal string; ``None`` for anything else (bools included)."""
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return Decimal(value)
    if isinstance(value, float):
        # json.loads without parse_float gives floats; repr is the shortest text that reads back the same.
        value = repr(value)
    if isinstance(value, Decimal):
        return value if value.is_finite() else None
    if isinstance(value, str) and _DECIMAL_TEXT.fullmatch(value):
        try:
            return Decimal(value)
        except InvalidOperation:  # pragma: no cover - the pattern admits only valid text
            return None
    return None


def parse_datetime(text: str) -> datetime | None:
    """An aware UTC datetime from OCPI DateTime text, or ``None`` if the text is not one."""
    if not _DATETIME_TEXT.fullmatch(text):
        return None
    try:
        moment = datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return None
    if moment.year not in _YEARS:
        return None
    if moment.tzinfo is None:
        return moment.replace(tzinfo=UTC)
    return moment.astimezone(UTC)


def format_datetime(moment: datetime) -> str:
    """OCPI DateTime text in UTC with a ``Z`` (fractions kept when present)."""
    text = moment.astimezone(UTC).replace(tzinfo=None).isoformat()
    return text + "Z"
