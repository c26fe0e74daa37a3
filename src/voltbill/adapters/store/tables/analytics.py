"""analytics tables (Alembic revision 0005)."""
