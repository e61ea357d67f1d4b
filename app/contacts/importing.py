"""Importing contacts from a CSV file: stored at upload, previewed with its
mapping, then written by a job (``jobs.import_contacts``) in batches.

Each row updates the contact with its phone, else the one with its email,
else adds one; an empty cell changes nothing. A row whose phone is one
contact's and whose email another's updates the phone's contact and leaves
both emails as they were: an import never takes an address from a contact.
A batch's contacts, its failed rows and the import's counts and ``rows_done``
commit together, so an import whose worker died resumes where it stopped and
writes nothing twice.
"""

from __future__ import annotations

import io
import logging
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, TYPE_CHECKING, Any

from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy import delete, func, insert, select, update

from app import audit, exporting, jobqueue
from app.audit import Action
from app.contacts import csvfile, mapping, upsert
from app.contacts.models import ContactImport, ContactImportChunk, ContactImportFailure, ImportStatus
from app.extensions import db, redis
from app.formatting import number, size
from app.live.channel import import_channel, publish

if TYPE_CHECKING:
    from app.auth.models import User

log = logging.getLogger(__name__)

CHUNK_BYTES = 1024 * 1024
PREVIEW_ROWS = 10
# The preview checks this many rows for errors; the import checks every row.
SAMPLE_ROWS = 1_000
PROGRESS_EVENT = "progress"
# The last event of an import's stream: pages close it (``sse-close``).
FINISHED_EVENT = "finished"


class Refused(ValueError):
    """An upload that is not taken; the message says why. Nothing was written."""


# -- upload -------------------------------------------------------------------


def store(upload: IO[bytes], file_name: str, *, actor: User | None) -> ContactImport:
    """Check the uploaded file whole and keep it; the caller commits. Raises
    Refused, writing nothing, when it is too large or not a contacts CSV."""
    config = current_app.config
    upload.seek(0, io.SEEK_END)
    file_bytes = upload.tell()
    if file_bytes > config["IMPORT_MAX_BYTES"]:
        raise Refused(f"The file is {size(file_bytes)}, over the limit of {size(config['IMPORT_MAX_BYTES'])}.")
    try:
        found = csvfile.inspect(upload, config["IMPORT_MAX_ROWS"], mapping.has_address_column)
    except csvfile.NotACsv as error:
        raise Refused(str(error)) from None
    if found.over_limit:
        raise Refused(
            f"The file has more than {number(config['IMPORT_MAX_ROWS'])} rows, the most one import takes: "
            "split it into several files."
        )
    if len(found.header) > config["IMPORT_MAX_COLUMNS"]:
        raise Refused(
            f"The file has {number(len(found.header))} columns, over the {number(config['IMPORT_MAX_COLUMNS'])} "
            "one import takes: leave out the columns that are not needed."
        )
    if not found.rows:
        raise Refused("The file has a header but no rows under it.")
    contact_import = ContactImport(
        file_name=(file_name or "contacts.csv")[:255],
        file_bytes=file_bytes,
        encoding=found.encoding,
        delimiter=found.delimiter,
        header=found.header,
        mapping=mapping.automatic(found.header),
        total_rows=found.rows,
        created_by_id=actor.id if actor is not None else None,
    )
    db.session.add(contact_import)
    db.session.flush()
    upload.seek(0)
    seq = 0
    while chunk := upload.read(CHUNK_BYTES):
        db.session.execute(insert(ContactImportChunk), {"import_id": contact_import.id, "seq": seq, "data": chunk})
        seq += 1
    return contact_import


class StoredFile(io.RawIOBase):
    """The stored file read back as a stream, one chunk in memory at a time."""

    def __init__(self, import_id: int) -> None:
        self.import_id = import_id
        self.seq = 0
        self.pending = memoryview(b"")

    def readable(self) -> bool:
        return True

    def readinto(self, buffer: Any) -> int:
        if not self.pending:
            data = db.session.scalar(
                select(ContactImportChunk.data).where(
                    ContactImportChunk.import_id == self.import_id, ContactImportChunk.seq == self.seq
                )
            )
            # Nothing else happens in this session meanwhile: end the read's
            # transaction rather than hold its snapshot open for the whole import.
            db.session.commit()
            if data is None:
                return 0
            self.seq += 1
            self.pending = memoryview(data)
        count = min(len(buffer), len(self.pending))
        buffer[:count] = self.pending[:count]
        self.pending = self.pending[count:]
        return count


def stored_records(contact_import: ContactImport, skip: int = 0) -> Iterator[csvfile.Record]:
    """The stored file's header, then its records (after ``skip`` of them)."""
    binary = io.BufferedReader(StoredFile(contact_import.id), CHUNK_BYTES)
    return csvfile.records(csvfile.text_stream(binary, contact_import.encoding), contact_import.delimiter, skip=skip)


