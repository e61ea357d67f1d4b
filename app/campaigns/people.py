"""The campaigns' side of a contact: the messages sent to them."""

from sqlalchemy import select

from app.campaigns.models import Campaign, Recipient
from app.extensions import db


def messages(contact_id: int, limit: int = 200):
    """Every message sent to the contact across campaigns, newest first: the
    recipient row, and its campaign."""
    return db.session.execute(
        select(Recipient, Campaign)
        .join(Campaign, Campaign.id == Recipient.campaign_id)
        .where(Recipient.contact_id == contact_id)
        .order_by(Recipient.id.desc())
        .limit(limit)
    ).all()
