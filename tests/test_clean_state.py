"""Every test and every benchmark run starts from empty tables: the list of
tables emptied is the app's models, so a new table needs no list kept."""

from sqlalchemy import text

from app.extensions import db
from devtools.tables import app_tables


def test_every_table_the_migrations_make_is_emptied(app):
    made = db.session.scalars(
        text("SELECT tablename FROM pg_tables WHERE schemaname = current_schema() AND tablename <> 'alembic_version'")
    ).all()
    assert sorted(made) == app_tables()
