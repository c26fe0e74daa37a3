"""registry tables (Alembic revision 0001)."""
