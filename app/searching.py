"""Finding rows by any part of a text: one rule for every search box, and
the reading of what a search's URL asks for (``?q=…&since=…``), so that a
bad value is named and ignored, never an error page."""

import re
from collections.abc import Mapping
from datetime import date

import phonenumbers

# Longer is refused by no one, but a search longer than any name, address or
# message line is cut here: a 10,000-character query would only cost trigrams.
MAX_TYPED = 200
# Characters a phone number is typed with; anything else is not a phone.
PHONE_TYPED = re.compile(r"[0-9 ()+.\-]+")
ISO_DATE = re.compile(r"[0-9]{4}-[0-9]{2}-[0-9]{2}")


def substring_pattern(typed: str) -> str:
    """A LIKE / ILIKE pattern matching ``typed`` anywhere, its ``%``, ``_`` and
    ``\\`` taken literally (backslash is PostgreSQL's default LIKE escape).
    A trigram index (pg_trgm) serves ILIKE with it."""
    return "%" + typed.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_") + "%"


def typed(args: Mapping[str, str], name: str = "q") -> str:
    """What was typed in a search box, trimmed and at most MAX_TYPED
    characters; a NUL, which no text in PostgreSQL holds, is dropped."""
    return (args.get(name) or "").replace("\x00", "").strip()[:MAX_TYPED]


def phone_part(text: str, region: str) -> str | None:
    """Part of a phone number as typed (``0712 345``), as it begins in E.164
    (``+254712345``), so that it finds the normalised addresses too; None
    when ``text`` is not the start of a phone number."""
    if not PHONE_TYPED.fullmatch(text):
        return None
    digits = re.sub(r"\D", "", text)
    if len(digits) < 3:
        return None
    if text.lstrip().startswith("+") or text.lstrip().startswith("00"):
        return "+" + digits.removeprefix("00")
    if digits.startswith("0"):
        # The national trunk prefix: what DEFAULT_REGION's numbers are typed with.
        return f"+{phonenumbers.country_code_for_region(region)}{digits[1:]}"
    return None


def prefix_range(prefix: str) -> tuple[str, str | None]:
    """The range of texts that start with ``prefix``, a phone number's start
    (``+`` and digits), for a btree: from ``prefix`` to the same with its last
    digit counted up (``+2547009`` → ``+254701``), None when all are nines.
    Bounds of digits, not ``prefix + "~"``, because outside the C collation
    punctuation is ignored at first and would not bound anything; the
    caller still checks the prefix itself (LIKE) on the rows the range reads."""
    digits = prefix.rstrip("9")
    if not digits or not digits[-1].isdigit():
        return prefix, None
    return prefix, digits[:-1] + str(int(digits[-1]) + 1)


def choice(args: Mapping[str, str], name: str, allowed: Mapping[str, str], said: list[str], default: str = "") -> str:
    """One of ``allowed`` (value → label), else ``default``; a value that is
    not one of them is said in ``said`` and ignored."""
    value = (args.get(name) or "").strip()
    if not value or value in allowed:
        return value or default
    said.append(f"“{value[:40]}” is not a {name} this list knows; it was ignored.")
    return default


def day(args: Mapping[str, str], name: str, label: str, said: list[str]) -> date | None:
    """A date as ``YYYY-MM-DD`` (what a date input sends); anything else is said and ignored."""
    value = (args.get(name) or "").strip()
    if not value:
        return None
    try:
        if ISO_DATE.fullmatch(value):
            return date.fromisoformat(value)
    except ValueError:  # 2026-02-30
        pass
    said.append(f"“{value[:40]}” is not a date ({label}); it was ignored. Dates are like 2026-03-31.")
    return None
