"""Idempotency keys: one function makes them all, so the same input always gives the same key."""

from __future__ import annotations

import hashlib

KEY_VERSION = "v1"  # changing it changes every key: that is a migration


def idempotency_key(action: str, **parts: object) -> str:
    """A stable key for ``action`` with ``parts`` (order-independent), e.g. ``("capture", session_id=...)``."""
    text = "|".join([KEY_VERSION, action, *(f"{k}={parts[k]}" for k in sorted(parts))])
    return f"{action}-{hashlib.sha256(text.encode()).hexdigest()[:32]}"
