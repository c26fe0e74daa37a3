"""ledger tables (Alembic revision 0003)."""
