"""Which contacts: the one set of filters that the contacts list, a saved
segment, a campaign's audience and the API's ``GET /customers`` share.

Filters are read from a URL, a form or a stored segment by one rule, the
campaign list's: a value that is not understood is named (``ignored``) and
left out, never an error page. They are kept, in a segment or a campaign,
as the URL's own query (``args``), so whatever reads a link reads them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from typing import Any

from sqlalchemy import ColumnElement, Select, TextClause, exists, func, select, text

from app import searching
from app.contacts.models import Contact, ContactImport, ContactImportMember
from app.extensions import db
from app.messaging.channels import Channel
from app.optouts import registry as opt_outs

# Attribute keys as they are stored: an import and the contact form lower-case them.
ATTRIBUTE_KEY = re.compile(r"[a-z0-9_]{1,64}")
# ``?attributes.plan=gold``: the API's form of an attribute filter, read everywhere.
ATTRIBUTE_ARG = "attributes."
OPTED_OUT = {"yes": "Of some channel", "no": "Of no channel"}
MAX_TEXT = 200
# The names a URL gives each filter; a form may name them otherwise (``from_args(names=…)``).
NAMES = {
    "q": "q",
    "location": "location",
    "preferred_product": "preferred_product",
    "attribute": "attribute",
    "opted_out": "opted_out",
    "import": "import",
}


def opted_out(channel: str | None = None, *, opted: bool = True) -> TextClause:
    """Whether a contact has opted out of ``channel`` (None: of any channel);
    ``opted`` False: whether they have not."""
    test = opt_outs.contact_opted_out(Contact.__tablename__, channel)
    return text(test if opted else f"NOT {test}")


def _each(args: Mapping[str, Any], name: str) -> list[str]:
    """Every value ``args`` has for ``name``: a URL's repeated parameter, or a stored list."""
    values = args.getlist(name) if hasattr(args, "getlist") else args.get(name)
    if values is None:
        return []
    return [str(value) for value in (values if isinstance(values, list) else [values])]


def attribute_filter(typed: str, said: list[str]) -> tuple[str, str] | None:
    """``Plan = Gold`` → ``("plan", "Gold")``: the key lower-cased, as keys are
    stored; the value as typed (values match exactly). What is not
    ``key=value`` is said in ``said`` and ignored."""
    key, equals, value = typed.partition("=")
    key = key.strip().lower()
    if not equals:
        said.append(f"“{typed[:40]}” is not an attribute filter: write it as key=value, such as plan=gold.")
        return None
    if not ATTRIBUTE_KEY.fullmatch(key):
        said.append(f"“{key[:40]}” is not an attribute key: a key is letters, digits and _.")
        return None
    return key, value.strip()[:MAX_TEXT]


