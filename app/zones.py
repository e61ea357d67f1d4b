"""Time zones: the one a person enters and reads times in.

Times are stored in UTC. A person's zone is a setting on their account
(``users.timezone``), else DEFAULT_TIMEZONE; whatever renders a time for a
request renders it in the signed-in person's zone, and names the zone.
Something rendered for every watcher alike (a live update) uses
DEFAULT_TIMEZONE, named too.
"""

from __future__ import annotations

from datetime import datetime
from functools import cache
from typing import TYPE_CHECKING
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

from flask import current_app, has_request_context
from flask_login import current_user

if TYPE_CHECKING:
    from app.auth.models import User

UTC_NAME = "UTC"


@cache
def names() -> list[str]:
    """Every IANA zone a person may choose, sorted: what the account page offers."""
    # "localtime" and "Factory" name this machine's setting and a placeholder, not places.
    return sorted(name for name in available_timezones() if name not in {"localtime", "Factory"})


def known(name: str) -> bool:
    return name in set(names())


def zone(name: str | None) -> ZoneInfo:
    """The zone called ``name``, else DEFAULT_TIMEZONE (and UTC if that is unknown too)."""
    for candidate in (name, current_app.config["DEFAULT_TIMEZONE"]):
        if candidate:
            try:
                return ZoneInfo(candidate)
            except (ZoneInfoNotFoundError, ValueError):
                continue
    return ZoneInfo(UTC_NAME)


def of(user: User | None) -> ZoneInfo:
    return zone(user.timezone if user is not None else None)


def viewer() -> ZoneInfo:
    """The signed-in person's zone in a request, else DEFAULT_TIMEZONE."""
    if has_request_context() and current_user.is_authenticated:
        return zone(current_user.timezone)
    return zone(None)


def to_utc(local: datetime, in_zone: ZoneInfo) -> datetime:
    """A wall-clock time typed in ``in_zone`` (naive) as an aware UTC time."""
    return local.replace(tzinfo=in_zone).astimezone(ZoneInfo(UTC_NAME))


def local_input(moment: datetime | None, in_zone: ZoneInfo) -> str:
    """``moment`` as a datetime-local input's value in ``in_zone``: ``2026-12-03T10:00``."""
    return moment.astimezone(in_zone).strftime("%Y-%m-%dT%H:%M") if moment is not None else ""
