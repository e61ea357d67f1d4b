"""Pasted lines becoming contacts: the lines of a campaign's paste add the
contacts the book does not have yet and rename those whose line gives a
first name (by phone, or by email on an email campaign); and what each
line's contact will be once they have, for the form to measure beforehand."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import text

from app import audit
from app.audit import Action, Via
from app.contacts.book import values_by_address
from app.extensions import db
from app.messaging import placeholders
from app.messaging.channels import Channel
from app.messaging.names import split_name

if TYPE_CHECKING:
    from app.auth.models import User

# A pasted name's first and last name are cut to what the contact form takes.
NAME_MOST = 100

# One statement for a chunk of lines: the contacts it adds or renames, and their history.
_ADD_OR_RENAME = """
WITH upserted AS (
    INSERT INTO contacts ({field}, first_name, last_name)
    SELECT * FROM unnest(CAST(:addresses AS text[]), CAST(:firsts AS text[]), CAST(:lasts AS text[]))
    ON CONFLICT ({field}) WHERE {field} IS NOT NULL DO UPDATE SET
        first_name = excluded.first_name, last_name = excluded.last_name, updated_at = now()
    WHERE excluded.first_name <> ''
      AND (contacts.first_name, contacts.last_name) IS DISTINCT FROM (excluded.first_name, excluded.last_name)
    RETURNING id, xmax = 0 AS added
)
"""
_RECORD = audit.record_each_row(
    "upserted",
    action=f"CASE WHEN added THEN '{Action.CONTACT_ADDED.value}' ELSE '{Action.CONTACT_CHANGED.value}' END",
    contact_id="id",
    detail="CASE WHEN added THEN :added ELSE :changed END",
)


def names(name: str) -> tuple[str, str]:
    """A pasted name's first and last name, as the contact keeps them."""
    first, last = split_name(name)
    return first[:NAME_MOST], last[:NAME_MOST]


def save(channel: str, lines: list[tuple[str, str]], *, actor: User | None, via: Via, source: str) -> None:
    """Each ``(name, address)`` line (the address normalised, no two alike)
    becomes a contact, or renames the one with its address when the line
    gives a first name. Each contact added or renamed has it in its
    history, by ``actor``, saying it came ``from`` ``source`` ("the
    recipients of campaign 5"); one the line does not change is left alone.

    Many lines in one statement, as arrays unnested by PostgreSQL."""
    split = [names(name) for name, _ in lines]
    db.session.execute(
        text(_ADD_OR_RENAME.format(field=Channel(channel).contact_field) + _RECORD),
        {
            "addresses": [address for _, address in lines],
            "firsts": [first for first, _ in split],
            "lasts": [last for _, last in split],
            "added": f"from {source}",
            "changed": f"name, from {source}",
            **audit.each_row_params(actor, via),
        },
    )


def values_after(channel: str, lines: list[tuple[str, str]], *, renaming: bool = True) -> list[placeholders.Values]:
    """Each ``(name, address)`` line's values as they will be once ``save``
    has stored it: the contact with its address (when the book has one),
    renamed as ``save`` renames it unless not ``renaming``; a line for a
    new contact has only what it says."""
    known = values_by_address(channel, [address for _, address in lines])
    found: list[placeholders.Values] = []
    for name, address in lines:
        pasted = placeholders.from_paste(name, address, Channel(channel))
        values = known.get(address)
        if values is None:
            found.append(pasted)
        elif renaming and pasted.fields["first_name"]:
            first, last = names(name)
            found.append(
                placeholders.Values({**values.fields, "first_name": first, "last_name": last}, values.attributes)
            )
        else:
            found.append(values)
    return found
