"""The campaign list's search: what ``/campaigns?q=…&status=…`` asks for,
read once from the URL (a bad value is said and ignored), and the queries
that answer it. The same rules as the contact list's (app.searching)."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import date, datetime, time, timedelta
from typing import Any

from sqlalchemy import ColumnElement, Select, TextClause, func, select, text
from sqlalchemy.orm import InstrumentedAttribute

from app import searching, zones
from app.auth.models import User
from app.campaigns.models import Campaign, CampaignStatus
from app.extensions import db
from app.messaging.channels import Channel

STATUSES = {status.value: status.value.title() for status in CampaignStatus}
CHANNELS = {channel.value: channel.label for channel in Channel}
SORTS = {"newest": "Newest first", "oldest": "Oldest first", "largest": "Largest first", "failed": "Most failed first"}
DATED = {"created": "Created", "sent": "Sent"}
ORDER = {
    "newest": (Campaign.created_at.desc(), Campaign.id.desc()),
    "oldest": (Campaign.created_at, Campaign.id),
    # No index on the counters: the send loop updates them many times a
    # second, and an index on one would make each of those writes touch it.
    # Sorting 10,000 rows for the top page is a heap sort of a few ms.
    "largest": (Campaign.recipient_count.desc(), Campaign.id.desc()),
    "failed": (Campaign.failed_count.desc(), Campaign.id.desc()),
}


@dataclass(frozen=True)
class CampaignSearch:
    q: str = ""
    status: str = ""
    channel: str = ""
    creator: int | None = None
    dated: str = "created"
    since: date | None = None
    until: date | None = None
    sort: str = "newest"
    # What in the URL was not understood, and so ignored, said to the reader.
    ignored: tuple[str, ...] = field(default=(), compare=False)

    @classmethod
    def from_args(cls, args: Mapping[str, str]) -> CampaignSearch:
        said: list[str] = []
        creator = None
        if wanted := (args.get("creator") or "").strip():
            if wanted.isdigit() and len(wanted) < 10:
                creator = int(wanted)
            else:
                said.append(f"“{wanted[:40]}” is not someone on the staff; it was ignored.")
        since = searching.day(args, "since", "from", said)
        until = searching.day(args, "until", "to", said)
        if since and until and since > until:
            said.append("The dates were the wrong way round; they were swapped.")
            since, until = until, since
        return cls(
            q=searching.typed(args),
            status=searching.choice(args, "status", STATUSES, said),
            channel=searching.choice(args, "channel", CHANNELS, said),
            creator=creator,
            dated=searching.choice(args, "dated", DATED, said, default="created"),
            since=since,
            until=until,
            sort=searching.choice(args, "sort", SORTS, said, default="newest"),
            ignored=tuple(said),
        )

    @property
    def narrowed(self) -> bool:
        """Whether anything leaves campaigns out (the sort does not)."""
        return bool(self.q or self.status or self.channel or self.creator or self.since or self.until)

    @property
    def more_filters_set(self) -> int:
        """How many of the fields under "More filters" differ from their
        default: channel, creator, from, to, sort (which dates the range
        reads counts with the range)."""
        return sum(
            [bool(self.channel), self.creator is not None, bool(self.since), bool(self.until), self.sort != "newest"]
        )

    def args(self, **changes: Any) -> dict[str, Any]:
        """The URL's query for this search (defaults left out), with ``changes``."""
        search = replace(self, **changes) if changes else self
        values = {
            "q": search.q,
            "status": search.status,
            "channel": search.channel,
            "creator": search.creator,
            "dated": search.dated if search.dated != "created" and (search.since or search.until) else "",
            "since": search.since.isoformat() if search.since else "",
            "until": search.until.isoformat() if search.until else "",
            "sort": search.sort if search.sort != "newest" else "",
        }
        return {name: value for name, value in values.items() if value}

    def _conditions(self, with_status: bool = True) -> list[ColumnElement[bool] | TextClause]:
        found: list[ColumnElement[bool] | TextClause] = []
        if self.q:
            # ILIKE '%…%' on the indexed expression: the trigram index serves it.
            pattern = searching.substring_pattern(self.q)
            found.append(text(f"{Campaign.SEARCH} ILIKE :pattern").bindparams(pattern=pattern))
        if self.status and with_status:
            found.append(Campaign.status == self.status)
        if self.channel:
            found.append(Campaign.channel == self.channel)
        if self.creator is not None:
            found.append(Campaign.created_by_id == self.creator)
        column = Campaign.started_at if self.dated == "sent" else Campaign.created_at
        zone = zones.viewer()
        # Whole days in the reader's zone, as the list shows its times.
        if self.since:
            found.append(column >= datetime.combine(self.since, time(), zone))
        if self.until:
            found.append(column < datetime.combine(self.until + timedelta(days=1), time(), zone))
        return found

    def query(self) -> Select:
        return select(Campaign).where(*self._conditions()).order_by(*ORDER[self.sort])

    def status_counts(self) -> dict[str, int]:
        """How many campaigns of each status match the rest of the search: the
        counts beside the status filter. One GROUP BY over at most the 10,000s
        of campaigns the other filters leave."""
        counted = db.session.execute(
            select(Campaign.status, func.count()).where(*self._conditions(with_status=False)).group_by(Campaign.status)
        )
        counts: dict[str, int] = {status: 0 for status in STATUSES}
        counts.update({status: number for status, number in counted})
        return counts

    def said(self) -> str:
        """What was searched for, in words, for an empty result."""
        parts = [f"matching “{self.q}”"] if self.q else []
        if self.status:
            parts.append(STATUSES[self.status].lower())
        if self.channel:
            parts.append(f"on {CHANNELS[self.channel]}")
        if self.creator is not None:
            creator = db.session.get(User, self.creator)
            parts.append(f"created by {creator.email if creator else 'someone no longer on the staff'}")
        if self.since or self.until:
            verb = DATED[self.dated].lower()
            if self.since and self.until:
                parts.append(f"{verb} {self.since:%-d %b %Y} to {self.until:%-d %b %Y}")
            elif self.since:
                parts.append(f"{verb} on or after {self.since:%-d %b %Y}")
            elif self.until:
                parts.append(f"{verb} on or before {self.until:%-d %b %Y}")
        return ", ".join(parts)