@dataclass(frozen=True)
class Filters:
    q: str = ""
    location: str = ""
    preferred_product: str = ""
    # key → value pairs a contact's attributes must all have, keys lower-case.
    attributes: tuple[tuple[str, str], ...] = ()
    # "yes": only those opted out of some channel; "no": only those who have not.
    opted_out: str = ""
    # Only the contacts this import added or updated.
    import_id: int | None = None
    # What was not understood, and so left out: (which filter, what is wrong with it).
    ignored: tuple[tuple[str, str], ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, args: Mapping[str, Any], names: Mapping[str, str] | None = None) -> Filters:
        """The filters a URL's query (or a form, its fields named by ``names``,
        or a stored segment) asks for."""
        name = {**NAMES, **(names or {})}
        ignored: list[tuple[str, str]] = []

        def note(which: str, said: list[str]) -> None:
            ignored.extend((which, message) for message in said)

        attributes: dict[str, str] = {}
        for typed in _each(args, name["attribute"]):
            said: list[str] = []
            if typed.strip() and (pair := attribute_filter(typed.strip(), said)):
                attributes[pair[0]] = pair[1]
            note("attribute", said)
        for arg in args:
            if arg.startswith(ATTRIBUTE_ARG):
                said = []
                for value in _each(args, arg):
                    if pair := attribute_filter(f"{arg[len(ATTRIBUTE_ARG) :]}={value}", said):
                        attributes[pair[0]] = pair[1]
                note("attribute", said)
        chosen = _text(args, name["opted_out"])
        if chosen and chosen not in OPTED_OUT:
            ignored.append(("opted_out", f"“{chosen[:40]}” is not an opted-out choice this list knows (yes or no)."))
            chosen = ""
        return cls(
            q=searching.typed(args, name["q"]),
            location=_text(args, name["location"]),
            preferred_product=_text(args, name["preferred_product"]),
            attributes=tuple(attributes.items()),
            opted_out=chosen,
            import_id=_import(args, name["import"], ignored),
            ignored=tuple(ignored),
        )

    @property
    def problems(self) -> list[str]:
        """What is wrong with each filter left out."""
        return [message for _, message in self.ignored]

    @property
    def notes(self) -> list[str]:
        """What a list says it left out, one sentence each."""
        return [f"{message} It was ignored." for _, message in self.ignored]

    def problem(self, which: str) -> str | None:
        """Why the filter ``which`` (``attribute``, ``import``…) was ignored, if it was."""
        return next((message for name, message in self.ignored if name == which), None)

    @property
    def any(self) -> bool:
        return bool(self.q or self.opted_out or self.active)

    @property
    def active(self) -> int:
        """How many of the filters beyond the search and the opt-out choice
        are set: what "More filters" counts."""
        return bool(self.location) + bool(self.preferred_product) + len(self.attributes) + (self.import_id is not None)

    def args(self, **changes: Any) -> dict[str, Any]:
        """The URL's query for these filters, with ``changes``; what a segment
        and a campaign keep."""
        filters = replace(self, **changes) if changes else self
        values = {
            "q": filters.q,
            "location": filters.location,
            "preferred_product": filters.preferred_product,
            "attribute": [f"{key}={value}" for key, value in filters.attributes],
            "opted_out": filters.opted_out,
            "import": filters.import_id,
        }
        return {name: value for name, value in values.items() if value or value == 0}

    def said(self) -> str:
        """The filters in words: ``in Nairobi, with plan = gold``; "" for none."""
        parts = [f"matching “{self.q}”"] if self.q else []
        if self.location:
            parts.append(f"in {self.location}")
        if self.preferred_product:
            parts.append(f"preferring {self.preferred_product}")
        parts += [f"with {key} = {value or '(empty)'}" for key, value in self.attributes]
        if self.opted_out:
            parts.append("opted out of some channel" if self.opted_out == "yes" else "opted out of no channel")
        if self.import_id is not None:
            parts.append(f"from import #{self.import_id}")
        return ", ".join(parts)

    def conditions(self) -> list[ColumnElement[bool] | TextClause]:
        found: list[ColumnElement[bool] | TextClause] = []
        if self.q:
            # ILIKE '%…%' on the indexed expression: the trigram index serves it.
            pattern = searching.substring_pattern(self.q)
            found.append(text(f"{Contact.SEARCH} ILIKE :pattern").bindparams(pattern=pattern))
        if self.location:
            found.append(Contact.location == self.location)
        if self.preferred_product:
            found.append(Contact.preferred_product == self.preferred_product)
        if self.attributes:
            # One containment test for every pair: the GIN index (jsonb_path_ops) serves it.
            found.append(Contact.attributes.contains(dict(self.attributes)))
        if self.opted_out:
            found.append(opted_out(opted=self.opted_out == "yes"))
        if self.import_id is not None:
            found.append(
                exists().where(
                    ContactImportMember.import_id == self.import_id, ContactImportMember.contact_id == Contact.id
                )
            )
        return found

    def query(self) -> Select:
        """The contacts these filters choose, newest first (the contacts list's order)."""
        return select(Contact).where(*self.conditions()).order_by(Contact.id.desc())

    def ids(self) -> Select:
        """The chosen contacts' ids, for a statement that changes them all."""
        return select(Contact.id).where(*self.conditions())


def _text(args: Mapping[str, Any], name: str) -> str:
    """The value asked for, trimmed; a NUL, which no text in PostgreSQL holds, dropped."""
    values = _each(args, name)
    return values[0].replace("\x00", "").strip()[:MAX_TEXT] if values else ""


def _import(args: Mapping[str, Any], name: str, ignored: list[tuple[str, str]]) -> int | None:
    typed = _text(args, name)
    if not typed:
        return None
    wanted = typed.removeprefix("#")
    if wanted.isdigit() and len(wanted) < 10 and db.session.get(ContactImport, int(wanted)) is not None:
        return int(wanted)
    ignored.append(("import", f"“{typed[:40]}” is not an import this list knows."))
    return None


@dataclass(frozen=True)
class Audience:
    """Contacts a campaign is sent to: those its filters choose that the
    channel can reach (a phone for SMS and WhatsApp, an email for email) and
    who have not opted out of it."""

    channel: str
    filters: Filters = Filters()

    @property
    def key(self):
        return getattr(Contact, Channel(self.channel).contact_field)

    def query(self) -> Select:
        reachable = (self.key.is_not(None), opted_out(self.channel, opted=False))
        return select(Contact).where(*reachable, *self.filters.conditions()).order_by(Contact.id)

    def size(self) -> int:
        return db.session.scalar(select(func.count()).select_from(self.query().order_by(None).subquery())) or 0

    def addresses(self) -> list[tuple[str, str]]:
        """Each chosen contact's name and address on the channel, in the order
        they were added: two columns a contact, not the contacts themselves."""
        rows = db.session.execute(self.query().with_only_columns(Contact.first_name, Contact.last_name, self.key))
        return [(Contact.full_name(first, last), address) for first, last, address in rows if address]
