"""Ledger persistence: post a transfer once per idempotency key, derive balances, lock an account.

A replayed key inserts nothing and returns the first transfer's id (``INSERT ... ON CONFLICT DO NOTHING`` on the
unique key, so two concurrent posts of one key cannot both land). Balances are sums of postings, never stored.
"""

from __future__ import annotations

import zlib
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import func, select, text
from sqlalchemy.dialects import postgresql, sqlite

from voltbill.adapters.store.db import UnitOfWork
from voltbill.adapters.store.one_of import one_of
from voltbill.adapters.store.tables.ledger import LedgerPosting, LedgerTransfer, from_units, to_units
from voltbill.adapters.store.tables.registry import Driver
from voltbill.domain.ledger import Transfer, natural_balance


@dataclass(frozen=True, slots=True)
class Posted:
    """Result of posting: the stored transfer id and whether this call created it (False on replay)."""

    transfer_id: int
    created: bool


def post_transfer(uow: UnitOfWork, transfer: Transfer, now: datetime) -> Posted:
    """Store ``transfer`` and its postings unless its key was posted before."""
    return post_transfers(uow, [transfer], now)[0]


def post_transfers(uow: UnitOfWork, transfers: Sequence[Transfer], now: datetime) -> list[Posted]:
    """Store many transfers in two statements (transfers, then postings); keys posted before are left alone.

    Returns one ``Posted`` per transfer, in order. Keys must be distinct within one call.
    """
    if not transfers:
        return []
    insert = postgresql.insert if uow.is_postgres else sqlite.insert
    stmt = (
        insert(LedgerTransfer)
        .values(
            [
                {
                    "idempotency_key": t.key,
                    "kind": t.kind,
                    "currency": t.currency,
                    "driver_id": t.driver_id,
                    "reference": t.reference,
                    "created_at": now,
                }
                for t in transfers
            ]
        )
        .on_conflict_do_nothing(index_elements=["idempotency_key"])
        .returning(LedgerTransfer.id, LedgerTransfer.idempotency_key)
    )
    created = {key: ident for ident, key in uow.session.execute(stmt)}
    postings = [
        {
            "transfer_id": created[t.key],
            "account": p.account,
            "currency": p.amount.currency,
            "amount_units": to_units(p.amount.amount),
        }
        for t in transfers
        if t.key in created
        for p in t.postings
    ]
    if postings:
        uow.session.execute(LedgerPosting.__table__.insert(), postings)
    replayed = [t.key for t in transfers if t.key not in created]
    first: dict[str, int] = {}
    if replayed:
        rows = uow.session.execute(
            select(LedgerTransfer.idempotency_key, LedgerTransfer.id).where(
                one_of(LedgerTransfer.idempotency_key, replayed)
            )
        )
        first = {key: ident for key, ident in rows}
    return [Posted(created[t.key], True) if t.key in created else Posted(first[t.key], False) for t in transfers]


def lock_accounts(uow: UnitOfWork, accounts: Iterable[tuple[str, str]]) -> None:
    """``lock_account`` for many ``(account, currency)`` pairs, in one statement and a fixed order (no deadlock)."""
    if not uow.is_postgres:
        return
    ids = sorted({zlib.crc32(f"ledger:{a}:{c}".encode()) for a, c in accounts})
    if ids:
        uow.session.execute(
            text(
                "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT unnest(CAST(:ids AS bigint[])) AS k ORDER BY k) s"
            ),
            {"ids": ids},
        )


def account_balances(uow: UnitOfWork, accounts: Iterable[tuple[str, str]]) -> dict[tuple[str, str], Decimal]:
    """Natural balances of many ``(account, currency)`` pairs in one query (zero for accounts without postings)."""
    wanted = set(accounts)
    if not wanted:
        return {}
    debit = func.coalesce(func.sum(LedgerPosting.amount_units).filter(LedgerPosting.amount_units > 0), 0)
    credit = func.coalesce(-func.sum(LedgerPosting.amount_units).filter(LedgerPosting.amount_units < 0), 0)
    rows = uow.session.execute(
        select(LedgerPosting.account, LedgerPosting.currency, debit, credit)
        .where(one_of(LedgerPosting.account, sorted({a for a, _ in wanted})))
        .group_by(LedgerPosting.account, LedgerPosting.currency)
    )
    out = {pair: Decimal(0) for pair in wanted}
    for a, c, d, k in rows:
        if (a, c) in wanted:
            out[(a, c)] = natural_balance(a, from_units(d), from_units(k))
    return out


def lock_account(uow: UnitOfWork, account: str, currency: str) -> None:
    """Serialise writers of one account until the transaction ends (wallet debits must see every earlier one).

    PostgreSQL: a transaction-level advisory lock on the account; SQLite: its single writer (BEGIN IMMEDIATE)
    already serialises every write transaction.
    """
    lock_accounts(uow, [(account, currency)])


def account_balance(uow: UnitOfWork, account: str, currency: str) -> Decimal:
    """The natural balance of ``account`` in ``currency`` (see ``domain.ledger.natural_balance``)."""
    debit, credit = uow.session.execute(
        select(
            func.coalesce(func.sum(LedgerPosting.amount_units).filter(LedgerPosting.amount_units > 0), 0),
            func.coalesce(-func.sum(LedgerPosting.amount_units).filter(LedgerPosting.amount_units < 0), 0),
        ).where(LedgerPosting.account == account, LedgerPosting.currency == currency)
    ).one()
    return natural_balance(account, from_units(debit), from_units(credit))


def trial_balance_rows(
    uow: UnitOfWork, currency: str | None = None, *, operator_id: str | None = None
) -> list[tuple[str, str, Decimal, Decimal]]:
    """``(account, currency, debit, credit)`` for every account with postings; with ``operator_id`` only the postings
    of transfers for that operator's drivers (every transfer names its driver, and each one balances on its own, so
    an operator's share balances too)."""
    debit = func.coalesce(func.sum(LedgerPosting.amount_units).filter(LedgerPosting.amount_units > 0), 0)
    credit = func.coalesce(-func.sum(LedgerPosting.amount_units).filter(LedgerPosting.amount_units < 0), 0)
    query = select(LedgerPosting.account, LedgerPosting.currency, debit, credit).group_by(
        LedgerPosting.account, LedgerPosting.currency
    )
    if currency is not None:
        query = query.where(LedgerPosting.currency == currency)
    if operator_id is not None:
        query = (
            query.join(LedgerTransfer, LedgerTransfer.id == LedgerPosting.transfer_id)
            .join(Driver, Driver.id == LedgerTransfer.driver_id)
            .where(Driver.operator_id == operator_id)
        )
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
