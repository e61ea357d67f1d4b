"""Saving, changing and deleting templates, each recorded in the history."""

from __future__ import annotations

from typing import TYPE_CHECKING

from sqlalchemy import select

from app import audit
from app.audit import Action
from app.extensions import db
from app.messaging.channels import Channel
from app.saved_templates.models import SavedTemplate

if TYPE_CHECKING:
    from app.auth.models import User


class NameTaken(Exception):
    """Another template of the channel has this name."""


def save(
    template: SavedTemplate | None, name: str, channel: str, subject: str | None, message: str, *, actor: User
) -> SavedTemplate:
    """Create (``template`` None) or change a template; the caller commits.
    Raises NameTaken, changing nothing, when the channel has one of that name."""
    name = name.strip()
    others = select(SavedTemplate.id).where(SavedTemplate.channel == channel, SavedTemplate.name == name)
    if template is not None:
        others = others.where(SavedTemplate.id != template.id)
    if db.session.scalar(others.limit(1)) is not None:
        raise NameTaken(f"There is already {Channel(channel).label_with_article} template named “{name}”.")
    action = Action.TEMPLATE_SAVED if template is None else Action.TEMPLATE_CHANGED
    template = template or SavedTemplate()
    template.name, template.channel, template.subject, template.message = name, channel, subject, message
    template.updated_by_id = actor.id
    db.session.add(template)
    db.session.flush()
    audit.record(action, actor=actor, detail=f"“{template.name}”")
    return template


def delete(template: SavedTemplate, *, actor: User) -> None:
    db.session.delete(template)
    audit.record(Action.TEMPLATE_DELETED, actor=actor, detail=f"“{template.name}”")


def by_channel() -> list[SavedTemplate]:
    return list(db.session.scalars(select(SavedTemplate).order_by(SavedTemplate.channel, SavedTemplate.name)))
