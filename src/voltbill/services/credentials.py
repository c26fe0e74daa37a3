"""Secrets: argon2 for human and charger passwords, HMAC-SHA256 for high-entropy API keys."""

from __future__ import annotations

import hashlib
import hmac
import secrets

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError

_hasher = PasswordHasher()

# Domain separation for API-key hashes. API keys are 256-bit random strings, so a fast keyed hash is enough
# (a slow KDF protects low-entropy human passwords, not random keys) and lets every request verify in microseconds.
_API_KEY_CONTEXT = b"voltbill api key v1"


def hash_password(password: str) -> str:
    """An argon2id hash of ``password`` (salted, ~50 ms)."""
    return _hasher.hash(password)


def verify_password(password_hash: str, password: str) -> bool:
    """True if ``password`` matches the argon2 ``password_hash``."""
    try:
        return _hasher.verify(password_hash, password)
    except (VerificationError, InvalidHashError):
        return False


def new_api_key() -> str:
    """A fresh random API key (``vb_`` + 43 URL-safe characters)."""
    return "vb_" + secrets.token_urlsafe(32)


def hash_api_key(key: str) -> str:
    """The stored form of an API key: hex HMAC-SHA256."""
    return hmac.new(_API_KEY_CONTEXT, key.encode(), hashlib.sha256).hexdigest()


def same_secret(a: str, b: str) -> bool:
    """Constant-time comparison of two secrets or hashes."""
    return hmac.compare_digest(a.encode(), b.encode())
