"""Writing a batch of imported rows: each row updates the contact with its
phone, else the one with its email, else adds one, in one transaction with the
import's counts and ``rows_done``; and the thread that writes batches while
the next is read."""

from __future__ import annotations

import json
import queue
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from flask import Flask
from sqlalchemy import func, select, text, update
from sqlalchemy.exc import IntegrityError

from app.contacts import mapping
from app.contacts.models import ContactImport, ImportStatus
from app.extensions import db
from app.optouts import registry as opt_outs
from app.optouts.models import Source

# A batch that meets a contact added meanwhile by someone else is read again.
BATCH_ATTEMPTS = 3
Batch = list[tuple[mapping.Row, list[str]]]


class Taken(Exception):
    """Another job moved the import on, or it is no longer running: this one stops."""


class Raced(Exception):
    """A contact the batch meant to add was added meanwhile: read the batch again."""


class BatchWriter:
    """Writes batches, in order, on a thread with its own app context (and so
    its own session), each committed before the next; progress is reported
    at most every ``interval`` seconds. Used as a context manager: leaving it
    waits for the last batch, and raises what stopped the writing, if anything."""

    def __init__(self, app: Flask, import_id: int, done: int, progress: Callable[[int], None], interval: float) -> None:
        self.app, self.import_id, self.done = app, import_id, done
        self.progress, self.interval = progress, interval
        # One batch waiting while one is written: memory stays two batches.
        self.batches: queue.Queue[Batch | None] = queue.Queue(maxsize=1)
        self.error: BaseException | None = None
        self.thread = threading.Thread(target=self._run, name=f"import-{import_id}-writer", daemon=True)

    def __enter__(self) -> BatchWriter:
        self.thread.start()
        return self

    def put(self, batch: Batch | None) -> None:
        while True:
            if self.error is not None:
                raise self.error
            try:
                self.batches.put(batch, timeout=0.5)
                return
            except queue.Full:
                continue

    def __exit__(self, kind, error, traceback) -> None:
        if error is None:
            self.put(None)
        else:
            self.error = self.error or error  # the writer stops at its next batch
            self._drain()
        self.thread.join()
        if error is None and self.error is not None:
            raise self.error

    def _drain(self) -> None:
        while True:
            try:
                self.batches.get_nowait()
            except queue.Empty:
                break
        self.batches.put(None)

    def _run(self) -> None:
        published_at = 0.0
        with self.app.app_context():
            try:
                while (batch := self.batches.get()) is not None and self.error is None:
                    self._write(batch)
                    if time.monotonic() - published_at >= self.interval:
                        published_at = time.monotonic()
                        self.progress(self.done)
            except BaseException as error:  # handed to the reading thread, which raises it
                db.session.rollback()
                self.error = error
            finally:
                db.session.remove()

    def _write(self, batch: Batch) -> None:
        for attempt in range(1, BATCH_ATTEMPTS + 1):
            try:
                write_batch(self.import_id, self.done, batch)
                db.session.commit()
                break
            except (IntegrityError, Raced):
                db.session.rollback()
                if attempt == BATCH_ATTEMPTS:
                    raise
        self.done += len(batch)


@dataclass
class _Target:
    """A contact a batch writes to: one that exists (``id``) or one it adds."""

    id: int | None
    phone: str | None
    email: str | None
    changes: dict[str, Any] = field(default_factory=dict)
    attributes: dict[str, str] = field(default_factory=dict)
    touched: bool = False
    opt_out: bool = False


