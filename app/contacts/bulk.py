"""Changes to every contact a filter chooses: deleting them, or adding or
removing an attribute. A change is a row of ``contact_changes``, made in
batches that never bring the list into Python: each is one statement over
the next BULK_CHANGE_BATCH_ROWS chosen contacts by id, after the last id a
batch reached (``after_id``), so a million contacts are read once, not once
a batch. Running it, and deleting's erasure of the messages sent (which are
the campaigns'), is ``app.campaigns.bulk_contacts``.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING, Any

from flask import current_app
from sqlalchemy import CTE, Text, delete, func, literal, select, update

from app import audit, jobqueue
from app.audit import Action
from app.contacts.filters import ATTRIBUTE_KEY, Filters, attribute_filter
from app.contacts.models import ChangeAction, ChangeStatus, Contact, ContactChange
from app.extensions import db
from app.formatting import plural

if TYPE_CHECKING:
    from app.auth.models import User

ACTIONS = {
    ChangeAction.DELETE: Action.CONTACTS_DELETED,
    ChangeAction.SET_ATTRIBUTE: Action.CONTACTS_ATTRIBUTE_SET,
    ChangeAction.REMOVE_ATTRIBUTE: Action.CONTACTS_ATTRIBUTE_REMOVED,
}


@dataclass(frozen=True)
class Asked:
    """A change to many contacts as the contacts list's form asks for it:
    the list's filters, what to do (``change``) and the attribute typed
    (``change_attribute``: key=value to set, a key to remove); ``problem``
    says why it cannot be made as asked."""

    filters: Filters
    action: str = ""
    typed: str = ""
    key: str = ""
    value: str = ""
    problem: str | None = None

    @classmethod
    def from_args(cls, args: Mapping[str, Any]) -> Asked:
        filters = Filters.from_args(args)
        action = (args.get("change") or "").strip()
        typed = (args.get("change_attribute") or "").strip()
        asked = cls(filters, action, typed)
        if filters.ignored:
            # Made without the filter, the change would reach more contacts than the list meant.
            problem = " ".join(filters.problems)
            return replace(asked, problem=f"{problem} Correct the filters first: no change is made with one left out.")
        if action == ChangeAction.DELETE:
            return asked
        if action == ChangeAction.SET_ATTRIBUTE:
            said: list[str] = []
            if (pair := attribute_filter(typed, said)) is None:
                return replace(asked, problem="Write the attribute to set as key=value, such as plan=gold.")
            return replace(asked, key=pair[0], value=pair[1])
        if action == ChangeAction.REMOVE_ATTRIBUTE:
            key = typed.partition("=")[0].strip().lower()
            if not ATTRIBUTE_KEY.fullmatch(key):
                return replace(asked, problem="Write the key of the attribute to remove, such as plan.")
            return replace(asked, key=key)
        return replace(asked, problem="Choose what to do with these contacts.")

    @property
    def what(self) -> str:
        return what(self.action, self.key, self.value)

    def button(self, count: int) -> str:
        """``Delete 12 contacts``, ``Set plan = gold on 12 contacts``."""
        return f"{self.what.capitalize()} {plural(count, 'contact')}"

    def question(self, count: int) -> str:
        return f"{self.button(count)}?"


def create(asked: Asked, *, expected: int, actor: User) -> ContactChange:
    """The change asked for, queued; the caller commits, then runs it
    (``app.campaigns.bulk_contacts``)."""
    change = ContactChange(
        action=ChangeAction(asked.action).value,
        filters=asked.filters.args(),
        attribute_key=asked.key,
        attribute_value=asked.value,
        expected=expected,
        created_by_id=actor.id,
        heartbeat_at=func.now(),
    )
    db.session.add(change)
    db.session.flush()
    return change


def what(action: str, key: str, value: str) -> str:
    """The change in words: ``delete``, ``set plan = gold on``, ``remove plan from``."""
    if action == ChangeAction.DELETE:
        return "delete"
    if action == ChangeAction.SET_ATTRIBUTE:
        return f"set {key} = {value or '(empty)'} on"
    return f"remove {key} from"


def said(change: ContactChange, count: int | None = None) -> str:
    """What the change did (or does), with its count: ``plan = gold set on 12 contacts in Nairobi``."""
    filters = Filters.from_args(change.filters)
    who = plural(change.done_count if count is None else count, "contact")
    who += f" {filters.said()}" if filters.said() else " (every contact)"
    if change.action == ChangeAction.DELETE:
        kept = change.messages_erased
        return who + (f"; {plural(kept, 'message')} sent to them kept, personal fields erased" if kept else "")
    if change.action == ChangeAction.SET_ATTRIBUTE:
        return f"{change.attribute_key} = {change.attribute_value or '(empty)'} set on {who}"
    return f"{change.attribute_key} removed from {who}"


# -- running ------------------------------------------------------------------------


def claim(change_id: int) -> ContactChange | None:
    """Mark a queued (or interrupted) change running; None if it is finished.
    The caller commits."""
    claimed = db.session.execute(
        update(ContactChange)
        .where(ContactChange.id == change_id, ContactChange.status.in_([ChangeStatus.QUEUED, ChangeStatus.RUNNING]))
        .values(
            status=ChangeStatus.RUNNING,
            started_at=func.coalesce(ContactChange.started_at, func.now()),
            error="",
            heartbeat_at=func.now(),
        )
        .returning(ContactChange.id)
    ).scalar()
    return db.session.get(ContactChange, claimed, populate_existing=True) if claimed is not None else None


def resume_after(change_id: int) -> int | None:
    """Where the change's next batch starts, the row locked until the batch
    commits: a second job for the same change waits, then carries on after
    it. None once it is no longer running."""
    return db.session.scalar(
        select(ContactChange.after_id)
        .where(ContactChange.id == change_id, ContactChange.status == ChangeStatus.RUNNING)
        .with_for_update()
    )


def _chosen(filters: Filters, after: int) -> CTE:
    batch = current_app.config["BULK_CHANGE_BATCH_ROWS"]
    query = select(Contact.id).where(Contact.id > after, *filters.conditions()).order_by(Contact.id).limit(batch)
    return query.cte("chosen")


def _counted(chosen: CTE, changed: CTE) -> tuple[int, int | None]:
    """How many contacts the batch chose, and the last id: the change statement
    (``changed``) runs with it, as PostgreSQL runs every statement in a WITH."""
    found, last, _ = db.session.execute(
        select(
            select(func.count()).select_from(chosen).scalar_subquery(),
            select(func.max(chosen.c.id)).scalar_subquery(),
            select(func.count()).select_from(changed).scalar_subquery(),
        )
    ).one()
    return found, last


def set_attribute(filters: Filters, key: str, value: str, after: int) -> tuple[int, int | None]:
    """Set ``key`` to ``value`` on the next batch of chosen contacts; how many
    were chosen (those that had it already count too), and the last id."""
    chosen = _chosen(filters, after)
    pair = func.jsonb_build_object(key, value)
    changed = (
        update(Contact)
        .where(Contact.id == chosen.c.id, ~Contact.attributes.contains({key: value}))
        .values(attributes=Contact.attributes.op("||")(pair), updated_at=func.now())
        .returning(Contact.id)
        .cte("changed")
    )
    return _counted(chosen, changed)


def remove_attribute(filters: Filters, key: str, after: int) -> tuple[int, int | None]:
    """Remove ``key`` from the next batch of chosen contacts; how many were
    chosen, and the last id."""
    chosen = _chosen(filters, after)
    changed = (
        update(Contact)
        .where(Contact.id == chosen.c.id, Contact.attributes.has_key(key))
        .values(attributes=Contact.attributes.op("-")(literal(key, Text)), updated_at=func.now())
        .returning(Contact.id)
        .cte("changed")
    )
    return _counted(chosen, changed)


def next_ids(filters: Filters, after: int) -> list[int]:
    """The ids of the next batch of chosen contacts: a batch to delete, whose
    messages are erased first (``app.campaigns.people``)."""
    batch = current_app.config["BULK_CHANGE_BATCH_ROWS"]
    query = select(Contact.id).where(Contact.id > after, *filters.conditions()).order_by(Contact.id).limit(batch)
    return list(db.session.scalars(query))


def delete_ids(contact_ids: list[int]) -> int:
    deleted = db.session.execute(delete(Contact).where(Contact.id.in_(contact_ids)))
    return deleted.rowcount  # type: ignore[attr-defined]


def record_progress(change_id: int, done: int, erased: int, after: int) -> None:
    """A batch's count and where the next starts, committed with the batch."""
    db.session.execute(
        update(ContactChange)
        .where(ContactChange.id == change_id)
        .values(
            done_count=ContactChange.done_count + done,
            messages_erased=ContactChange.messages_erased + erased,
            after_id=after,
            heartbeat_at=func.now(),
        )
    )


