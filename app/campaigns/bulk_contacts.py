"""Running a change to every contact a filter chooses (``app.contacts.bulk``):
here, above the contacts, because deleting them erases the messages sent to
them first (``people.delete_contacts``), as deleting one contact does.

Run by a job (``jobs.contact_changes``), or at once by the request that
confirmed it when it is one batch or less. Each batch commits with its
count and where the next starts, so a stopped change resumes there.
"""

import logging

from sqlalchemy.exc import DBAPIError

from app.campaigns import people
from app.contacts import bulk
from app.contacts.filters import Filters
from app.contacts.models import ChangeAction, ContactChange
from app.extensions import db

log = logging.getLogger(__name__)


class FilterGone(Exception):
    """A filter of the change is no longer understood (its import was removed):
    run without it, the change would reach more contacts than were confirmed."""


def run(change_id: int) -> str:
    """Make the change, batch by batch, to the contacts its filters choose
    now; returns a one-line summary. An error stops it, saying why on its
    page; Try again resumes it."""
    change = bulk.claim(change_id)
    db.session.commit()
    if change is None:
        return f"contact change {change_id}: nothing to do"
    try:
        filters = Filters.from_args(change.filters)
        if filters.ignored:
            raise FilterGone(" ".join(filters.problems))
        while (after := bulk.resume_after(change_id)) is not None:
            done, erased, last = _batch(change, filters, after)
            if last is None:
                break
            bulk.record_progress(change_id, done, erased, last)
            db.session.commit()
        finished = bulk.finish(change_id)
        db.session.commit()
    except Exception as error:
        # Recorded with its reason and shown on the change's page; RQ logs it too.
        db.session.rollback()
        bulk.fail(change_id, f"{type(error).__name__}: {error}")
        db.session.commit()
        if isinstance(error, DBAPIError | FilterGone):
            log.warning("contact change %s stopped: %s", change_id, error)
        raise
    return f"contact change {change_id}: {bulk.said(finished) if finished else 'finished by another job'}"


def _batch(change: ContactChange, filters: Filters, after: int) -> tuple[int, int, int | None]:
    """One batch: how many contacts it changed, how many messages it erased,
    and the last contact id it reached (None: there were none left)."""
    if change.action == ChangeAction.DELETE:
        ids = bulk.next_ids(filters, after)
        if not ids:
            return 0, 0, None
        deleted, erased = people.delete_contacts(ids)
        return deleted, erased, ids[-1]
    if change.action == ChangeAction.SET_ATTRIBUTE:
        done, last = bulk.set_attribute(filters, change.attribute_key, change.attribute_value, after)
    else:
        done, last = bulk.remove_attribute(filters, change.attribute_key, after)
    return done, 0, last