def write_batch(import_id: int, done: int, batch: list[tuple[mapping.Row, list[str]]]) -> None:
    """Write one batch and move the import's counts on, in the caller's transaction."""
    position = db.session.scalar(
        select(ContactImport.rows_done)
        .where(ContactImport.id == import_id, ContactImport.status == ImportStatus.RUNNING)
        .with_for_update()
    )
    if position != done:
        raise Taken()
    good = [row for row, _ in batch if not row.error]
    phones = sorted({row.phone for row in good if row.phone})
    emails = sorted({row.email for row in good if row.email})
    existing = db.session.execute(
        text("SELECT id, phone, email FROM contacts WHERE phone = ANY(:phones) UNION "
             "SELECT id, phone, email FROM contacts WHERE email = ANY(:emails)"),
        {"phones": phones, "emails": emails},
    ).all()  # fmt: skip
    by_phone: dict[str, _Target] = {}
    by_email: dict[str, _Target] = {}
    for contact_id, phone, email in existing:
        target = _Target(contact_id, phone, email)
        if phone:
            by_phone[phone] = target
        if email:
            by_email[email] = target
    # Addresses an existing contact gives up in this batch: another existing
    # contact may not take them in the same statement (unique indexes are
    # checked row by row); a contact added after the updates may.
    released: set[str] = set()
    touched: list[_Target] = []
    created = updated = 0
    for row in good:
        found = (by_phone.get(row.phone) if row.phone else None) or (by_email.get(row.email) if row.email else None)
        target = found or _Target(None, None, None)
        if found is None:
            created += 1
        else:
            updated += 1
        if not target.touched:
            target.touched = True
            touched.append(target)
        fields = dict(row.fields)
        for name, index in (("phone", by_phone), ("email", by_email)):
            value = fields.pop(name, None)
            current = getattr(target, name)
            if value is None or value == current:
                continue
            owner = index.get(value)
            if (owner is not None and owner is not target) or (target.id is not None and value in released):
                continue  # another contact's: this one keeps its own
            if current is not None:
                del index[current]
                if target.id is not None:
                    released.add(current)
            index[value] = target
            setattr(target, name, value)
            target.changes[name] = value
        target.changes.update(fields)
        target.attributes.update(row.attributes)
        target.opt_out = target.opt_out or row.opt_out

    updates = [_record(t) | {"id": t.id} for t in touched if t.id is not None]
    additions = [_record(t) | {"phone": t.phone, "email": t.email} for t in touched if t.id is None]
    if updates:
        db.session.execute(text(UPDATE_CONTACTS), {"rows": json.dumps(updates)})
    members = [t.id for t in touched if t.id is not None]
    if additions:
        added = db.session.execute(text(ADD_CONTACTS), {"rows": json.dumps(additions)}).scalars().all()
        if len(added) != len(additions):
            raise Raced()
        members += added
    db.session.execute(text(ADD_MEMBERS), {"import_id": import_id, "ids": members})
    opted_out = opt_outs.add_many(
        [(channel, t.phone) for t in touched if t.opt_out and t.phone for channel in ("sms", "whatsapp")]
        + [("email", t.email) for t in touched if t.opt_out and t.email],
        Source.IMPORT,
        note=f"import {import_id}",
    )
    failures = [{"line": row.line, "reason": row.error, "raw": cells} for row, cells in batch if row.error]
    if failures:
        db.session.execute(text(ADD_FAILURES), {"import_id": import_id, "rows": json.dumps(failures)})
    db.session.execute(
        update(ContactImport)
        .where(ContactImport.id == import_id)
        .values(
            rows_done=ContactImport.rows_done + len(batch),
            created_count=ContactImport.created_count + created,
            updated_count=ContactImport.updated_count + updated,
            failed_count=ContactImport.failed_count + len(failures),
            opted_out_count=ContactImport.opted_out_count + opted_out,
            heartbeat_at=func.now(),
        )
    )


def _record(target: _Target) -> dict[str, Any]:
    return {**target.changes, "attributes": target.attributes}


RECORD = (
    "r(id int, phone text, email text, first_name text, last_name text, location text, "
    "preferred_product text, attributes jsonb)"
)
# A value the row did not give is null here, and keeps what the contact has.
UPDATE_CONTACTS = f"""
UPDATE contacts AS c SET
  phone = coalesce(r.phone, c.phone), email = coalesce(r.email, c.email),
  first_name = coalesce(r.first_name, c.first_name), last_name = coalesce(r.last_name, c.last_name),
  location = coalesce(r.location, c.location),
  preferred_product = coalesce(r.preferred_product, c.preferred_product),
  attributes = c.attributes || r.attributes, updated_at = now()
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS {RECORD}
WHERE c.id = r.id
"""
ADD_CONTACTS = f"""
INSERT INTO contacts (phone, email, first_name, last_name, location, preferred_product, attributes)
SELECT r.phone, r.email, coalesce(r.first_name, ''), coalesce(r.last_name, ''), coalesce(r.location, ''),
       coalesce(r.preferred_product, ''), r.attributes
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS {RECORD}
ON CONFLICT DO NOTHING
RETURNING id
"""
ADD_MEMBERS = """
INSERT INTO contact_import_members (import_id, contact_id)
SELECT :import_id, unnest(CAST(:ids AS integer[]))
ON CONFLICT DO NOTHING
"""
ADD_FAILURES = """
INSERT INTO contact_import_failures (import_id, line, reason, raw)
SELECT :import_id, r.line, r.reason, r.raw
FROM jsonb_to_recordset(CAST(:rows AS jsonb)) AS r(line int, reason text, raw jsonb)
ON CONFLICT DO NOTHING
"""
