"""sessions tables (Alembic revision 0002)."""
