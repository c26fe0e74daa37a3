"""Pure billing logic: money, tariffs, pricing, ledger rules, invoices. No I/O, no frameworks."""
