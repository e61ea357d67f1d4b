"""Understanding a pasted recipient list: one ``Name, Email or Phone`` per line."""

import csv
import re
from dataclasses import dataclass, field

from app.addresses import is_phone, normalize_email, normalize_phone
from app.campaigns.models import MAX_ADDRESS, MAX_NAME, Channel
from app.formatting import plural


@dataclass(frozen=True)
class ParsedRecipient:
    line: int
    name: str
    address: str
    address_normalized: str


@dataclass(frozen=True)
class LineError:
    line: int
    message: str

    def __str__(self) -> str:
        return f"Line {self.line}: {self.message}"


@dataclass
class ParseResult:
    recipients: list[ParsedRecipient] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    # Lines dropped because an earlier line has the same normalized address.
    duplicate_lines: list[int] = field(default_factory=list)
    over_limit: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and self.over_limit is None

    def summary(self) -> str:
        """``42 valid recipients, 3 lines with errors, 2 duplicates removed.``"""
        parts = [plural(len(self.recipients), "valid recipient")]
        if self.errors:
            parts.append(plural(len(self.errors), "line") + " with errors")
        if self.duplicate_lines:
            parts.append(plural(len(self.duplicate_lines), "duplicate") + " removed")
        return ", ".join(parts) + "."


def parse_recipients(text: str, channel: Channel, region: str, limit: int) -> ParseResult:
    """Parse every line, keeping valid recipients and a per-line error for the rest.

    A paste with more than ``limit`` non-blank lines is refused whole: its
    ``over_limit`` holds the count and nothing else is parsed.
    """
    result = ParseResult()
    lines = text.splitlines()
    non_blank = sum(1 for raw in lines if raw.strip())
    if non_blank > limit:
        result.over_limit = non_blank
        return result

    seen: dict[str, int] = {}
    for number, raw in enumerate(lines, start=1):
        # PostgreSQL text cannot hold NUL; it is never part of a name or address.
        stripped = raw.replace("\x00", "").strip()
        if not stripped:
            continue
        try:
            name, address = split_line(stripped)
            check_lengths(name, address)
            normalized = normalize_address(address, channel, region)
        except ValueError as error:
            result.errors.append(LineError(number, str(error)))
            continue
        if normalized in seen:
            result.duplicate_lines.append(number)
            continue
        seen[normalized] = number
        result.recipients.append(ParsedRecipient(number, name, address, normalized))
    return result


def split_line(line: str) -> tuple[str, str]:
    """Split ``Name, Address`` at the first comma (or tab, as pasted from a
    spreadsheet); a bare address has an empty name. A name in double quotes
    may itself hold commas."""
    if line.startswith('"'):
        fields = next(csv.reader([line], skipinitialspace=True))
    else:
        fields = re.split(r"\s*[,\t]\s*", line, maxsplit=1)
    # Trailing separators (``Ann, ann@example.com,,``) come with spreadsheet exports.
    fields = [f.strip(" \t,") for f in fields]
    fields = [f for i, f in enumerate(fields) if f or i == 0]
    if not fields[-1]:
        raise ValueError(f'"{line}" has no email or phone')
    if len(fields) == 1:
        return "", fields[0]
    if len(fields) > 2 or re.search(r"[,\t]", fields[1]):
        raise ValueError(f'"{line}" has more than a name and one address; expected "Name, Email or Phone"')
    return fields[0], fields[1]


def check_lengths(name: str, address: str) -> None:
    """The columns' sizes, said in the user's terms before the database says it worse."""
    if len(name) > MAX_NAME:
        raise ValueError(f"the name is {len(name):,} characters long; at most {MAX_NAME} fit")
    if len(address) > MAX_ADDRESS:
        raise ValueError(f"the address is {len(address):,} characters long; at most {MAX_ADDRESS} fit")


def normalize_address(address: str, channel: Channel, region: str) -> str:
    looks_like_email = "@" in address
    if channel.uses_phone:
        if looks_like_email:
            raise ValueError(f'"{address}" is an email address, but this is {channel.label_with_article} campaign')
        return normalize_phone(address, region)
    if not looks_like_email and is_phone(address, region):
        raise ValueError(f'"{address}" is a phone number, but this is an email campaign')
    return normalize_email(address)
