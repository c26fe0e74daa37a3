"""People who sign in to the web pages: operator admins and staff, and drivers (linked to their driver record)."""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from functools import cache

from sqlalchemy import select
from sqlalchemy.exc import IntegrityError

from voltbill.adapters.store.db import Database, UnitOfWork
from voltbill.adapters.store.tables.registry import Driver, Operator, User
from voltbill.domain.clock import Clock
from voltbill.domain.errors import Conflict, InvalidInput, NotFound
from voltbill.services.credentials import hash_password, verify_password

USER_ROLES = ("operator_admin", "operator_staff", "driver")
MIN_PASSWORD_LENGTH = 10


@cache
def _dummy_hash() -> str:
    """Verified against when the e-mail is unknown, so a wrong e-mail costs as long as a wrong password."""
    return hash_password("voltbill-no-such-user")


@dataclass(frozen=True)
class UserInfo:
    """``stamp`` changes whenever the password does, which ends sessions signed before the change."""

    id: int
    operator_id: str
    email: str
    role: str
    driver_id: str | None
    stamp: str


def _info(user: User) -> UserInfo:
    stamp = hashlib.sha256(user.password_hash.encode()).hexdigest()[:16]
    return UserInfo(user.id, user.operator_id, user.email, user.role, user.driver_id, stamp)


def create_user(
    uow: UnitOfWork,
    *,
    email: str,
    password: str,
    role: str,
    clock: Clock,
    operator_id: str = "default",
    driver_id: str | None = None,
) -> UserInfo:
    """Create a web user. Drivers must name their driver record (of the same operator); others must not."""
    email = email.strip().lower()
    if "@" not in email or len(email) > 320 or "\x00" in email:
        raise InvalidInput(f"{email!r} is not an e-mail address.", field="email")
    if role not in USER_ROLES:
        raise InvalidInput(f"role must be one of {', '.join(USER_ROLES)}.", field="role")
    if len(password) < MIN_PASSWORD_LENGTH:
        raise InvalidInput(f"the password needs at least {MIN_PASSWORD_LENGTH} characters.", field="password")
    if uow.session.get(Operator, operator_id) is None:
        raise NotFound(f"operator {operator_id} does not exist.", code="operator_not_found", field="operator_id")
    if role == "driver":
        driver = uow.session.get(Driver, driver_id) if driver_id else None
        if driver is None or driver.operator_id != operator_id:
            raise InvalidInput("a driver user needs the id of a registered driver (--driver-id).", field="driver_id")
    elif driver_id is not None:
        raise InvalidInput("only driver users are linked to a driver.", field="driver_id")
    if uow.session.scalars(select(User.id).where(User.email == email)).first() is not None:
        raise Conflict(f"a user with e-mail {email} exists already.", code="user_exists", field="email")
    user = User(
        operator_id=operator_id,
        email=email,
        password_hash=hash_password(password),
        role=role,
        driver_id=driver_id,
        created_at=clock.now(),
    )
    uow.session.add(user)
    try:
        uow.commit()
    except IntegrityError as exc:
        uow.rollback()
        raise Conflict(f"a user with e-mail {email} exists already.", code="user_exists", field="email") from exc
    return _info(user)


def authenticate_user(db: Database, email: str, password: str) -> UserInfo | None:
    """The user with this e-mail and password, or ``None`` (same cost whether or not the e-mail exists).

    The row is read in a short transaction and argon2 (~50 ms) runs after it, so sign-ins never hold a
    transaction (on SQLite, the write lock) open.
    """
    email = email.strip().lower()
    with db.uow() as uow:
        user = None if "\x00" in email else uow.session.scalars(select(User).where(User.email == email)).one_or_none()
        info = _info(user) if user is not None else None
        stored = user.password_hash if user is not None else _dummy_hash()
    accepted = verify_password(stored, password)
    return info if accepted and info is not None else None


def get_user(uow: UnitOfWork, user_id: int) -> UserInfo | None:
    user = uow.session.get(User, user_id)
    return _info(user) if user is not None else None
