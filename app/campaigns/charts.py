"""A campaign's charts: its sends over its life and its outcomes by error code,
read from its seconds (``campaign_seconds``, kept by ``app.campaigns.rollup``)
and its history, never from its recipients or attempts.

Bounded whatever the campaign's size: a lookup of its first and last second,
then one pass over its seconds (a few rows a second it sent in), both on the
table's primary key (campaign_id, second, …), summed into at most MAX_POINTS
buckets of a width people read at a glance.
"""

from dataclasses import dataclass, field
from datetime import UTC, datetime
from zoneinfo import ZoneInfo

from sqlalchemy import text

from app.audit import Action, AuditEvent
from app.campaigns.models import Campaign, CampaignStatus, RecipientStatus
from app.clock import utcnow
from app.extensions import db
from app.formatting import clock, duration

MAX_POINTS = 300
# Bucket widths in seconds; past a day, whole days.
STEPS = (1, 2, 5, 10, 15, 30, 60, 120, 300, 600, 900, 1800, 3600, 7200, 10800, 21600, 43200, 86400)
DAY = 86400
R = RecipientStatus
# A failure on the sends chart: a call that failed for good, or failed and will be tried again.
FAILURES = (R.FAILED.value, R.RETRYING.value)
# The outcomes "by error code" counts, in its columns' order, with their
# headings and their colours (charts.js's palette): failures in the colour the
# sends chart gives them.
CODED = {
    R.FAILED.value: ("Failed", 2),
    R.RETRYING.value: ("Failed, tried again", 3),
    R.CANCELLED.value: ("Cancelled", 4),
    R.SKIPPED.value: ("Skipped", 1),
}

FIRST_AND_LAST = "SELECT min(second), max(second) FROM campaign_seconds WHERE campaign_id = :id"
BY_BUCKET = """
SELECT floor(extract(epoch FROM second) / :step)::bigint * :step AS at, outcome, error_code, sum(messages)::bigint
FROM campaign_seconds
WHERE campaign_id = :id
GROUP BY 1, 2, 3
"""


@dataclass(frozen=True)
class Bucket:
    """The messages sent, and failed or retrying, from ``at`` (Unix seconds) for a step."""

    at: int
    sent: int = 0
    failures: int = 0


@dataclass(frozen=True)
class Period:
    """A stretch of the campaign's life the time axis marks: ``paused``, or
    ``retrying`` (its failed recipients queued again, until it next finished)."""

    kind: str
    start: datetime
    end: datetime
    # Why, or by whom: the pause's reason, or who paused or retried it.
    said: str

    @property
    def label(self) -> str:
        return "Paused" if self.kind == "paused" else "Retrying failures"


