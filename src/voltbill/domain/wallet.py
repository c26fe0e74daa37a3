"""Wallet rules: may a driver start, must a running session stop, is an automatic top-up due."""

from __future__ import annotations

from voltbill.domain.money import Money


def start_refusal(balance: Money, minimum: Money) -> str | None:
    """``None`` when ``balance`` covers ``minimum``, else the reason a start is refused."""
    if balance.currency == minimum.currency and minimum <= balance:
        return None
    return f"wallet balance {balance} is below the minimum {minimum} to start charging"


def must_stop(balance: Money, live_cost: Money) -> bool:
    """True when the running cost has reached what the wallet holds (stop before it would go negative)."""
    return balance <= live_cost


def auto_top_up_due(balance: Money, threshold: Money | None) -> bool:
    """True when the driver set a threshold and the balance fell below it."""
    return threshold is not None and threshold.currency == balance.currency and balance < threshold
