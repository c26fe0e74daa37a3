"""Double-entry ledger rules: accounts, balanced transfers, derived balances, the trial balance.

Every movement of money is a ``Transfer`` of two or more ``Posting`` s in one currency whose debits equal its credits.
Balances are never stored: they are the sum of an account's postings. A posting's ``amount`` is signed: positive is a
debit, negative a credit.

Accounts are strings ``kind`` or ``kind:owner`` (``wallet:drv-1``, ``clearing:stripe``, ``revenue``), each kept per
currency. The kind decides the account's normal side: an asset (receivable, debt, provider clearing, refunds given)
grows with debits, a liability or income (wallet money held for a driver, revenue, VAT payable) grows with credits.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal

from voltbill.domain.errors import InvalidInput
from voltbill.domain.money import Money, check_currency

WALLET = "wallet"
RECEIVABLE = "receivable"
DEBT = "debt"
CLEARING = "clearing"
REVENUE = "revenue"
VAT_PAYABLE = "vat_payable"
REFUNDS = "refunds"

# Kinds whose balance grows with credits (money voltbill owes or has earned).
_CREDIT_NORMAL = frozenset({WALLET, REVENUE, VAT_PAYABLE})
_KINDS = frozenset({WALLET, RECEIVABLE, DEBT, CLEARING, REVENUE, VAT_PAYABLE, REFUNDS})


def account(kind: str, owner: str | None = None) -> str:
    """The account name for ``kind`` (one of the module constants) and an optional owner (driver id, provider)."""
    if kind not in _KINDS:
        raise InvalidInput(f"unknown ledger account kind {kind!r}", field="account")
    if owner is None:
        return kind
    if not owner or ":" in owner:
        raise InvalidInput(f"ledger account owner {owner!r} must be non-empty and contain no ':'", field="account")
    return f"{kind}:{owner}"


def kind_of(account_name: str) -> str:
    """The kind part of an account name (``wallet:drv-1`` -> ``wallet``)."""
    return account_name.split(":", 1)[0]


def natural_balance(account_name: str, debit: Decimal, credit: Decimal) -> Decimal:
    """The balance as people read it: debits minus credits for assets, credits minus debits for the others."""
    return credit - debit if kind_of(account_name) in _CREDIT_NORMAL else debit - credit


@dataclass(frozen=True, slots=True)
class Posting:
    """One side of a transfer. Attributes: ``account`` (name), ``amount`` (Money; positive debit, negative credit)."""

    account: str
    amount: Money


@dataclass(frozen=True, slots=True)
class Transfer:
    """A balanced movement of money.

    Attributes: ``key`` (idempotency key; the same key is applied once), ``kind`` (``top_up``, ``settlement``,
    ``capture``, ``refund``, ``debt``, ...), ``currency``, ``postings`` (sum to zero), ``driver_id`` and
    ``reference`` (session, CDR or payment id) for look-ups.
    """

    key: str
    kind: str
    currency: str
    postings: tuple[Posting, ...]
    driver_id: str | None = None
    reference: str | None = None

    def amount(self) -> Decimal:
        """The transfer's size: the sum of its debits."""
        return sum((p.amount.amount for p in self.postings if p.amount.amount > 0), Decimal(0))


def make_transfer(
    key: str,
    kind: str,
    *,
    debits: Sequence[tuple[str, Money]],
    credits: Sequence[tuple[str, Money]],
    driver_id: str | None = None,
    reference: str | None = None,
) -> Transfer:
    """Build a transfer from positive debit and credit amounts; zero amounts are dropped.

    Raises ``InvalidInput`` when an amount is negative, currencies differ, or debits and credits do not balance.
    """
    if not key:
        raise InvalidInput("a transfer needs an idempotency key", field="idempotency_key")
    legs = [(name, money, 1) for name, money in debits] + [(name, money, -1) for name, money in credits]
    if not legs:
        raise InvalidInput("a transfer needs postings", field="postings")
    currency = check_currency(legs[0][1].currency)
    postings: list[Posting] = []
    for name, money, sign in legs:
        kind_of_account = kind_of(name)
        if kind_of_account not in _KINDS:
            raise InvalidInput(f"unknown ledger account {name!r}", field="account")
        if money.currency != currency:
            raise InvalidInput(f"a transfer is in one currency, got {currency} and {money.currency}", field="currency")
        if money.amount < 0:
            raise InvalidInput(f"posting amounts are positive, got {money} on {name}", field="amount")
        if money.amount:
            postings.append(Posting(name, Money(money.amount * sign, currency)))
    total = sum((p.amount.amount for p in postings), Decimal(0))
    if total != 0:
        raise InvalidInput(f"debits and credits differ by {total} {currency}", field="postings")
    if not postings:
        raise InvalidInput("a transfer moves a non-zero amount", field="amount")
    return Transfer(key, kind, currency, tuple(postings), driver_id, reference)


@dataclass(frozen=True, slots=True)
class AccountBalance:
    """One row of the trial balance. ``debit``/``credit`` are totals, ``balance`` is ``natural_balance``."""

    account: str
    currency: str
    debit: Decimal
    credit: Decimal

    @property
    def balance(self) -> Decimal:
        return natural_balance(self.account, self.debit, self.credit)


@dataclass(frozen=True, slots=True)
class TrialBalance:
    """All accounts with their debit and credit totals; ``balanced`` when debits equal credits per currency."""

    accounts: tuple[AccountBalance, ...]

    @property
    def balanced(self) -> bool:
        per_currency: dict[str, Decimal] = defaultdict(Decimal)
        for row in self.accounts:
            per_currency[row.currency] += row.debit - row.credit
        return all(v == 0 for v in per_currency.values())


def trial_balance(rows: Iterable[tuple[str, str, Decimal, Decimal]]) -> TrialBalance:
    """A trial balance from ``(account, currency, debit, credit)`` rows, sorted by currency then account."""
    accounts = sorted((AccountBalance(a, c, d, k) for a, c, d, k in rows), key=lambda r: (r.currency, r.account))
    return TrialBalance(tuple(accounts))


class Ledger:
    """An in-memory ledger with the same rules as the store: one application per key, derived balances."""

    def __init__(self) -> None:
        self._transfers: dict[str, Transfer] = {}
        self._totals: dict[tuple[str, str], list[Decimal]] = defaultdict(lambda: [Decimal(0), Decimal(0)])

    def post(self, transfer: Transfer) -> Transfer:
        """Apply ``transfer`` once; a replayed key returns the first transfer and changes nothing."""
        first = self._transfers.get(transfer.key)
        if first is not None:
            return first
        self._transfers[transfer.key] = transfer
        for p in transfer.postings:
            totals = self._totals[(p.account, p.amount.currency)]
            if p.amount.amount > 0:
                totals[0] += p.amount.amount
            else:
                totals[1] -= p.amount.amount
        return transfer

    def balance(self, account_name: str, currency: str) -> Decimal:
        debit, credit = self._totals.get((account_name, currency), (Decimal(0), Decimal(0)))
        return natural_balance(account_name, debit, credit)

    def transfers(self) -> Mapping[str, Transfer]:
        return dict(self._transfers)

    def trial_balance(self) -> TrialBalance:
        return trial_balance((a, c, d, k) for (a, c), (d, k) in self._totals.items())
