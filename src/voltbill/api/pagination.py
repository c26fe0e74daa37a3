"""Keyset pagination: ``?limit=`` and an opaque ``?cursor=`` (the last id of the previous page)."""

from __future__ import annotations

import base64
import binascii
from typing import Annotated, Any, Generic, TypeVar

from fastapi import Query
from pydantic import BaseModel

from voltbill.domain.errors import InvalidInput

T = TypeVar("T")

Limit = Annotated[int, Query(ge=1, le=500, description="Page size (1-500).")]
Cursor = Annotated[str | None, Query(max_length=200, description="`next_cursor` of the previous page.")]


class PageOut(BaseModel, Generic[T]):
    """A list answer: ``{"items": [...], "next_cursor": ...}``; ``next_cursor`` is null on the last page."""

    items: list[T]
    next_cursor: str | None


def encode_cursor(last_id: str | None) -> str | None:
    if last_id is None:
        return None
    return base64.urlsafe_b64encode(last_id.encode()).decode().rstrip("=")


def decode_cursor(cursor: str | None) -> str | None:
    """The id after which the next page starts; a cursor not made by this API is refused by name."""
    if cursor is None:
        return None
    try:
        last_id = base64.b64decode(cursor + "=" * (-len(cursor) % 4), altchars=b"-_", validate=True).decode()
    except (binascii.Error, UnicodeDecodeError, ValueError):
        last_id = ""
    if not last_id or "\x00" in last_id:
        raise InvalidInput("cursor is not a next_cursor returned by this API.", code="invalid_cursor", field="cursor")
    return last_id


def page_body(items: list[Any], next_id: str | None) -> dict[str, Any]:
    return {"items": items, "next_cursor": encode_cursor(next_id)}
