"""The contacts a search and filters choose (``filters.Filters``) as a CSV
file, newest first as the list shows them, each attribute a column of its
own. Written by ``app.exporting``'s rule, from a server-side cursor, and
recorded in the contacts' history with its count."""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING, Any

from flask import Response
from sqlalchemy import func, select

from app import audit, exporting
from app.audit import Action, Via
from app.clock import utcnow
from app.contacts.filters import Filters
from app.contacts.models import Contact
from app.extensions import db

if TYPE_CHECKING:
    from app.auth.models import User

FIELDS = ("first_name", "last_name", "phone", "email", "location", "preferred_product", "created_at")
COLUMNS = (
    Contact.first_name,
    Contact.last_name,
    Contact.phone,
    Contact.email,
    Contact.location,
    Contact.preferred_product,
    Contact.created_at,
    Contact.attributes,
)


def attribute_keys(filters: Filters) -> list[str]:
    """Every attribute key the chosen contacts have, sorted: read once before
    the file, whose header names them all."""
    keys = select(func.jsonb_object_keys(Contact.attributes)).where(*filters.conditions()).distinct()
    return sorted(db.session.scalars(keys))


def header(keys: list[str]) -> list[str]:
    """The fields, then each attribute key; one named like a field is ``attributes.KEY``."""
    return [*FIELDS, *(f"attributes.{key}" if key in FIELDS else key for key in keys)]


def rows(filters: Filters, keys: list[str]) -> Iterator[list[Any]]:
    """Each chosen contact's fields, then their value of each key ("" for none)."""
    for *fields, attributes in exporting.read(filters.query().with_only_columns(*COLUMNS)):
        yield [*fields, *(attributes.get(key) for key in keys)]


def download(filters: Filters, *, actor: User, via: Via) -> Response:
    """The CSV file of the contacts ``filters`` choose, named for today; the
    history says who took which, and how many."""
    keys = attribute_keys(filters)
    chosen = filters.said()

    def record(count: int, complete: bool) -> None:
        said = exporting.counted(count, "contact", complete=complete) + (f" {chosen}" if chosen else "")
        audit.record(Action.CONTACTS_EXPORTED, actor=actor, via=via, detail=said)

    name = exporting.filename("contacts", utcnow().date())
    return exporting.download(header(keys), rows(filters, keys), name, record)