# -- preview and start -----------------------------------------------------------


@dataclass
class Preview:
    rows: list[mapping.Row] = field(default_factory=list)
    errors: list[mapping.Row] = field(default_factory=list)
    checked: int = 0
    # The first row's cells as they are in the file.
    first_cells: list[str] = field(default_factory=list)


def preview(contact_import: ContactImport, columns: list[str]) -> Preview:
    """The first rows as they will be stored with this mapping, and the
    errors in the first SAMPLE_ROWS rows."""
    found = Preview()
    keys = mapping.attribute_keys(contact_import.header)
    region = current_app.config["DEFAULT_REGION"]
    records = stored_records(contact_import)
    next(records, None)
    for record in records:
        row = mapping.read_row(record.line, record.cells, contact_import.header, columns, keys, region)
        if not found.rows:
            found.first_cells = record.cells
        if len(found.rows) < PREVIEW_ROWS:
            found.rows.append(row)
        if row.error:
            found.errors.append(row)
        found.checked += 1
        if found.checked >= SAMPLE_ROWS:
            break
    return found


def start(contact_import: ContactImport, columns: list[str]) -> bool:
    """Queue the import with this mapping; False if it was started already.
    The caller commits, then enqueues (``app.jobqueue.enqueue_import``)."""
    started = db.session.execute(
        update(ContactImport)
        .where(ContactImport.id == contact_import.id, ContactImport.status == ImportStatus.UPLOADED)
        .values(status=ImportStatus.QUEUED, mapping=columns, heartbeat_at=func.now())
    )
    return started.rowcount == 1  # type: ignore[attr-defined]


def try_again(contact_import: ContactImport) -> bool:
    """Queue a stopped import again; it resumes after its last committed row."""
    queued = db.session.execute(
        update(ContactImport)
        .where(ContactImport.id == contact_import.id, ContactImport.status == ImportStatus.FAILED)
        .values(status=ImportStatus.QUEUED, error="", heartbeat_at=func.now())
    )
    return queued.rowcount == 1  # type: ignore[attr-defined]


def requeue_stalled() -> list[int]:
    """Queue again each import queued or running whose heartbeat stopped
    IMPORT_STALL_SECONDS ago (a killed worker, a lost job), once its heartbeat's
    move is committed; returns their ids. The reconciler's periodic task. A
    second job for one still running is harmless: only one can write each
    batch (``upsert.Taken``)."""
    import_ids = list(
        db.session.scalars(
            update(ContactImport)
            .where(
                ContactImport.status.in_([ImportStatus.QUEUED, ImportStatus.RUNNING]),
                ContactImport.heartbeat_at
                < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, current_app.config["IMPORT_STALL_SECONDS"]),
            )
            .values(heartbeat_at=func.now())
            .returning(ContactImport.id)
        )
    )
    db.session.commit()
    for import_id in import_ids:
        jobqueue.enqueue_import(import_id)
    return import_ids


def forget_unstarted() -> list[int]:
    """Remove the uploads whose import was never started IMPORT_UNSTARTED_HOURS
    after they were uploaded, with their file (its chunks go with the row):
    a file staff looked at and left holds up to IMPORT_MAX_BYTES for nothing.
    The reconciler's hourly task; the caller commits."""
    seconds = current_app.config["IMPORT_UNSTARTED_HOURS"] * 3600
    return list(
        db.session.scalars(
            delete(ContactImport)
            .where(
                ContactImport.status == ImportStatus.UPLOADED,
                ContactImport.created_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds),
            )
            .returning(ContactImport.id)
        )
    )


# -- the job ----------------------------------------------------------------------


def run(import_id: int) -> str:
    """Import every row not yet done; returns a one-line summary for RQ's log.

    Runs in the worker's app context. An error stops the import, saying why
    on its page; Try again resumes it.
    """
    claimed = db.session.execute(
        update(ContactImport)
        .where(
            ContactImport.id == import_id,
            ContactImport.status.in_([ImportStatus.QUEUED, ImportStatus.RUNNING]),
        )
        .values(
            status=ImportStatus.RUNNING,
            started_at=func.coalesce(ContactImport.started_at, func.now()),
            error="",
            heartbeat_at=func.now(),
        )
    )
    db.session.commit()
    if claimed.rowcount != 1:  # type: ignore[attr-defined]
        return f"import {import_id}: nothing to do"
    try:
        contact_import = db.session.get_one(ContactImport, import_id)
        _import_rows(contact_import)
        return _finish(import_id)
    except upsert.Taken:
        db.session.rollback()
        return f"import {import_id}: another job has it"
    except Exception as error:
        # Recorded with its reason and shown on the import's page; RQ logs it too.
        db.session.rollback()
        db.session.execute(
            update(ContactImport)
            .where(ContactImport.id == import_id)
            .values(status=ImportStatus.FAILED, error=f"{type(error).__name__}: {error}"[:2000])
        )
        db.session.commit()
        _publish(import_id, FINISHED_EVENT, "failed")
        raise


