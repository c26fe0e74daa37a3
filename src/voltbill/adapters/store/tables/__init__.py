"""All table modules; importing this package registers every table on ``Base.metadata``.

One module per area, each with its own Alembic revision: ``registry`` 0001 (operators, API keys, locations,
charge points, EVSEs, drivers, tokens, tariffs), ``sessions`` 0002 (sessions, meter values, status history,
OCPP message log, CDRs), ``ledger`` 0003, ``invoices`` 0004, ``analytics`` 0005.
"""

from voltbill.adapters.store.tables import analytics, invoices, ledger, registry, sessions  # noqa: F401
