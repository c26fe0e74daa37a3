"""The sandbox gateway remembers its most recent requests only: a demo server runs for days."""

from __future__ import annotations

from voltbill.adapters.payments.sandbox import SandboxGateway
from voltbill.domain.money import Money


def test_the_sandbox_keeps_its_last_thousand_requests() -> None:
    gateway = SandboxGateway()
    for n in range(SandboxGateway.CALLS_KEPT + 500):
        gateway.capture(f"pi_sbx_{n}_EUR5000", Money.of("12.05", "EUR"), key=f"capture-{n}")
    assert len(gateway.calls) == SandboxGateway.CALLS_KEPT
    assert [c[1] for c in (gateway.calls[0], gateway.calls[-1])] == ["capture-500", "capture-1499"]
