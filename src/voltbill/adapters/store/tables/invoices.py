"""invoices tables (Alembic revision 0004)."""
