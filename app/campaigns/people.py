"""The campaigns' side of a contact: the messages sent to them, and
deleting them with their personal fields erased from those messages."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select, text

from app.campaigns.models import Campaign, Recipient
from app.contacts import book, bulk
from app.extensions import db
from app.formatting import plural

if TYPE_CHECKING:
    from app.auth.models import User
    from app.contacts.models import Contact


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


def erase_messages(contact_ids: list[int]) -> int:
    """Erase the personal fields of every message sent to these contacts, who
    are about to be deleted; the messages stay counted in their campaigns.
    Returns how many."""
    erased: int = db.session.execute(  # type: ignore[attr-defined]
        text(
            "UPDATE recipients SET name = '', address = '(erased)', address_normalized = 'erased:' || id, "
            "rendered_content = CASE WHEN rendered_content IS NULL THEN NULL ELSE '(erased)' END, "
            "rendered_subject = CASE WHEN rendered_subject IS NULL THEN NULL ELSE '(erased)' END, "
            "contact_id = NULL WHERE contact_id = ANY(CAST(:ids AS integer[]))"
        ),
        {"ids": contact_ids},
    ).rowcount
    return erased


def delete_contact(contact: Contact, *, actor: User) -> int:
    """Delete a contact. The messages already sent to them stay counted in
    their campaigns, with the personal fields erased; returns how many.
    The caller commits."""
    erased = erase_messages([contact.id])
    kept = f"{plural(erased, 'message')} kept, personal fields erased" if erased else ""
    book.delete(contact, actor=actor, detail=kept)
    return erased


def delete_contacts(contact_ids: list[int]) -> tuple[int, int]:
    """Delete a batch of the contacts a bulk delete chooses, by the same rule
    as ``delete_contact``; how many contacts, and how many messages erased.
    The change's one history event says who and how many (``app.contacts.bulk``)."""
    erased = erase_messages(contact_ids)
    return bulk.delete_ids(contact_ids), erased