@dataclass
class Charts:
    """What the campaign page's charts show, its times read in ``zone``."""

    zone: ZoneInfo
    step: int = 1
    start: datetime | None = None
    end: datetime | None = None
    # Those with any message, oldest first: the chart counts a step missing as none.
    buckets: list[Bucket] = field(default_factory=list)
    periods: list[Period] = field(default_factory=list)
    # Per error code, the messages of each coded outcome; most first.
    codes: list[tuple[str, dict[str, int]]] = field(default_factory=list)

    @property
    def empty(self) -> bool:
        return not self.buckets

    @property
    def per(self) -> str:
        """``per second``, ``per 10 seconds``, ``per 5 minutes``, ``per hour``, ``per 2 days``."""
        for unit, seconds in (("day", DAY), ("hour", 3600), ("minute", 60), ("second", 1)):
            if self.step % seconds == 0:
                count = self.step // seconds
                return f"per {unit}" if count == 1 else f"per {count} {unit}s"
        return f"per {self.step} seconds"

    @property
    def reload_seconds(self) -> int:
        """How often a page that follows the campaign reloads these, at most:
        each second, or each tenth of a wider step. A long campaign's read is
        tens of thousands of rows, and a reload changes its last step only."""
        return max(1, self.step // 10)

    @property
    def outcomes(self) -> list[tuple[str, tuple[str, int]]]:
        """The coded outcomes any error code has, with their headings and colours, in CODED's order."""
        present = {outcome for _, counts in self.codes for outcome in counts}
        return [(outcome, said) for outcome, said in CODED.items() if outcome in present]

    @property
    def dated(self) -> bool:
        """Whether times need their day: the campaign ran over more than one day where it is read."""
        if self.start is None or self.end is None:
            return False
        return self.start.astimezone(self.zone).date() != self.end.astimezone(self.zone).date()

    def said(self, moment: datetime | int) -> str:
        """A time on the chart as its reader reads it: ``10:00:05``, or ``3 Dec 10:00:05``."""
        when = datetime.fromtimestamp(moment, UTC) if isinstance(moment, int) else moment
        return clock(when, self.zone, dated=self.dated)

    def lasted(self, period: Period) -> str:
        return duration((period.end - period.start).total_seconds())

    @property
    def sent(self) -> int:
        return sum(bucket.sent for bucket in self.buckets)

    @property
    def failures(self) -> int:
        return sum(bucket.failures for bucket in self.buckets)


def step_for(start: int, end: int) -> int:
    """The narrowest step that covers ``start`` to ``end`` (Unix seconds) in
    at most MAX_POINTS steps aligned on multiples of it."""
    for step in STEPS:
        if end // step - start // step < MAX_POINTS:
            return step
    days = 2
    while end // (days * DAY) - start // (days * DAY) >= MAX_POINTS:
        days += 1
    return days * DAY


def for_campaign(campaign: Campaign, history: list[AuditEvent], zone: ZoneInfo, now: datetime | None = None) -> Charts:
    """The campaign's charts as they stand: empty until it has sent."""
    charts = Charts(zone)
    first, last = db.session.execute(text(FIRST_AND_LAST), {"id": campaign.id}).one()
    if first is None:
        return charts
    end = now or utcnow()
    if campaign.status in (CampaignStatus.COMPLETED, CampaignStatus.CANCELLED) and campaign.finished_at is not None:
        end = campaign.finished_at
    # A cancelled campaign's sends in flight finish after it.
    end = max(end, last)
    start = min(campaign.started_at or first, first)
    charts.start, charts.end = start, end
    charts.step = step_for(int(start.timestamp()), int(end.timestamp()))
    charts.periods = periods(history, end)
    buckets: dict[int, list[int]] = {}
    codes: dict[str, dict[str, int]] = {}
    rows = db.session.execute(text(BY_BUCKET), {"id": campaign.id, "step": charts.step})
    for at, outcome, code, messages in rows:
        counts = buckets.setdefault(at, [0, 0])
        if outcome == R.SENT:
            counts[0] += messages
        elif outcome in FAILURES:
            counts[1] += messages
        # A cancel without an error is no error: only coded outcomes and failures count here.
        if outcome in CODED and (code or outcome in FAILURES):
            each = codes.setdefault(code, {})
            each[outcome] = each.get(outcome, 0) + messages
    charts.buckets = [Bucket(at, *counts) for at, counts in sorted(buckets.items()) if any(counts)]
    charts.codes = sorted(codes.items(), key=lambda item: (-sum(item[1].values()), item[0]))
    return charts


def periods(history: list[AuditEvent], end: datetime) -> list[Period]:
    """The periods the campaign was paused, and retrying its failed recipients
    (from Retry failed until it next completed or was cancelled), from its
    history; one still open ends at ``end``."""
    found: list[Period] = []
    opened: dict[str, tuple[datetime, str]] = {}

    def close(kind: str, at: datetime) -> None:
        if kind in opened:
            start, said = opened.pop(kind)
            found.append(Period(kind, start, max(at, start), said))

    for event in history:
        action = event.action
        if action == Action.CAMPAIGN_PAUSED and "paused" not in opened:
            opened["paused"] = (event.at, event.detail or f"by {event.actor_label}")
        elif action in (Action.CAMPAIGN_RESUMED, Action.CAMPAIGN_CANCELLED, Action.CAMPAIGN_COMPLETED):
            close("paused", event.at)
        if action == Action.CAMPAIGN_RETRIED and "retrying" not in opened:
            opened["retrying"] = (event.at, f"{event.detail}, by {event.actor_label}")
        elif action in (Action.CAMPAIGN_CANCELLED, Action.CAMPAIGN_COMPLETED):
            close("retrying", event.at)
    for kind in list(opened):
        close(kind, end)
    return sorted(found, key=lambda period: period.start)
