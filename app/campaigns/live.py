"""Live updates of a campaign page, rendered from the page's own partials.

Senders do not publish each change. They ``note`` committed badge changes in a
Redis list per campaign, a batch per entry, and ``flush`` turns what is noted
(the latest change of each recipient) into one update at most every
1 / LIVE_UPDATES_PER_SECOND seconds per campaign, whichever worker process on
whichever machine gets there first. So a browser gets a few messages a second
carrying only what changed, however fast the campaign goes.
"""

import json
from dataclasses import dataclass

from flask import current_app, render_template

from app.audit import AuditEvent
from app.campaigns.models import Campaign
from app.extensions import db, redis
from app.live.channel import campaign_channel, publish

UPDATE_EVENT = "update"
REFRESH_EVENT = "refresh"


@dataclass(frozen=True)
class BadgeChange:
    id: int
    status: str
    error: str | None = None
    # While retrying: when the next attempt is due, in epoch seconds.
    retry_at: float | None = None


def render_update(campaign: Campaign, changes: list[BadgeChange], history: list[AuditEvent] | None = None) -> str:
    """The header and the changed badges, as out-of-band fragments.

    Render from a campaign read (``fresh``) after the changes were committed, or
    in the transaction that makes them and publish after it commits: either way
    a page never shows a state the database does not have.
    """
    return render_template("campaigns/_update.html", campaign=campaign, changes=changes, history=history)


# KEYS[1] the noted changes, KEYS[2] the flush interval's marker; ARGV[1] the interval in ms.
# Returns {"empty"}, {"held", ms until the interval ends} or {"taken", batch, batch, ...}.
TAKE_NOTED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'empty'} end
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  return {'held', redis.call('PTTL', KEYS[2])}
end
local noted = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
table.insert(noted, 1, 'taken')
return noted
"""
NOTED_TTL_SECONDS = 24 * 3600


def _keys(campaign_id: int) -> list[str]:
    return [f"live:campaign-{campaign_id}:noted", f"live:campaign-{campaign_id}:interval"]


def note(campaign_id: int, changes: list[BadgeChange]) -> None:
    """Remember badge changes, already committed, for the next ``flush``.

    One list entry per batch: a hash field per recipient cost more to send than
    the database writes it reports.
    """
    if not changes:
        return
    noted, _ = _keys(campaign_id)
    pipe = redis.client.pipeline(transaction=False)
    pipe.rpush(noted, json.dumps([[c.id, c.status, c.error, c.retry_at] for c in changes]))
    pipe.expire(noted, NOTED_TTL_SECONDS)
    pipe.execute()


def flush(campaign_id: int) -> float | None:
    """Publish the noted changes with the header, unless an update for this
    campaign went out less than an interval ago.

    Returns None when nothing is left noted (published now, or nothing to
    publish), else the seconds until a flush can succeed. Reads the campaign in
    a short transaction of its own: call it with nothing uncommitted.
    """
    interval_ms = max(1, round(1000 / current_app.config["LIVE_UPDATES_PER_SECOND"]))
    script = redis.client.register_script(TAKE_NOTED)
    reply = script(keys=_keys(campaign_id), args=[interval_ms])
    kind = reply[0].decode()
    if kind == "empty":
        return None
    if kind == "held":
        return max(int(reply[1]), 1) / 1000
    # A recipient changes in one job at a time, which notes its changes in
    # order, so the last one noted is the latest.
    latest = {change[0]: change for batch in reply[1:] for change in json.loads(batch)}
    changes = [BadgeChange(*change) for _, change in sorted(latest.items())]
    html = render_update(fresh(campaign_id), changes)
    db.session.commit()
    publish_update(campaign_id, html)
    return None


def publish_update(campaign_id: int, html: str) -> None:
    publish(redis.client, campaign_channel(campaign_id), html, type=UPDATE_EVENT)


def publish_refresh(campaign_id: int) -> None:
    """Ask open pages to reload their recipients, header and history: after a
    change to too many recipients to list (cancel, retry failed)."""
    publish(redis.client, campaign_channel(campaign_id), "", type=REFRESH_EVENT)


def fresh(campaign_id: int) -> Campaign:
    """The campaign row as this transaction sees it now, counters included."""
    return db.session.get(Campaign, campaign_id, populate_existing=True)
