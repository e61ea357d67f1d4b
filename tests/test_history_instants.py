"""A time the history speaks of ("Scheduled … to start at …") is kept as an
instant and read in each reader's zone, like every other time on the page;
rows written as text before migration 0021 are read back where their zone is
certain."""

import html
import re
from datetime import UTC, datetime

import flask_migrate
from sqlalchemy import select, text

from app.audit import AuditEvent
from app.auth.models import Role
from app.extensions import db
from tests.conftest import signed_in
from tests.factories import make_campaign, make_user


def person(email: str, zone: str):
    user = make_user(Role.OPERATOR, email=email)
    user.timezone = zone
    db.session.commit()
    return user


def history_lines(page: str) -> list[str]:
    """The history's lines as a reader reads them, tags and spacing gone."""
    found = re.findall(r'<li data-testid="history-event">(.*?)</li>', page, re.S)
    return [" ".join(html.unescape(re.sub(r"<[^>]+>", " ", line)).split()) for line in found]


def test_two_readers_in_two_zones_read_the_scheduled_time_each_in_their_own(app):
    nairobi = signed_in(app, person("wanjiru@example.com", "Africa/Nairobi"))
    london = signed_in(app, person("lee@example.com", "Europe/London"))
    campaign = make_campaign(2)
    scheduled = nairobi.post(f"/campaigns/{campaign.id}/schedule", data={"send_at": "2030-01-15T10:00"})
    assert scheduled.status_code in (200, 302)

    for reader, zone, said in ((nairobi, "EAT", "10:00 EAT"), (london, "GMT", "07:00 GMT")):
        lines = history_lines(reader.get(f"/campaigns/{campaign.id}").get_data(as_text=True))
        [(when, what)] = [line.split(" · ", 1) for line in lines if "Scheduled" in line]
        assert when.endswith(f" {zone}"), "when it was done, in the reader's zone"
        assert what == f"Scheduled by wanjiru@example.com · to start at 15 Jan 2030, {said}"
    # The API reads it in UTC, as it gives every time.
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "campaign.scheduled"))
    assert (event.detail, event.about_at) == ("to start at", datetime(2030, 1, 15, 7, 0, tzinfo=UTC))
    assert event.detail_in(UTC) == "to start at 15 Jan 2030, 07:00 UTC"


def test_the_migration_reads_back_the_times_written_as_text_where_their_zone_is_certain(app):
    nairobi = person("wanjiru@example.com", "Africa/Nairobi")
    campaign_id = make_campaign(2).id
    nairobi_id = nairobi.id
    db.session.remove()
    try:
        flask_migrate.downgrade(revision="0020")
        written = [
            ("to start at 15 Jan 2030, 10:00 EAT", nairobi_id),
            ("to start at 1 Feb 2030, 09:30 UTC", None),
            ("to start at 3 Mar 2030, 08:00 +04 Asia/Dubai", nairobi_id),
            # Not Nairobi's abbreviation, nor DEFAULT_TIMEZONE's (UTC): which CST, is not certain.
            ("to start at 4 Apr 2030, 12:00 CST", nairobi_id),
        ]
        for detail, actor in written:
            db.session.execute(
                text(
                    "INSERT INTO audit_events (action, actor_id, via, campaign_id, detail) "
                    "VALUES ('campaign.rescheduled', :actor, 'web', :campaign, :detail)"
                ),
                {"actor": actor, "campaign": campaign_id, "detail": detail},
            )
        db.session.commit()
        db.session.remove()
    finally:
        flask_migrate.upgrade()
    rows = db.session.execute(
        select(AuditEvent.detail, AuditEvent.about_at)
        .where(AuditEvent.action == "campaign.rescheduled")
        .order_by(AuditEvent.id)
    )
    assert rows.all() == [
        ("to start at", datetime(2030, 1, 15, 7, 0, tzinfo=UTC)),
        ("to start at", datetime(2030, 2, 1, 9, 30, tzinfo=UTC)),
        ("to start at", datetime(2030, 3, 3, 4, 0, tzinfo=UTC)),
        ("to start at 4 Apr 2030, 12:00 CST", None),
    ]
