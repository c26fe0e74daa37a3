"""Charger authentication (OCPP security profile 1: HTTP Basic, user = charge point id).

argon2 costs ~50 ms per check on purpose; when thousands of chargers reconnect at once that would be minutes of
CPU. A successful check is therefore remembered in process, keyed on the stored hash, so a changed password
(new hash) or an unknown password still goes through argon2.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections import OrderedDict
from dataclasses import dataclass

from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.tables.registry import ChargePoint, Operator
from voltbill.services.credentials import verify_password

_CACHE_SIZE = 100_000


class _VerifiedPasswords:
    """LRU of (charge point id -> (stored hash, keyed digest of the accepted password))."""

    def __init__(self, size: int) -> None:
        self._size = size
        self._key = secrets.token_bytes(32)  # the plain password never sits in memory, only a per-process MAC
        self._entries: OrderedDict[str, tuple[str, bytes]] = OrderedDict()
        self._lock = threading.Lock()

    def _digest(self, password: str) -> bytes:
        return hmac.new(self._key, password.encode(), hashlib.sha256).digest()

    def hit(self, cp_id: str, password_hash: str, password: str) -> bool:
        with self._lock:
            entry = self._entries.get(cp_id)
            if entry is None or entry[0] != password_hash:
                return False
            self._entries.move_to_end(cp_id)
        return hmac.compare_digest(entry[1], self._digest(password))

    def remember(self, cp_id: str, password_hash: str, password: str) -> None:
        digest = self._digest(password)
        with self._lock:
            self._entries[cp_id] = (password_hash, digest)
            self._entries.move_to_end(cp_id)
            while len(self._entries) > self._size:
                self._entries.popitem(last=False)

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()


verified_passwords = _VerifiedPasswords(_CACHE_SIZE)


@dataclass(frozen=True)
class ChargerSecret:
    """What a password check needs, read in a short transaction: the stored hash (``None``: registered without
    password) and whether its operator lets such chargers in."""

    password_hash: str | None
    allow_unauthenticated: bool


def charger_secret(uow: UnitOfWork, cp_id: str) -> ChargerSecret | None:
    """The charger's stored secret, or ``None`` for an unknown charger."""
    cp = uow.session.get(ChargePoint, cp_id)
    if cp is None:
        return None
    if cp.password_hash is not None:
        return ChargerSecret(cp.password_hash, False)
    operator = uow.session.get(Operator, cp.operator_id)
    return ChargerSecret(None, operator is not None and operator.allow_unauthenticated_chargers)


def password_accepted(cp_id: str, secret: ChargerSecret, password: str | None) -> bool:
    """The password check itself, outside any transaction (argon2 takes ~50 ms; the OCPP gateway must not hold
    a database transaction, which is SQLite's write lock, while it runs)."""
    if secret.password_hash is None:
        return password is None and secret.allow_unauthenticated
    if password is None:
        return False
    if verified_passwords.hit(cp_id, secret.password_hash, password):
        return True
    if not verify_password(secret.password_hash, password):
        return False
    verified_passwords.remember(cp_id, secret.password_hash, password)
    return True


def verify_charger_password(uow: UnitOfWork, cp_id: str, password: str | None) -> bool:
    """True if the charger may connect: registered, and the password matches its argon2 hash.

    A charger registered without a password connects without one only if its operator allows unauthenticated
    chargers; an unknown charger never connects.
    """
    secret = charger_secret(uow, cp_id)
    return secret is not None and password_accepted(cp_id, secret, password)
