"""The dashboard's days: the period picked (``?days=30``) and what was sent
on each of its days, read from ``hourly_outcomes``, never the recipients.

Days are the reader's, in their zone (app.zones). An hour of the rollup
counts on the day it begins in: so in a whole-hour zone a day is exactly
midnight to midnight, and in a half-hour zone (India, +05:30) or a
quarter-hour one (Nepal, +05:45) it runs from the first whole UTC hour after
its midnight, 00:30 or 00:45, to the same time the next day: sends of the
first half hour after midnight count on the day before.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from sqlalchemy import text

from app.campaigns.models import Delivery, RecipientStatus
from app.extensions import db
from app.formatting import epoch
from app.messaging.channels import Channel

PERIODS = (7, 30, 90)
DEFAULT_PERIOD = 30
# The failure reasons shown; the rest are in the campaign list.
REASONS_SHOWN = 5

# A chart's row: the day's label, its start (unix seconds), its values.
Row = tuple[str, int, list[int] | list[float | None]]

BY_DAY = """
SELECT (hour AT TIME ZONE :zone)::date AS day, channel, outcome, error_code, sum(messages)::bigint AS messages
FROM hourly_outcomes
WHERE hour >= :since AND hour < :until
GROUP BY 1, 2, 3, 4
"""


@dataclass(frozen=True)
class Period:
    """The last ``days`` days in ``zone``, today the last of them."""

    days: int
    zone: ZoneInfo
    today: date

    @classmethod
    def from_args(cls, args: Mapping[str, str], zone: ZoneInfo, now: datetime) -> Period:
        """The period the URL asks for; anything but 7, 30 or 90 is the default, said nowhere:
        the picker shows which period is on screen."""
        wanted = (args.get("days") or "").strip()
        days = int(wanted) if wanted.isdigit() and int(wanted) in PERIODS else DEFAULT_PERIOD
        return cls(days, zone, now.astimezone(zone).date())

    @property
    def first(self) -> date:
        return self.today - timedelta(days=self.days - 1)

    def dates(self) -> list[date]:
        return [self.first + timedelta(days=n) for n in range(self.days)]

    def start_of(self, day: date) -> datetime:
        """The day's midnight in the reader's zone."""
        return datetime.combine(day, time(), self.zone)


@dataclass
class Day:
    """One day's outcomes: messages sent by channel, recipients that failed,
    calls that failed and were tried again, and the receipts applied that day."""

    day: date
    start: datetime
    sent: dict[str, int] = field(default_factory=lambda: dict.fromkeys(Channel, 0))
    failed: int = 0
    retried: int = 0
    delivered: int = 0
    undelivered: int = 0

    @property
    def label(self) -> str:
        """``5 Dec``."""
        return f"{self.day.day} {self.day:%b}"

    @property
    def total_sent(self) -> int:
        return sum(self.sent.values())

    @property
    def sent_rate(self) -> float | None:
        """Of the recipients whose sending ended this day, the share sent (%)."""
        return share(self.total_sent, self.total_sent + self.failed)

    @property
    def delivered_rate(self) -> float | None:
        """Of the receipts that came this day, the share that said delivered (%)."""
        return share(self.delivered, self.delivered + self.undelivered)

    @property
    def failure_rate(self) -> float | None:
        """Of the provider calls made this day, the share that failed (%),
        those tried again included: how the provider was doing."""
        calls = self.total_sent + self.failed + self.retried
        return share(self.failed + self.retried, calls)


@dataclass(frozen=True)
class Outcomes:
    """A period's days, every one of them, and its failures by error code."""

    period: Period
    days: list[Day]
    reasons: list[tuple[str, int]]
    # How many codes failed in all: those past REASONS_SHOWN are not listed.
    reason_count: int

    @property
    def sent(self) -> int:
        return sum(day.total_sent for day in self.days)

    @property
    def failed(self) -> int:
        return sum(day.failed for day in self.days)

    @property
    def delivered(self) -> int:
        return sum(day.delivered for day in self.days)

    @property
    def undelivered(self) -> int:
        return sum(day.undelivered for day in self.days)

    @property
    def sent_rate(self) -> float | None:
        return share(self.sent, self.sent + self.failed)

    @property
    def delivered_rate(self) -> float | None:
        return share(self.delivered, self.delivered + self.undelivered)

    def sent_on(self, channel: Channel) -> int:
        return sum(day.sent[channel] for day in self.days)

    def message_rows(self) -> list[Row]:
        """Messages sent each day by channel, as the stacked bars' table has them."""
        return [(day.label, epoch(day.start), [day.sent[channel] for channel in Channel]) for day in self.days]

    def rate_rows(self) -> list[Row]:
        """Each day's sent, delivered and failure rates, None on a day without any."""
        return [
            (day.label, epoch(day.start), [day.sent_rate, day.delivered_rate, day.failure_rate]) for day in self.days
        ]


def share(part: int, whole: int) -> float | None:
    """``part`` of ``whole`` in %, to one place; None of nothing."""
    return round(100 * part / whole, 1) if whole else None


def read(period: Period) -> Outcomes:
    """The period's outcomes: one query over its hours' rows (a few thousand at most)."""
    days = {day: Day(day, period.start_of(day)) for day in period.dates()}
    reasons: dict[str, int] = {}
    rows = db.session.execute(
        text(BY_DAY),
        {
            "zone": period.zone.key,
            "since": period.start_of(period.first),
            "until": period.start_of(period.today + timedelta(days=1)),
        },
    )
    for day, channel, outcome, code, messages in rows:
        counted = days[day]
        if outcome == RecipientStatus.SENT:
            counted.sent[Channel(channel)] += messages
        elif outcome == RecipientStatus.FAILED:
            counted.failed += messages
            reasons[code] = reasons.get(code, 0) + messages
        elif outcome == RecipientStatus.RETRYING:
            counted.retried += messages
        elif outcome == Delivery.DELIVERED:
            counted.delivered += messages
        elif outcome == Delivery.UNDELIVERED:
            counted.undelivered += messages
    ranked = sorted(reasons.items(), key=lambda reason: (-reason[1], reason[0]))
    return Outcomes(period, list(days.values()), ranked[:REASONS_SHOWN], len(ranked))


def anything_sent() -> bool:
    """Whether anything was ever sent or tried: a new install has not."""
    return db.session.scalar(text("SELECT EXISTS (SELECT 1 FROM hourly_outcomes)")) or False
