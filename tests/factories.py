"""Building campaigns and accounts for tests through the same code the app uses."""

from functools import cache

from sqlalchemy import text
from werkzeug.security import generate_password_hash

from app import jobqueue
from app.auth.models import Role, User
from app.campaigns import drafts, lifecycle
from app.campaigns.models import Campaign
from app.campaigns.parsing import ParsedRecipient
from app.extensions import db
from app.messaging.channels import Channel


def make_campaign(
    recipients: int = 5, channel: Channel = Channel.EMAIL, title: str = "Spring sale", created_by: User | None = None
) -> Campaign:
    parsed = [
        ParsedRecipient(i, f"Person {i}", f"person{i}@example.com", f"person{i}@example.com")
        for i in range(1, recipients + 1)
    ]
    campaign = drafts.create_campaign(title, channel.value, "Hello from the test suite", parsed, created_by=created_by)
    db.session.commit()
    return campaign


def start_campaign(campaign: Campaign, enqueue: bool = True) -> Campaign:
    """Started as the Start button starts it: committed, then its jobs queued."""
    assert lifecycle.start(campaign.id, None).changed
    db.session.commit()
    if enqueue:
        jobqueue.enqueue_send(campaign.id, campaign.recipient_count)
    return campaign


def make_started_campaign(recipients: int = 5, enqueue: bool = True, **kwargs) -> Campaign:
    return start_campaign(make_campaign(recipients, **kwargs), enqueue)


def make_large_campaign(recipients: int) -> Campaign:
    """A campaign of many recipients, inserted by the database itself for speed."""
    campaign = make_campaign(0, title=f"{recipients:,} recipients")
    db.session.execute(
        text(
            """
            INSERT INTO recipients (campaign_id, line, name, address, address_normalized)
            SELECT :campaign_id, n, 'Person ' || n, 'person' || n || '@example.com', 'person' || n || '@example.com'
            FROM generate_series(1, :count) AS n
            """
        ),
        {"campaign_id": campaign.id, "count": recipients},
    )
    campaign.recipient_count = recipients
    db.session.commit()
    return campaign


PASSWORD = "correct horse battery staple"


@cache
def _password_hash(password: str) -> str:
    # One scrypt hash per password for the whole run: hashing is slow on purpose.
    return generate_password_hash(password)


def make_user(
    role: Role = Role.OPERATOR, email: str | None = None, password: str = PASSWORD, active: bool = True
) -> User:
    user = User(
        email=email or f"{role.value}@example.com",
        role=role.value,
        active=active,
        password_hash=_password_hash(password),
    )
    db.session.add(user)
    db.session.commit()
    return user
