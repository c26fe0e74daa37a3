"""JSON text with exact decimals: a ``Decimal`` is written as a JSON number with its own digits (``12.3450``, never
through a binary float), and JSON numbers with a fraction or exponent are read back as ``Decimal``.

OCPI 2.2.1 types.asciidoc, number: numbers are JSON numbers. The standard ``json`` module cannot write a Decimal as
a number, so ``dumps`` walks containers itself and leaves strings, integers and literals to ``json``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from decimal import Decimal
from typing import Any


def dumps(value: Any, *, indent: int | None = None, sort_keys: bool = False) -> str:
    """``value`` as JSON text; compact without ``indent``, else laid out as ``json.dumps(..., indent=indent)``."""
    out: list[str] = []
    _write(value, out, indent, sort_keys, "\n")
    return "".join(out)


def loads(text: str | bytes) -> Any:
    """Decoded JSON with every non-integer number as an exact ``Decimal``."""
    return json.loads(text, parse_float=Decimal)


def _write(value: Any, out: list[str], indent: int | None, sort_keys: bool, newline: str) -> None:
    if isinstance(value, Decimal):
        if not value.is_finite():
            raise ValueError(f"{value} is not a JSON number")
        out.append(format(value, "f"))
    elif isinstance(value, Mapping):
        items = sorted(value.items()) if sort_keys else list(value.items())
        _container("{", "}", [(_key(k), v) for k, v in items], out, indent, sort_keys, newline)
    elif isinstance(value, (list, tuple)):
        _container("[", "]", [(None, v) for v in value], out, indent, sort_keys, newline)
    else:
        out.append(json.dumps(value, ensure_ascii=False, allow_nan=False))


def _container(
    opening: str,
    closing: str,
    entries: list[tuple[str | None, Any]],
    out: list[str],
    indent: int | None,
    sort_keys: bool,
    newline: str,
) -> None:
    if not entries:
        out.append(opening + closing)
        return
    inner = newline + " " * indent if indent is not None else ""
    out.append(opening)
    for i, (key, item) in enumerate(entries):
        out.append(("," if i else "") + inner)
        if key is not None:
            out.append(key + (": " if indent is not None else ":"))
        _write(item, out, indent, sort_keys, inner)
    out.append((newline if indent is not None else "") + closing)


def _key(key: Any) -> str:
    """A member name as JSON text; non-string keys become strings as ``json.dumps`` makes them."""
    text = key if isinstance(key, str) else json.dumps(key, allow_nan=False)
    return json.dumps(text, ensure_ascii=False)
