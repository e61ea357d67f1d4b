"""Understanding a pasted recipient list: one ``Name, Email or Phone`` per line.

What spreadsheets and address books give is understood too: tab-separated
columns (the tab is then the separator, and commas belong to the name), CSV
quoting (``"Hopper, Grace"``, doubled quotes inside), ``Name <email>``, and a
header row, which is skipped and said so.
"""

import csv
import re
from dataclasses import dataclass, field

from app.formatting import number, plural, quote
from app.messaging.addresses import MAX_ADDRESS, normalize_address
from app.messaging.channels import Channel
from app.messaging.names import MAX_NAME

# The words of a header row's cells, lower-cased: a first line made only of
# these is a header, not a recipient.
HEADER_WORDS = {
    "name", "full name", "first name", "last name", "contact", "recipient", "recipients",
    "email", "e-mail", "email address", "e-mail address", "mail",
    "phone", "phone number", "mobile", "mobile number", "cell", "msisdn", "number", "telephone", "tel",
    "address", "whatsapp",
}  # fmt: skip


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


@dataclass(frozen=True)
class Duplicate:
    line: int
    # The line whose address this one repeats.
    of_line: int


@dataclass
class ParseResult:
    recipients: list[ParsedRecipient] = field(default_factory=list)
    errors: list[LineError] = field(default_factory=list)
    # Lines dropped because an earlier line has the same normalized address.
    duplicates: list[Duplicate] = field(default_factory=list)
    # The line skipped as a header row ("Name, Phone"), if there was one.
    header_line: int | None = None
    over_limit: int | None = None

    @property
    def ok(self) -> bool:
        return not self.errors and self.over_limit is None

    @property
    def duplicate_lines(self) -> list[int]:
        return [d.line for d in self.duplicates]

    def summary(self) -> str:
        """``42 valid recipients, 3 lines with errors, 2 duplicates removed.``"""
        parts = [plural(len(self.recipients), "valid recipient")]
        if self.errors:
            parts.append(plural(len(self.errors), "line") + " with errors")
        if self.duplicates:
            parts.append(plural(len(self.duplicates), "duplicate") + " removed")
        if self.header_line is not None:
            parts.append(f"line {self.header_line} skipped as a header row")
        return ", ".join(parts) + "."

    def duplicates_said(self, most: int = 10) -> str:
        """``Line 5 repeats line 2; line 9 repeats line 2.`` (the first ``most``)."""
        said = "; ".join(f"line {d.line} repeats line {d.of_line}" for d in self.duplicates[:most])
        more = len(self.duplicates) - most
        return (said[0].upper() + said[1:] + (f"; and {number(more)} more" if more > 0 else "") + ".") if said else ""


def parse_recipients(text: str, channel: Channel, region: str, limit: int, *, line_max: int) -> ParseResult:
    """Parse every line, keeping valid recipients and a per-line error for the rest.

    A paste with more than ``limit`` non-blank lines is refused whole: its
    ``over_limit`` holds the count and nothing else is parsed. A line longer
    than ``line_max`` characters is an error, and is not read any further.
    """
    result = ParseResult()
    lines = text.splitlines()
    non_blank = sum(1 for raw in lines if raw.strip())
    if non_blank > limit:
        result.over_limit = non_blank
        return result

    seen: dict[str, int] = {}
    first = True
    for line_number, raw in enumerate(lines, start=1):
        # PostgreSQL text cannot hold NUL; it is never part of a name or address.
        stripped = raw.replace("\x00", "").strip()
        if not stripped:
            continue
        too_long = len(stripped) > line_max
        if first:
            first = False
            if not too_long and is_header(stripped):
                result.header_line = line_number
                continue
        try:
            if too_long:
                raise ValueError(
                    f"{quote(stripped)} is too long for one recipient line; at most {number(line_max)} characters fit"
                )
            name, address = split_line(stripped)
            check_lengths(name, address)
            normalized = normalize_address(address, channel, region)
        except ValueError as error:
            result.errors.append(LineError(line_number, str(error)))
            continue
        if normalized in seen:
            result.duplicates.append(Duplicate(line_number, seen[normalized]))
            continue
        seen[normalized] = line_number
        result.recipients.append(ParsedRecipient(line_number, name, address, normalized))
    return result


def _fields(line: str) -> list[str]:
    """The line's cells: tab-separated when it has a tab, else split at the
    first comma; CSV quoting either way (a quoted name may hold commas)."""
    if "\t" in line:
        return next(csv.reader([line], delimiter="\t", skipinitialspace=True))
    if line.startswith('"'):
        return next(csv.reader([line], skipinitialspace=True))
    # Not re.split(r"\s*,\s*"): on a long run of spaces that backtracks, in
    # time growing with the square of the run.
    name, comma, rest = line.partition(",")
    return [name.rstrip(), rest.lstrip()] if comma else [line]


def is_header(line: str) -> bool:
    cells = [cell.strip().strip('"').strip().lower() for cell in re.split(r"[,;\t]", line)]
    cells = [cell for cell in cells if cell]
    return bool(cells) and all(cell in HEADER_WORDS for cell in cells)


def _name_and_email(line: str) -> tuple[str, str] | None:
    """``Name <email>`` as its two parts: what is before the last ``<``, and what
    is between it and the closing ``>`` (neither ``<`` nor ``>``, not empty).

    String search, not a regular expression: ``(.*?)\\s*<`` backtracks over a
    long run of spaces, in time growing with the square of the line."""
    if not line.endswith(">"):
        return None
    opening = line.rfind("<", 0, len(line) - 1)
    inside = line[opening + 1 : -1]
    if opening < 0 or not inside or ">" in inside:
        return None
    return line[:opening], inside


def split_line(line: str) -> tuple[str, str]:
    """``Name, Address``, ``Name<TAB>Address`` or ``Name <email>``; a bare
    address has an empty name."""
    if parts := _name_and_email(line):
        name = parts[0].strip().strip(",").strip()
        if name.startswith('"') and name.endswith('"') and len(name) > 1:
            name = name[1:-1].replace('""', '"')
        return name, parts[1].strip()
    tabbed = "\t" in line
    # Trailing separators (``Ann, ann@example.com,,``) come with spreadsheet exports.
    fields = [f.strip() if tabbed else f.strip(" ,") for f in _fields(line)]
    while len(fields) > 1 and not fields[-1]:
        fields.pop()
    # ``Zed,``: a name, and nothing where the address goes.
    alone = len(fields) == 1 and (tabbed or "," in line) and not re.search(r"[\d@]", fields[0])
    if not fields[-1] or alone:
        raise ValueError(f"{quote(line)} has no email or phone")
    if len(fields) == 1:
        return "", fields[0]
    if len(fields) > 2 or (not tabbed and re.search(r"[,\t]", fields[1])):
        columns = " columns" if tabbed else ""
        raise ValueError(
            f'{quote(line)} has more{columns} than a name and one address; expected "Name, Email or Phone"'
        )
    return fields[0], fields[1]


def check_lengths(name: str, address: str) -> None:
    """The columns' sizes, said in the user's terms before the database says it worse."""
    if len(name) > MAX_NAME:
        raise ValueError(f"the name is {number(len(name))} characters long; at most {MAX_NAME} fit")
    if len(address) > MAX_ADDRESS:
        raise ValueError(f"the address is {number(len(address))} characters long; at most {MAX_ADDRESS} fit")
