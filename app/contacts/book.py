"""The contact book: finding, adding, changing and erasing contacts, each
change recorded in the history with who made it."""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from sqlalchemy import Row, Select, TextClause, exists, func, select, text

from app import audit
from app.audit import Action, Via
from app.contacts.models import Contact, ContactImport, ContactImportMember, ImportStatus
from app.extensions import db
from app.messaging.channels import Channel
from app.messaging.placeholders import ALIASES, ATTRIBUTE, PLACEHOLDER, Values
from app.optouts import registry as opt_outs
from app.searching import substring_pattern

if TYPE_CHECKING:
    from app.auth.models import User


class AddressTaken(Exception):
    """Another contact has this phone or email."""


def opted_out(channel: str | None = None, *, opted: bool = True) -> TextClause:
    """Whether a contact has opted out of ``channel`` (None: of any channel);
    ``opted`` False: whether they have not."""
    test = opt_outs.contact_opted_out(Contact.__tablename__, channel)
    return text(test if opted else f"NOT {test}")


@dataclass(frozen=True)
class Filters:
    q: str = ""
    location: str = ""
    preferred_product: str = ""
    # "yes": only those opted out of some channel; "no": only those who have not.
    opted_out: str = ""

    @property
    def any(self) -> bool:
        return bool(self.q or self.location or self.preferred_product or self.opted_out)

    def query(self) -> Select:
        query = select(Contact)
        if self.q:
            # ILIKE '%…%' on the indexed expression: the trigram index serves it.
            query = query.where(text(f"{Contact.SEARCH} ILIKE :pattern").bindparams(pattern=substring_pattern(self.q)))
        if self.location:
            query = query.where(Contact.location == self.location)
        if self.preferred_product:
            query = query.where(Contact.preferred_product == self.preferred_product)
        if self.opted_out in ("yes", "no"):
            query = query.where(opted_out(opted=self.opted_out == "yes"))
        return query.order_by(Contact.id.desc())


@dataclass(frozen=True)
class Audience:
    """Contacts a campaign is sent to: all of them, or those in a location,
    preferring a product, with an attribute's value, or from an import; always those the
    channel can reach (a phone for SMS and WhatsApp, an email for email) and
    who have not opted out of it."""

    channel: str
    location: str = ""
    preferred_product: str = ""
    attribute: str = ""  # "key=value"
    # Only the contacts this import added or updated.
    import_id: int | None = None

    @property
    def key(self):
        return getattr(Contact, Channel(self.channel).contact_field)

    def query(self) -> Select:
        query = select(Contact).where(self.key.is_not(None), opted_out(self.channel, opted=False))
        if self.location:
            query = query.where(Contact.location == self.location)
        if self.preferred_product:
            query = query.where(Contact.preferred_product == self.preferred_product)
        if self.attribute:
            name, _, value = self.attribute.partition("=")
            query = query.where(Contact.attributes.contains({name.strip().lower(): value.strip()}))
        if self.import_id is not None:
            query = query.where(
                exists().where(
                    ContactImportMember.import_id == self.import_id, ContactImportMember.contact_id == Contact.id
                )
            )
        return query.order_by(Contact.id)

    def size(self) -> int:
        return db.session.scalar(select(func.count()).select_from(self.query().order_by(None).subquery())) or 0

    def addresses(self) -> list[tuple[str, str]]:
        """Each chosen contact's name and address on the channel, in the order
        they were added: two columns a contact, not the contacts themselves."""
        rows = db.session.execute(self.query().with_only_columns(Contact.first_name, Contact.last_name, self.key))
        return [(Contact.full_name(first, last), address) for first, last, address in rows if address]


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
        others = select(Contact.id).where(getattr(Contact, name) == value)
        if contact is not None:
            others = others.where(Contact.id != contact.id)
        if (other := db.session.scalar(others.limit(1))) is not None:
            raise AddressTaken(f"Contact {other} already has this {name}.")
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
