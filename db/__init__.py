"""The application database: SQLModel tables, the engine, and Alembic migrations."""
