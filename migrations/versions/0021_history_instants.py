"""The history keeps the time a change speaks of as an instant

Revision ID: 0021
Revises: 0020
Create Date: 2026-12-05 12:00:00

"Scheduled … to start at 15 Jan 2030, 10:00 EAT" was written as text in the
zone of whoever scheduled it, so a reader in London read Nairobi's time among
times in their own. ``about_at`` keeps the instant, and the page shows it in
each reader's zone; the detail keeps the words before it ("to start at").

Rows written before are read back from their text where the zone they name is
certain: UTC, a zone named with its key ("+04 Asia/Dubai"), or an
abbreviation that the zone of the person who scheduled it (else
DEFAULT_TIMEZONE) gives at that date. Any other row stays as it was written.
"""

import re
from datetime import datetime
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import sqlalchemy as sa
from alembic import op
from flask import current_app

revision = "0021"
down_revision = "0020"
branch_labels = None
depends_on = None

WRITTEN = re.compile(r"to start at (\d{1,2} [A-Z][a-z]{2} \d{4}, \d{2}:\d{2}) (.+)")


def _zone(name: str | None) -> ZoneInfo | None:
    try:
        return ZoneInfo(name) if name else None
    except (ZoneInfoNotFoundError, ValueError):
        return None


def _named(local: datetime) -> str:
    """How app.formatting.zone_name named the zone when the row was written."""
    abbreviation = local.tzname() or ""
    key = getattr(local.tzinfo, "key", None)
    if key and (not abbreviation or abbreviation[0] in "+-"):
        return f"{abbreviation} {key}".strip()
    return abbreviation or "UTC"


def _instant(detail: str, actor_zone: str | None) -> datetime | None:
    """The instant a row's text names, when its zone is certain; else None."""
    found = WRITTEN.fullmatch(detail)
    if found is None:
        return None
    try:
        wall = datetime.strptime(found.group(1), "%d %b %Y, %H:%M")
    except ValueError:
        return None
    said = found.group(2)
    candidates = [_zone(said.split(" ", 1)[1])] if " " in said else []
    candidates += [_zone("UTC"), _zone(actor_zone), _zone(current_app.config.get("DEFAULT_TIMEZONE"))]
    for zone in candidates:
        if zone is not None and _named(wall.replace(tzinfo=zone)) == said:
            return wall.replace(tzinfo=zone)
    return None


def upgrade():
    op.add_column("audit_events", sa.Column("about_at", sa.DateTime(timezone=True), nullable=True))
    bind = op.get_bind()
    rows = bind.execute(
        sa.text(
            "SELECT audit_events.id, audit_events.detail, users.timezone FROM audit_events "
            "LEFT JOIN users ON users.id = audit_events.actor_id "
            "WHERE audit_events.action IN ('campaign.scheduled', 'campaign.rescheduled') "
            "AND audit_events.detail LIKE 'to start at %'"
        )
    ).all()
    for event_id, detail, actor_zone in rows:
        if (instant := _instant(detail, actor_zone)) is not None:
            bind.execute(
                sa.text("UPDATE audit_events SET detail = 'to start at', about_at = :at WHERE id = :id"),
                {"at": instant, "id": event_id},
            )


def downgrade():
    op.execute(
        "UPDATE audit_events SET detail = detail || ' ' || "
        "to_char(about_at AT TIME ZONE 'UTC', 'FMDD Mon YYYY, HH24:MI') || ' UTC' WHERE about_at IS NOT NULL"
    )
    op.drop_column("audit_events", "about_at")
