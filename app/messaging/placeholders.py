"""A message is a template: ``{first_name}``, ``{first_name|there}``,
``{attributes.plan}``. The grammar is the API contract's ("Templates"), and the
web form uses the same one.

A placeholder is ``{name}`` or ``{name|fallback}``: ``name`` is ``[a-z_]+`` or
``attributes.KEY`` (``KEY`` is ``[a-z0-9_]+``), the fallback is text without
``{``, ``}`` or ``|``. Anything else (``{First_Name}``, ``{ x }``, a lone
``{``) is literal text. An empty or missing value renders as the fallback, or
as nothing, with no whitespace clean-up: ``"Hi {first_name}!"`` with no first
name is ``"Hi !"``.
"""

import re
from collections.abc import Mapping
from dataclasses import dataclass

from app.messaging.channels import Channel
from app.messaging.names import split_name

PLACEHOLDER = re.compile(r"\{(attributes\.[a-z0-9_]+|[a-z_]+)(?:\|([^{}|]*))?\}")
KNOWN = ("first_name", "last_name", "location", "preferred_product", "phone", "email")
# The spelling seed [001]'s own templates use, kept working.
ALIASES = {"prefered_product": "preferred_product"}
ATTRIBUTE = "attributes."


@dataclass(frozen=True)
class Values:
    """What a recipient's placeholders are filled from."""

    fields: Mapping[str, str]
    attributes: Mapping[str, str]

    def get(self, name: str) -> str:
        if name.startswith(ATTRIBUTE):
            return self.attributes.get(name[len(ATTRIBUTE) :], "")
        return self.fields.get(ALIASES.get(name, name), "")


def names(template: str) -> list[str]:
    """The placeholders a template uses, each once, in order."""
    return list(dict.fromkeys(match.group(1) for match in PLACEHOLDER.finditer(template)))


def unknown(template: str) -> list[str]:
    """The placeholders no recipient can fill: not a known field, an alias or an attribute."""
    return [n for n in names(template) if n not in KNOWN and n not in ALIASES and not n.startswith(ATTRIBUTE)]


def unknown_message(unknown_names: list[str]) -> str:
    """What a form or the API says of unknown placeholders: which, and what is valid."""
    listed = ", ".join("{" + name + "}" for name in unknown_names)
    valid = ", ".join("{" + name + "}" for name in KNOWN)
    word = "placeholder" if len(unknown_names) == 1 else "placeholders"
    return f"Unknown {word} {listed}. Valid: {valid}, and {{attributes.KEY}} for a contact's own attributes."


def every_one() -> str:
    """Every placeholder the grammar knows, as a form's hint lists them."""
    listed = ", ".join("{" + name + "}" for name in KNOWN)
    return (
        f"{listed}, and {{attributes.KEY}} for a contact's own attributes (such as {{attributes.plan}}). "
        "After a bar, a fallback for an empty value: {first_name|there}."
    )


def is_personal(template: str) -> bool:
    """Whether the text differs between recipients."""
    return PLACEHOLDER.search(template) is not None


def render(template: str, values: Values) -> str:
    return PLACEHOLDER.sub(lambda match: values.get(match.group(1)) or (match.group(2) or ""), template)


def parts(template: str, values: Values) -> list[tuple[str, bool]]:
    """The rendered text in pieces, each marked True where it is a placeholder
    that rendered as nothing (no value, no fallback): what a preview highlights."""
    pieces, at = [], 0
    for match in PLACEHOLDER.finditer(template):
        pieces.append((template[at : match.start()], False))
        value = values.get(match.group(1)) or match.group(2) or ""
        pieces.append((value, False) if value else (match.group(0), True))
        at = match.end()
    pieces.append((template[at:], False))
    return [piece for piece in pieces if piece[0]]


def from_paste(name: str, address: str, channel: Channel) -> Values:
    """A pasted line's values: its name split into first and last
    (``names.split_name``); the address fills the channel's ``{phone}`` or ``{email}``."""
    first, last = split_name(name)
    return Values({"first_name": first, "last_name": last, channel.contact_field: address}, {})
