"""Saving, renaming and deleting segments, each recorded in the history;
and what a campaign sent to one keeps of it."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from sqlalchemy import select

from app import audit
from app.audit import Action
from app.contacts.filters import Filters
from app.extensions import db
from app.paging import count
from app.segments.models import Segment

if TYPE_CHECKING:
    from app.auth.models import User


class NameTaken(Exception):
    """Another segment has this name."""


def save(segment: Segment | None, name: str, filters: Filters | None = None, *, actor: User) -> Segment:
    """Save a new segment of ``filters`` (``segment`` None), or rename one;
    the caller commits. Raises NameTaken, changing nothing, when another
    segment has the name."""
    name = name.strip()
    others = select(Segment.id).where(Segment.name == name)
    if segment is not None:
        others = others.where(Segment.id != segment.id)
    if db.session.scalar(others.limit(1)) is not None:
        raise NameTaken(f"There is already a segment named “{name}”.")
    if segment is None:
        segment = Segment(name=name, filters=(filters or Filters()).args(), created_by_id=actor.id)
        db.session.add(segment)
        db.session.flush()
        audit.record(Action.SEGMENT_SAVED, actor=actor, detail=f"“{name}”: {said(segment.contact_filters)}")
        return segment
    before, segment.name = segment.name, name
    db.session.flush()
    if before != name:
        audit.record(Action.SEGMENT_RENAMED, actor=actor, detail=f"“{before}” → “{name}”")
    return segment


def delete(segment: Segment, *, actor: User) -> None:
    """Delete a segment; campaigns sent to it keep what they were sent to."""
    db.session.delete(segment)
    audit.record(Action.SEGMENT_DELETED, actor=actor, detail=f"“{segment.name}”: {said(segment.contact_filters)}")


def said(filters: Filters) -> str:
    """A segment's filters in words; "every contact" for none."""
    return filters.said() or "every contact"


def everyone() -> list[Segment]:
    """Every segment, by name."""
    return list(db.session.scalars(select(Segment).order_by(Segment.name)))


def size(segment: Segment) -> int:
    """How many contacts the segment's filters choose now."""
    return count(segment.contact_filters.query())


def sent_to(segment: Segment) -> dict[str, Any]:
    """What a campaign sent to the segment keeps: its name and filters as
    they are now, so renaming or changing the segment later changes no campaign."""
    return {"segment_id": segment.id, "segment": segment.name, "filters": segment.filters}