def finish(change_id: int) -> ContactChange | None:
    """Done: one event in the history with the count and the filters. None if
    another job finished it first. The caller commits."""
    finished = db.session.execute(
        update(ContactChange)
        .where(ContactChange.id == change_id, ContactChange.status == ChangeStatus.RUNNING)
        .values(status=ChangeStatus.DONE, finished_at=func.now())
        .returning(ContactChange.id)
    ).scalar()
    if finished is None:
        return None
    change = db.session.get_one(ContactChange, change_id, populate_existing=True)
    audit.record(ACTIONS[ChangeAction(change.action)], actor=change.created_by, detail=said(change))
    return change


def fail(change_id: int, error: str) -> None:
    """Stopped by an error, said on its page; Try again resumes it. The caller commits."""
    db.session.execute(
        update(ContactChange)
        .where(ContactChange.id == change_id)
        .values(status=ChangeStatus.FAILED, error=error[:2000], finished_at=func.now())
    )


def try_again(change_id: int) -> bool:
    """Queue a stopped change again; it resumes after its last committed batch."""
    queued = db.session.execute(
        update(ContactChange)
        .where(ContactChange.id == change_id, ContactChange.status == ChangeStatus.FAILED)
        .values(status=ChangeStatus.QUEUED, error="", finished_at=None, heartbeat_at=func.now())
    )
    return queued.rowcount == 1  # type: ignore[attr-defined]


def requeue_stalled() -> list[int]:
    """Queue again each change queued or running whose heartbeat stopped
    IMPORT_STALL_SECONDS ago (a killed worker, a lost job), once its heartbeat's
    move is committed; returns their ids. The reconciler's periodic task. A
    second job for one still running is harmless: each batch starts from the
    row it locks (``resume_after``)."""
    seconds = current_app.config["IMPORT_STALL_SECONDS"]
    change_ids = list(
        db.session.scalars(
            update(ContactChange)
            .where(
                ContactChange.status.in_([ChangeStatus.QUEUED, ChangeStatus.RUNNING]),
                ContactChange.heartbeat_at < func.now() - func.make_interval(0, 0, 0, 0, 0, 0, seconds),
            )
            .values(heartbeat_at=func.now())
            .returning(ContactChange.id)
        )
    )
    db.session.commit()
    for change_id in change_ids:
        jobqueue.enqueue_contact_change(change_id)
    return change_ids