def creators() -> list[User]:
    """Who the "created by" filter offers: everyone who has created a campaign."""
    made = select(Campaign.created_by_id).where(Campaign.created_by_id.is_not(None)).distinct()
    return list(db.session.scalars(select(User).where(User.id.in_(made)).order_by(User.email)))


@dataclass(frozen=True)
class Now:
    """The first ``limit`` campaigns of some statuses, and how many there are."""

    campaigns: list[Campaign]
    total: int


# Campaigns shown of each kind "now"; the rest are a link to the campaign list.
NOW_SHOWN = 10


def now() -> dict[str, Now]:
    """The campaigns sending (or paused) and scheduled now, as the Operations
    page and the dashboard show them (campaigns/_now.html): the longest
    running first, the next to start first."""
    return {
        "sending": now_in((CampaignStatus.SENDING, CampaignStatus.PAUSED), Campaign.started_at, NOW_SHOWN),
        "scheduled": now_in((CampaignStatus.SCHEDULED,), Campaign.scheduled_at, NOW_SHOWN),
    }


def now_in(statuses: tuple[CampaignStatus, ...], by: InstrumentedAttribute[datetime | None], limit: int) -> Now:
    """Campaigns in ``statuses`` (sending and paused, or scheduled), ordered ``by``."""
    in_statuses = Campaign.status.in_([status.value for status in statuses])
    first = list(db.session.scalars(select(Campaign).where(in_statuses).order_by(by, Campaign.id).limit(limit)))
    if len(first) < limit:
        return Now(first, len(first))
    return Now(first, db.session.scalar(select(func.count()).select_from(Campaign).where(in_statuses)) or 0)
