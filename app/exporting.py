"""CSV files going out: the one rule every download is written by.

A file is UTF-8 with a byte-order mark, so that a spreadsheet reads accents
and Cyrillic as they are; a cell a spreadsheet would run as a formula (one
starting with ``=``, ``+``, ``-``, ``@``, a tab or a carriage return: CSV
injection, OWASP) gets a ``'`` in front, whatever its column, so it is shown,
not run. Times are ISO 8601 in UTC.

Rows are written as they are read, a chunk at a time, from a server-side
cursor: a million rows hold no more memory than a thousand. When the rows run
out, or the client goes away, the read ends and ``record`` is called in a
short transaction of its own, with how many rows went out.
"""

import csv
import io
import re
import unicodedata
from collections.abc import Callable, Generator, Iterable, Iterator, Sequence
from datetime import UTC, date, datetime
from typing import Any
from urllib.parse import quote

from flask import Response, stream_with_context

from app.extensions import db
from app.formatting import plural

BOM = "\ufeff"
FORMULA_START = ("=", "+", "-", "@", "\t", "\r")
# Rows a server-side cursor fetches at once.
FETCH_ROWS = 1_000
# A chunk of the file is handed to the server once it is about this long.
CHUNK_CHARS = 64 * 1024
# A file name's words, at most this many characters, before its date.
NAME_CHARS = 60

# Called once the rows are read, or the client went away: how many rows went out, and whether that was all.
Record = Callable[[int, bool], None]


def neutralised(cell: str) -> str:
    """A cell as it goes out: one a spreadsheet would run as a formula gets a
    ' in front, so it is shown, not run."""
    return "'" + cell if cell.startswith(FORMULA_START) else cell


def cell(value: Any) -> str:
    """A value as a cell: nothing is empty, a time is ISO 8601 in UTC."""
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat(timespec="seconds").replace("+00:00", "Z")
    return neutralised(value if isinstance(value, str) else str(value))


def lines(header: Sequence[str], rows: Iterable[Sequence[Any]]) -> Generator[str]:
    """The file's text in chunks: the byte-order mark and the header at once,
    then the rows, each cell by ``cell``."""
    out = io.StringIO()
    writer = csv.writer(out)

    def taken() -> str:
        text = out.getvalue()
        out.seek(0)
        out.truncate()
        return text

    writer.writerow([cell(name) for name in header])
    yield BOM + taken()
    for row in rows:
        writer.writerow([cell(value) for value in row])
        if out.tell() >= CHUNK_CHARS:
            yield taken()
    if out.tell():
        yield taken()


def streamed(header: Sequence[str], rows: Iterable[Sequence[Any]], record: Record) -> Iterator[bytes]:
    """The file's bytes, counting the rows that go out; ``record(rows, complete)``
    once they are done.

    If the client goes away mid-file (a cancelled download, a closed tab), the
    server closes this generator at the chunk it could not send: the rows
    handed over until then are recorded, ``complete`` False, so the history
    still says who took how much. An error reading the rows is not recorded:
    the database that failed could not record it either, and the log has it.
    """
    sent = 0

    def tallied() -> Iterator[Sequence[Any]]:
        nonlocal sent
        for row in rows:
            sent += 1
            yield row

    chunks = lines(header, tallied())
    try:
        for chunk in chunks:
            yield chunk.encode()
    except GeneratorExit:
        # The rows, and with them their cursor, are closed while its transaction is still open.
        chunks.close()
        if isinstance(rows, Generator):
            rows.close()
        _finish(record, sent, complete=False)
        raise
    _finish(record, sent, complete=True)


def _finish(record: Record, rows: int, *, complete: bool) -> None:
    # The read's transaction ends first, closing its cursor: the record is a short transaction of its own.
    db.session.rollback()
    record(rows, complete)
    db.session.commit()


def read(query: Any) -> Iterator[Any]:
    """A query's rows from a server-side cursor, FETCH_ROWS at a time; it runs
    when the first row is asked for."""
    result = db.session.execute(query.execution_options(yield_per=FETCH_ROWS))
    try:
        yield from result
    finally:
        result.close()


def slug(title: str) -> str:
    """``Été à Nairobi!`` → ``été-à-nairobi``: letters (any script) and digits,
    lower-case, joined by ``-``."""
    words = re.sub(r"[\W_]+", "-", unicodedata.normalize("NFC", title).lower()).strip("-")
    return words[:NAME_CHARS].rstrip("-")


def filename(name: str, day: date) -> str:
    """``spring-sale-2026-12-05.csv``: a name (slugified) and the day it was taken."""
    words = slug(name)
    return f"{words}-{day.isoformat()}.csv" if words else f"{day.isoformat()}.csv"


def disposition(name: str) -> str:
    """``Content-Disposition`` for a download named ``name``: plain ASCII as
    ``filename``, and when the name is not ASCII, the name itself as
    ``filename*`` (RFC 5987, UTF-8), which browsers prefer."""
    plain = unicodedata.normalize("NFKD", name).encode("ascii", "ignore").decode()
    plain = re.sub(r"-{2,}", "-", re.sub(r"[^A-Za-z0-9._-]+|^[.-]+", "-", plain)).strip("-") or "export.csv"
    if plain == name:
        return f'attachment; filename="{name}"'
    return f"attachment; filename=\"{plain}\"; filename*=UTF-8''{quote(name, safe='')}"


def counted(rows: int, noun: str, *, complete: bool) -> str:
    """How many rows went out, as the history says it: ``1,234 recipients``,
    or ``only 1,000 recipients: the download stopped`` when the client went away."""
    return plural(rows, noun) if complete else f"only {plural(rows, noun)}: the download stopped"


def download(header: Sequence[str], rows: Iterable[Sequence[Any]], name: str, record: Record) -> Response:
    """A CSV file named ``name`` of ``rows`` under ``header``, streamed as it
    is read; ``record(rows, complete)`` at its end (``streamed``)."""
    return response(streamed(header, rows, record), name)


def response(chunks: Iterator[bytes], name: str) -> Response:
    """A download of ``chunks``, streamed as they come, within the request's
    context (the session the rows are read with stays open until the last)."""
    return Response(
        stream_with_context(chunks),
        mimetype="text/csv",
        headers={
            "Content-Disposition": disposition(name),
            "Cache-Control": "no-store",
            "X-Content-Type-Options": "nosniff",
        },
    )
