"""Which column of an imported file goes where, and one row read into the
fields of a contact as they will be stored, or the reason it cannot be."""

import re
from dataclasses import dataclass, field

from app.formatting import number
from app.messaging.addresses import InvalidAddress, normalize_email, normalize_phone
from app.messaging.names import split_name

ATTRIBUTE = "attribute"
IGNORE = "ignore"
# A contact field, what a header may call it (lower-cased, spaces and
# punctuation as one space), and how the page names it.
FIELDS = {
    "phone": ("Phone", {"phone", "mobile", "msisdn", "phone number", "mobile number", "cell", "telephone", "tel"}),
    "email": ("Email", {"email", "e mail", "email address", "e mail address", "mail"}),
    "first_name": ("First name", {"first name", "given name", "firstname", "forename"}),
    "last_name": ("Last name", {"last name", "surname", "family name", "lastname"}),
    "name": ("Full name (split into first and last)", {"name", "full name", "fullname", "contact name"}),
    "location": ("Location", {"location", "city", "town"}),
    "preferred_product": ("Preferred product", {"preferred product", "product"}),
    "opted_out": (
        "Opted out (yes adds an opt-out; no changes nothing)",
        {"opted out", "opt out", "optout", "unsubscribed", "do not contact", "dnc", "suppressed"},
    ),
}
# An opt-out column's cells: these (any case) opt the contact out of every
# channel their phone or email is on; these change nothing; anything else fails the row.
YES = frozenset({"yes", "y", "true", "1", "x", "opted out", "stop", "unsubscribed"})
NO = frozenset({"no", "n", "false", "0"})
CHOICES = [*FIELDS, ATTRIBUTE, IGNORE]
CHOICE_LABELS = {name: label for name, (label, _) in FIELDS.items()} | {
    # The page adds the key (``Attribute: loyalty_tier``), named after the column.
    ATTRIBUTE: "Attribute",
    IGNORE: "Ignore this column",
}
# The contacts table's sizes (app.contacts.models.Contact).
MAX_LENGTH = {"first_name": 100, "last_name": 100, "location": 100, "preferred_product": 100}
MAX_ATTRIBUTE = 1000


def _words(header: str) -> str:
    return re.sub(r"[^a-z0-9]+", " ", header.lower()).strip()


def attribute_keys(header: list[str]) -> list[str]:
    """Each column's attribute key: its header lower-cased, with letters,
    digits and _ only (``{attributes.key}`` in a template), unique."""
    keys: list[str] = []
    taken: set[str] = set()
    # Where each key's next repeat starts counting: key_2 up to it are taken,
    # so a header of one name many times over is read in linear time, not cubic.
    next_suffix: dict[str, int] = {}
    for position, name in enumerate(header, start=1):
        key = candidate = re.sub(r"[^a-z0-9_]+", "_", name.lower()).strip("_") or f"column_{position}"
        if candidate in taken:
            n = next_suffix.get(key, 2)
            while (candidate := f"{key}_{n}") in taken:
                n += 1
            next_suffix[key] = n + 1
        keys.append(candidate)
        taken.add(candidate)
    return keys


def automatic(header: list[str]) -> list[str]:
    """What each column goes to from its header; a field named twice goes to
    the first column only, and whatever is not a field becomes an attribute."""
    mapping, taken = [], set()
    for name in header:
        words = _words(name)
        chosen = next((f for f, (_, synonyms) in FIELDS.items() if words in synonyms and f not in taken), None)
        if chosen is None:
            mapping.append(ATTRIBUTE if words else IGNORE)
        else:
            taken.add(chosen)
            mapping.append(chosen)
    return mapping


def has_address_column(header: list[str]) -> bool:
    return any(choice in ("phone", "email") for choice in automatic(header))


def problems(mapping: list[str]) -> list[str]:
    """Why a mapping cannot be imported with, if it cannot."""
    found = []
    if not {"phone", "email"} & set(mapping):
        found.append("Choose a Phone or an Email column: each contact is found and kept by its phone or email.")
    for name, (label, _) in FIELDS.items():
        if mapping.count(name) > 1:
            found.append(f"{mapping.count(name)} columns go to {label}: choose one.")
    return found


@dataclass
class Row:
    """One row as it will be stored: only what its cells say (an empty cell
    says nothing, so it changes nothing); or ``error``."""

    line: int
    fields: dict[str, str] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    error: str = ""
    opt_out: bool = False

    @property
    def phone(self) -> str | None:
        return self.fields.get("phone")

    @property
    def email(self) -> str | None:
        return self.fields.get("email")


def read_row(line: int, cells: list[str], header: list[str], mapping: list[str], keys: list[str], region: str) -> Row:
    row = Row(line)
    if len(cells) > len(header):
        row.error = (
            f"{number(len(cells))} cells where the header has {number(len(header))} "
            "(a separator inside a cell that is not in quotes?)"
        )
        return row
    bad_phone = bad_email = None
    full_name = ""
    for cell, choice, key in zip(cells, mapping, keys, strict=False):
        value = cell.strip()
        if not value or choice == IGNORE:
            continue
        if choice == "phone":
            try:
                row.fields["phone"] = normalize_phone(value, region)
            except InvalidAddress as error:
                bad_phone = str(error)
        elif choice == "email":
            try:
                row.fields["email"] = normalize_email(value)
            except InvalidAddress as error:
                bad_email = str(error)
        elif choice == "name":
            full_name = value
        elif choice == "opted_out":
            if value.lower() not in YES | NO:
                row.error = f'opted out is "{value[:40]}": write yes or no'
                return row
            row.opt_out = value.lower() in YES
        elif choice == ATTRIBUTE:
            if len(value) > MAX_ATTRIBUTE:
                row.error = f"{key} is {number(len(value))} characters long; at most {number(MAX_ATTRIBUTE)} fit"
                return row
            row.attributes[key] = value
        else:
            row.fields[choice] = value
    if full_name:
        first, last = split_name(full_name)
        if first:
            row.fields.setdefault("first_name", first)
        if last:
            row.fields.setdefault("last_name", last)
    for name, most in MAX_LENGTH.items():
        if len(row.fields.get(name, "")) > most:
            label = FIELDS[name][0].lower()
            row.error = f"the {label} is {number(len(row.fields[name]))} characters long; at most {most} fit"
            return row
    # A bad phone beside a good email (or the other way round) still fails
    # the row: importing it without the phone would look like success.
    if bad_phone or bad_email:
        row.error = "; ".join(filter(None, (bad_phone, bad_email)))
    elif not row.phone and not row.email:
        row.error = "no phone or email: a contact needs one of them"
    return row
