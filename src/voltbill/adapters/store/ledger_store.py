"""Ledger persistence: post a transfer once per idempotency key, derive balances, lock an account.

A replayed key inserts nothing and returns the first transfer's id (``INSERT ... ON CONFLICT DO NOTHING`` on the
unique key, so two concurrent posts of one key cannot both land). Balances are sums of postings, never stored.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.tables.ledger import LedgerPosting, LedgerTransfer, from_units, to_units
from voltbill.domain.ledger import Transfer, natural_balance


@dataclass(frozen=True, slots=True)
class Posted:
    """Result of posting: the stored transfer id and whether this call created it (False on replay)."""

    transfer_id: int
    created: bool


def post_transfer(uow: UnitOfWork, transfer: Transfer, now: datetime) -> Posted:
    """Store ``transfer`` and its postings unless its key was posted before."""
    insert = postgresql.insert if uow.is_postgres else sqlite.insert
    values = {
        "idempotency_key": transfer.key,
        "kind": transfer.kind,
        "currency": transfer.currency,
        "driver_id": transfer.driver_id,
        "reference": transfer.reference,
        "created_at": now,
    }
    stmt = (
        insert(LedgerTransfer)
        .values(**values)
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(LedgerTransfer.id)
    )
    new_id = uow.session.execute(stmt).scalar_one_or_none()
    if new_id is None:
        first = uow.session.execute(
            select(LedgerTransfer.id).where(LedgerTransfer.idempotency_key == transfer.key)
        ).scalar_one()
        return Posted(first, False)
    uow.session.execute(
        LedgerPosting.__table__.insert(),
        [
            {
                "transfer_id": new_id,
                "account": p.account,
                "currency": p.amount.currency,
                "amount_units": to_units(p.amount.amount),
            }
            for p in transfer.postings
        ],
    )
    return Posted(new_id, True)


def lock_account(uow: UnitOfWork, account: str, currency: str) -> None:
    """Serialise writers of one account until the transaction ends (wallet debits must see every earlier one).

    PostgreSQL: a transaction-level advisory lock on the account; SQLite: its single writer (BEGIN IMMEDIATE)
    already serialises every write transaction.
    """
    if uow.is_postgres:
        lock_id = zlib.crc32(f"ledger:{account}:{currency}".encode())
        uow.session.execute(text("SELECT pg_advisory_xact_lock(:k)"), {"k": lock_id})


def account_balance(uow: UnitOfWork, account: str, currency: str) -> Decimal:
    """The natural balance of ``account`` in ``currency`` (see ``domain.ledger.natural_balance``)."""
    debit, credit = uow.session.execute(
        select(
            func.coalesce(func.sum(LedgerPosting.amount_units).filter(LedgerPosting.amount_units > 0), 0),
            func.coalesce(-func.sum(LedgerPosting.amount_units).filter(LedgerPosting.amount_units < 0), 0),
        ).where(LedgerPosting.account == account, LedgerPosting.currency == currency)
    ).one()
    return natural_balance(account, from_units(debit), from_units(credit))


def trial_balance_rows(uow: UnitOfWork, currency: str | None = None) -> list[tuple[str, str, Decimal, Decimal]]:
    """``(account, currency, debit, credit)`` for every account with postings."""
    debit = func.coalesce(func.sum(LedgerPosting.amount_units).filter(LedgerPosting.amount_units > 0), 0)
    credit = func.coalesce(-func.sum(LedgerPosting.amount_units).filter(LedgerPosting.amount_units < 0), 0)
    query = select(LedgerPosting.account, LedgerPosting.currency, debit, credit).group_by(
        LedgerPosting.account, LedgerPosting.currency
    )
    if currency is not None:
        query = query.where(LedgerPosting.currency == currency)
    return [(a, c, from_units(d), from_units(k)) for a, c, d, k in uow.session.execute(query)]


def transfer_postings(uow: UnitOfWork, key: str) -> list[tuple[str, str, Decimal]]:
    """The postings ``(account, currency, signed amount)`` of the transfer with idempotency ``key``."""
    rows = uow.session.execute(
        select(LedgerPosting.account, LedgerPosting.currency, LedgerPosting.amount_units)
        .join(LedgerTransfer, LedgerTransfer.id == LedgerPosting.transfer_id)
        .where(LedgerTransfer.idempotency_key == key)
        .order_by(LedgerPosting.id)
    )
    return [(a, c, from_units(u)) for a, c, u in rows]
