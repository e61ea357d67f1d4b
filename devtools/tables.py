"""Emptying the app's tables, between tests and before a benchmark run."""

from sqlalchemy import text

from app.extensions import db


def app_tables() -> list[str]:
    """Every table of the app's models: the schema the migrations build, but
    for alembic_version (the schema stays migrated). Read once the app is
    created, which imports every model."""
    return sorted(table.name for table in db.metadata.sorted_tables)


def empty_all(connection) -> None:
    """TRUNCATE every one of them, their ids starting again from 1.
    ``connection``: a Connection or Session, whose transaction the caller commits."""
    connection.execute(text(f"TRUNCATE {', '.join(app_tables())} RESTART IDENTITY CASCADE"))
