"""The schema the migrations build is the one the models declare: a model
changed without its migration (or the reverse) fails here, not in production."""

from alembic.autogenerate import compare_metadata
from alembic.migration import MigrationContext

from app.extensions import db

# Indexes only the migrations create: GIN indexes over an expression or with an
# operator class (trigram search, JSON paths), which the models cannot declare
# in a form autogenerate compares (migrations 0009, 0010, 0011 and 0016).
MIGRATIONS_ONLY = {"campaigns_search", "contacts_attributes", "contacts_search", "opt_outs_search", "recipients_search"}


def test_the_migrations_build_what_the_models_declare(app):
    with db.engine.connect() as connection:
        differences = compare_metadata(MigrationContext.configure(connection), db.metadata)
    unexpected = [
        difference
        for difference in differences
        if not (difference[0] == "remove_index" and difference[1].name in MIGRATIONS_ONLY)
    ]
    assert unexpected == []