def _import_rows(contact_import: ContactImport) -> None:
    """Read and check rows here while a writer thread writes the batch before:
    on two cores the checking (phone and email rules, in Python) and the
    writing (PostgreSQL) then take about as long as the slower of them."""
    config = current_app.config
    batch_size = config["IMPORT_BATCH_ROWS"]
    header, columns = contact_import.header, contact_import.mapping
    keys = mapping.attribute_keys(header)
    region = config["DEFAULT_REGION"]
    import_id = contact_import.id
    records = stored_records(contact_import, skip=contact_import.rows_done)
    next(records, None)
    writer = upsert.BatchWriter(
        current_app._get_current_object(),  # type: ignore[attr-defined]
        import_id,
        contact_import.rows_done,
        # Called on the writer's thread: nothing of this thread's session in it.
        progress=lambda done: _publish(import_id, PROGRESS_EVENT, str(done)),
        interval=1 / config["LIVE_UPDATES_PER_SECOND"],
    )
    db.session.commit()
    batch: list[tuple[mapping.Row, list[str]]] = []
    with writer:
        for record in records:
            batch.append((mapping.read_row(record.line, record.cells, header, columns, keys, region), record.cells))
            if len(batch) >= batch_size:
                writer.put(batch)
                batch = []
        if batch:
            writer.put(batch)


def _finish(import_id: int) -> str:
    """Done: the file goes, and the history says who imported what."""
    db.session.execute(
        update(ContactImport)
        .where(ContactImport.id == import_id)
        .values(status=ImportStatus.DONE, finished_at=func.now())
    )
    db.session.execute(delete(ContactImportChunk).where(ContactImportChunk.import_id == import_id))
    contact_import = db.session.get_one(ContactImport, import_id, populate_existing=True)
    summary = counts_said(contact_import)
    audit.record(
        Action.CONTACTS_IMPORTED,
        actor=contact_import.created_by,
        detail=f"import #{import_id}, {contact_import.file_name}: {summary}",
        webhook_data={
            "import": {
                "id": import_id,
                "file_name": contact_import.file_name,
                "rows": contact_import.rows_done,
                "created": contact_import.created_count,
                "updated": contact_import.updated_count,
                "failed": contact_import.failed_count,
                "opted_out": contact_import.opted_out_count,
            }
        },
    )
    db.session.commit()
    _publish(import_id, PROGRESS_EVENT, str(contact_import.rows_done))
    _publish(import_id, FINISHED_EVENT, "done")
    return f"import {import_id}: {summary}"


def counts_said(contact_import: ContactImport) -> str:
    """``3 created, 1 updated, 1 failed`` (``, 2 opted out`` when the file opted any out)."""
    said = (
        f"{number(contact_import.created_count)} created, {number(contact_import.updated_count)} updated, "
        f"{number(contact_import.failed_count)} failed"
    )
    if contact_import.opted_out_count:
        said += f", {number(contact_import.opted_out_count)} opted out"
    return said


def _publish(import_id: int, event: str, data: str) -> None:
    try:
        publish(redis.client, import_channel(import_id), data, type=event)
    except RedisError as error:
        # The page catches up when its stream opens again, or on a reload.
        log.warning("import %s: progress not shown live: %s", import_id, error)


# -- the failed rows --------------------------------------------------------------


def failed_rows_csv(contact_import: ContactImport) -> Iterator[str]:
    """The failed rows as a CSV file (``app.exporting``'s rule): line, reason,
    then the row's cells under the file's own header."""
    failures = db.session.scalars(
        select(ContactImportFailure)
        .where(ContactImportFailure.import_id == contact_import.id)
        .order_by(ContactImportFailure.line)
        .execution_options(yield_per=1000)
    )
    header = ["line", "reason", *contact_import.header]
    yield from exporting.lines(header, ([failure.line, failure.reason, *failure.raw] for failure in failures))


def failures(contact_import: ContactImport, limit: int = 20) -> list[ContactImportFailure]:
    return list(
        db.session.scalars(
            select(ContactImportFailure)
            .where(ContactImportFailure.import_id == contact_import.id)
            .order_by(ContactImportFailure.line)
            .limit(limit)
        )
    )


def recent(limit: int = 50) -> list[ContactImport]:
    return list(db.session.scalars(select(ContactImport).order_by(ContactImport.id.desc()).limit(limit)))
