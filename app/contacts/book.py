"""The contact book: finding, adding, changing and erasing contacts, each
change recorded in the history with who made it."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import Row, select, text

from app import audit
from app.audit import Action, Via
from app.contacts.models import Contact, ContactImport, ImportStatus
from app.extensions import db
from app.messaging.channels import Channel
from app.messaging.placeholders import ALIASES, ATTRIBUTE, PLACEHOLDER, Values

if TYPE_CHECKING:
    from app.auth.models import User


class AddressTaken(Exception):
    """Another contact has this phone or email (``field``): the one with
    ``contact_id``, called ``label``."""

    def __init__(self, field: str, contact_id: int, label: str) -> None:
        super().__init__(f"{label} (contact {contact_id}) already has this {field}.")
        self.field = field
        self.contact_id = contact_id
        self.label = label


def values_of(contact: Contact | Row) -> Values:
    """What a template is filled in from for this contact (a model, or a row
    with its columns)."""
    return Values(
        {
            "first_name": contact.first_name,
            "last_name": contact.last_name,
            "location": contact.location,
            "preferred_product": contact.preferred_product,
            "phone": contact.phone or "",
            "email": contact.email or "",
        },
        {name: str(value) for name, value in contact.attributes.items()},
    )


def values_by_address(channel: str, addresses: list[str]) -> dict[str, Values]:
    """The template values of the contacts with these addresses on ``channel``
    (phones, or emails), by address."""
    field = Channel(channel).contact_field
    rows = db.session.execute(
        text(
            f"SELECT {field}, first_name, last_name, location, preferred_product, phone, email, attributes "
            f"FROM contacts WHERE {field} = ANY(CAST(:addresses AS text[]))"
        ),
        {"addresses": addresses},
    ).all()
    return {row[0]: values_of(row) for row in rows}


# What ``values_of`` gives each field, as SQL over ``contacts AS c``.
SQL_VALUES = {
    "first_name": "c.first_name",
    "last_name": "c.last_name",
    "location": "c.location",
    "preferred_product": "c.preferred_product",
    "phone": "coalesce(c.phone, '')",
    "email": "coalesce(c.email, '')",
}


def render_sql(template: str, prefix: str) -> tuple[str, dict[str, str]]:
    """``placeholders.render(template, values_of(c))`` as one SQL expression
    over ``contacts AS c``, and its parameters (named ``prefix0``, ``prefix1``…):
    so many contacts' texts are rendered by the INSERT … SELECT that stores them.

    Chained with ``||``, not ``concat()``, which takes at most 100 arguments.
    """
    params: dict[str, str] = {}

    def literal(value: str) -> str:
        name = f"{prefix}{len(params)}"
        params[name] = value
        return f"CAST(:{name} AS text)"

    pieces, at = [], 0
    for match in PLACEHOLDER.finditer(template):
        if match.start() > at:
            pieces.append(literal(template[at : match.start()]))
        name = ALIASES.get(match.group(1), match.group(1))
        if name.startswith(ATTRIBUTE):
            value = f"coalesce(c.attributes ->> {literal(name[len(ATTRIBUTE) :])}, '')"
        else:
            value = SQL_VALUES.get(name, "''")
        pieces.append(f"coalesce(nullif({value}, ''), {literal(match.group(2) or '')})")
        at = match.end()
    if at < len(template) or not pieces:
        pieces.append(literal(template[at:]))
    return "(" + " || ".join(pieces) + ")", params


def imports_to_choose(limit: int = 50) -> list[ContactImport]:
    """The finished imports an audience may come from, newest first."""
    return list(
        db.session.scalars(
            select(ContactImport)
            .where(ContactImport.status == ImportStatus.DONE)
            .order_by(ContactImport.id.desc())
            .limit(limit)
        )
    )


def id_by_address(channel: str, address: str) -> int | None:
    """The contact whose address on ``channel`` (their phone, or their email) this is."""
    column = getattr(Contact, Channel(channel).contact_field)
    return db.session.scalar(select(Contact.id).where(column == address))


def attribute_keys(limit: int = 50, sample_rows: int = 10_000) -> list[str]:
    """The attribute keys most contacts have, most common first: what the
    contacts list offers as columns. Read from a sample of about
    ``sample_rows`` contacts (whole pages picked at random, TABLESAMPLE
    SYSTEM), so a million contacts cost what ten thousand do; a key only a
    few contacts have may be missed, and can still be asked for in the URL."""
    estimate = db.session.scalar(text("SELECT reltuples FROM pg_class WHERE oid = 'contacts'::regclass")) or 0
    percent = 100.0 if estimate <= sample_rows else 100.0 * sample_rows / estimate
    return list(
        db.session.scalars(
            text(
                "SELECT key FROM (SELECT attributes FROM contacts TABLESAMPLE SYSTEM (CAST(:percent AS real))) AS c, "
                "jsonb_object_keys(c.attributes) AS key GROUP BY key ORDER BY count(*) DESC, key LIMIT :limit"
            ),
            {"percent": percent, "limit": limit},
        )
    )


def choices(column) -> list[str]:
    """The values a filter offers: those in use."""
    return list(db.session.scalars(select(column).where(column != "").distinct().order_by(column).limit(200)))


def save(contact: Contact | None, *, actor: User, via: Via = Via.WEB, **fields) -> Contact:
    """Add (``contact`` None) or change a contact; the caller commits. Raises
    AddressTaken, changing nothing, when another contact has its phone or email."""
    for name in ("phone", "email"):
        value = fields.get(name)
        if value is None:
            continue
        others = select(Contact).where(getattr(Contact, name) == value)
        if contact is not None:
            others = others.where(Contact.id != contact.id)
        if (other := db.session.scalar(others.limit(1))) is not None:
            raise AddressTaken(name, other.id, other.label)
    adding = contact is None
    contact = contact or Contact()
    changed = [name for name, value in fields.items() if getattr(contact, name) != value]
    for name, value in fields.items():
        setattr(contact, name, value)
    db.session.add(contact)
    db.session.flush()
    detail = "" if adding else ", ".join(name.replace("_", " ") for name in changed) or "nothing"
    action = Action.CONTACT_ADDED if adding else Action.CONTACT_CHANGED
    audit.record(action, actor=actor, via=via, contact_id=contact.id, detail=detail)
    return contact


def delete(contact: Contact, *, actor: User, detail: str = "") -> None:
    """Delete a contact, saying so in its history (``detail``: what became of
    what was sent to them). The messages sent to them are the campaigns'
    (``app.campaigns.people.delete_contact`` erases them first)."""
    audit.record(Action.CONTACT_DELETED, actor=actor, contact_id=contact.id, detail=detail)
    db.session.delete(contact)
