"""Reading an uploaded contacts file: its encoding, its delimiter, its header,
and its records with the line each starts on.

A file is read as a stream of bytes, never whole: the web side checks an
upload with it, and the import job reads the stored file with it, a million
rows in constant memory. Line numbers are the file's physical lines, the
header being line 1, so a quoted cell holding a line break still gives its
record the line a spreadsheet or text editor shows.
"""

import csv
import io
from collections.abc import Iterator
from dataclasses import dataclass
from typing import IO

from app.formatting import number

DELIMITERS = (",", ";", "\t")
DELIMITER_NAMES = {",": "comma", ";": "semicolon", "\t": "tab"}
# UTF-8 (a byte-order mark or not), else what Excel on Windows writes, else
# Latin-1, which reads any byte.
ENCODINGS = ("utf-8-sig", "cp1252", "latin-1")
ENCODING_NAMES = {"utf-8-sig": "UTF-8", "cp1252": "Windows-1252 (Latin-1)", "latin-1": "Latin-1"}
# How much of the file's start decides its delimiter.
HEAD_BYTES = 64 * 1024
# What other files start with, and what to say about them.
SIGNATURES = {
    b"\x89PNG": "a PNG image",
    b"\xff\xd8\xff": "a JPEG image",
    b"GIF8": "a GIF image",
    b"%PDF": "a PDF document",
    b"PK\x03\x04": "a zip archive, such as an Excel workbook (.xlsx): save it as CSV from the spreadsheet first",
    b"\xd0\xcf\x11\xe0": "an old Excel workbook (.xls): save it as CSV from the spreadsheet first",
}
# The csv module refuses a field longer than this; a cell that long is not a contact's.
FIELD_LIMIT = 1024 * 1024
csv.field_size_limit(FIELD_LIMIT)


class NotACsv(ValueError):
    """The file cannot be read as a CSV; the message says why, in the user's terms."""


@dataclass
class Inspection:
    encoding: str
    delimiter: str
    header: list[str]
    # Records after the header, blank ones aside.
    rows: int = 0
    over_limit: bool = False


@dataclass(frozen=True)
class Record:
    line: int
    cells: list[str]


def text_stream(binary: IO[bytes], encoding: str) -> io.TextIOWrapper:
    """The file's text, with line endings as they are (csv wants ``newline=""``)."""
    return io.TextIOWrapper(binary, encoding=encoding, newline="")


def records(text: IO[str], delimiter: str, skip: int = 0) -> Iterator[Record]:
    """The header, then each record with the line it starts on; blank records
    (no cell with anything in it) are left out. ``skip`` leaves out that many
    records after the header (a resumed import), reading them still."""
    reader = csv.reader(text, delimiter=delimiter)
    start = 1
    seen_header = False
    try:
        for cells in reader:
            line, start = start, reader.line_num + 1
            if not any(cell.strip() for cell in cells):
                continue
            cells = [cell.replace("\x00", "") for cell in cells]
            if not seen_header:
                seen_header = True
            elif skip:
                skip -= 1
                continue
            yield Record(line, cells)
    except csv.Error as error:
        raise NotACsv(f"Line {number(reader.line_num)} cannot be read as CSV ({error}).") from None


def _delimiter(head: str) -> str | None:
    """The delimiter that splits the first line into the most columns, when
    one splits it at all; ties go to the comma, then the semicolon."""
    best, columns = None, 1
    for delimiter in DELIMITERS:
        try:
            header = next(csv.reader(io.StringIO(head, newline=""), delimiter=delimiter), [])
        except csv.Error:
            continue
        if len(header) > columns:
            best, columns = delimiter, len(header)
    return best


def inspect(binary: IO[bytes], max_rows: int, single_column_ok) -> Inspection:
    """Read the whole file once: its encoding, delimiter, header and how many
    rows it has (counting stops past ``max_rows``). Raises NotACsv.

    ``binary`` must be seekable: a file that is not UTF-8 is read again in the
    next encoding. ``single_column_ok(header)`` says whether a file with no
    delimiter is still a contacts list (a lone phone or email column).
    """
    binary.seek(0)
    start = binary.read(HEAD_BYTES)
    if not start.strip():
        raise NotACsv("The file is empty.")
    for signature, what in SIGNATURES.items():
        if start.startswith(signature):
            raise NotACsv(f"This is not a CSV file: it looks like {what}.")
    if b"\x00" in start:
        raise NotACsv("This is not a CSV file: it holds binary data (NUL bytes), not text.")
    for encoding in ENCODINGS:
        try:
            return _inspect_as(binary, encoding, start, max_rows, single_column_ok)
        except UnicodeDecodeError:
            continue
    raise NotACsv("The file's text could not be read in UTF-8 or Latin-1.")  # latin-1 reads any byte


def _inspect_as(binary: IO[bytes], encoding: str, start: bytes, max_rows: int, single_column_ok) -> Inspection:
    head = start.decode(encoding, errors="ignore")
    delimiter = _delimiter(head)
    binary.seek(0)
    text = text_stream(binary, encoding)
    try:
        found = records(text, delimiter or ",")
        header_record = next(found, None)
        if header_record is None:
            raise NotACsv("The file is empty.")
        header = [cell.strip() for cell in header_record.cells]
        if delimiter is None and not single_column_ok(header):
            raise NotACsv(
                "This does not read as a CSV file: no comma, semicolon or tab separates columns on its first line, "
                "and its one column is not a phone or email column."
            )
        inspection = Inspection(encoding, delimiter or ",", header)
        for _ in found:
            inspection.rows += 1
            if inspection.rows > max_rows:
                inspection.over_limit = True
                break
        return inspection
    finally:
        text.detach()
