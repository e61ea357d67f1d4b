"""Finding rows by any part of a text: one rule for every search box."""


def substring_pattern(typed: str) -> str:
    """A LIKE / ILIKE pattern matching ``typed`` anywhere, its ``%``, ``_`` and
    ``\\`` taken literally (backslash is PostgreSQL's default LIKE escape).
    A trigram index (pg_trgm) serves ILIKE with it."""
    return "%" + typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"
