"""The one notion of "now": timezone-aware UTC, stored as such."""
from datetime import datetime, timezone


def utcnow() -> datetime:
    return datetime.now(timezone.utc)
