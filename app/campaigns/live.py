"""Live updates of a campaign page, rendered from the page's own partials.

Two events go to the campaign's channel. ``update`` carries the header, the
tab counts and the changing parts of the recipients that changed (status and
attempts), as out-of-band fragments for every watcher. ``refresh`` follows a
change to the campaign as a whole (its status, or many recipients at once):
each open page then reloads its recipients block, which brings the controls,
the history and the rows of its own tab and page, rendered for that person in
answer to their own request.

Senders do not publish each recipient's change. They ``note`` committed
changes in a Redis list per campaign, a batch per entry, and ``flush`` turns
what is noted (the latest change of each recipient) into one update at most
every 1 / LIVE_UPDATES_PER_SECOND seconds per campaign, whichever worker
process on whichever machine gets there first.
"""

import json
import logging

from flask import current_app, get_template_attribute, render_template
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from app import jobqueue
from app.audit import AuditEvent
from app.campaigns.models import Campaign, CampaignStatus, RecipientState
from app.extensions import db, redis
from app.live.broker import REFRESH_EVENT
from app.live.channel import CAMPAIGN_LIST_CHANNEL, campaign_channel, publish

log = logging.getLogger(__name__)

UPDATE_EVENT = "update"
# A campaign's counts and progress, one line, for open campaign lists.
PROGRESS_EVENT = "progress"


def render_update(campaign: Campaign, changes: list[RecipientState], history: list[AuditEvent] | None = None) -> str:
    """The header, the tab counts and the changed recipients, as out-of-band fragments.

    Render from a campaign read (``fresh``) after the changes were committed, or
    in the transaction that makes them and publish after it commits: either way
    a page never shows a state the database does not have. Nothing here
    depends on who watches: every watcher gets the same message.
    """
    return render_template("campaigns/_update.html", campaign=campaign, changes=changes, history=history)


# KEYS[1] the noted changes, KEYS[2] the flush interval's marker, KEYS[3] the
# marker of a flush under way; ARGV[1] the interval, ARGV[2] the longest a flush
# may take, in ms. Returns {"empty"}, {"held", ms to wait} or {"taken", batch, …}.
TAKE_NOTED = """
if redis.call('EXISTS', KEYS[1]) == 0 then return {'empty'} end
if redis.call('EXISTS', KEYS[3]) == 1 then return {'held', 10} end
if not redis.call('SET', KEYS[2], '1', 'NX', 'PX', ARGV[1]) then
  return {'held', redis.call('PTTL', KEYS[2])}
end
redis.call('SET', KEYS[3], '1', 'PX', ARGV[2])
local noted = redis.call('LRANGE', KEYS[1], 0, -1)
redis.call('DEL', KEYS[1])
table.insert(noted, 1, 'taken')
return noted
"""
NOTED_TTL_SECONDS = 24 * 3600
# A flush that takes longer (its process died) no longer holds the others back.
FLUSH_TIMEOUT_MS = 10_000


def _keys(campaign_id: int) -> list[str]:
    prefix = f"live:campaign-{campaign_id}"
    return [f"{prefix}:noted", f"{prefix}:interval", f"{prefix}:flushing"]


def note(campaign_id: int, changes: list[RecipientState]) -> None:
    """Remember recipient changes, already committed, for the next ``flush``.

    One list entry per batch: a hash field per recipient cost more to send than
    the database writes it reports.
    """
    if not changes:
        return
    noted = _keys(campaign_id)[0]
    pipe = redis.client.pipeline(transaction=False)
    pipe.rpush(noted, json.dumps([[c.id, c.status, c.attempts, c.error, c.retry_at, c.delivery] for c in changes]))
    pipe.expire(noted, NOTED_TTL_SECONDS)
    pipe.execute()


def flush(campaign_id: int) -> float | None:
    """Publish the noted changes with the header, unless an update for this
    campaign went out less than an interval ago.

    One flush of a campaign at a time, from taking the noted changes to
    publishing them, so its updates go out in the order of the campaign row's
    versions they were rendered from.

    Returns None when nothing is left noted (published now, or nothing to
    publish), else the seconds until a flush can succeed. Reads the campaign in
    a short transaction of its own: call it with nothing uncommitted.
    """
    interval_ms = max(1, round(1000 / current_app.config["LIVE_UPDATES_PER_SECOND"]))
    script = redis.client.register_script(TAKE_NOTED)
    keys = _keys(campaign_id)
    reply = script(keys=keys, args=[interval_ms, FLUSH_TIMEOUT_MS])
    kind = reply[0].decode()
    if kind == "empty":
        return None
    if kind == "held":
        return max(int(reply[1]), 1) / 1000
    # A recipient changes in one job at a time, which notes its changes in
    # order, so the last one noted is the latest.
    latest = {change[0]: change for batch in reply[1:] for change in json.loads(batch)}
    changes = [RecipientState(*change) for _, change in sorted(latest.items())]
    try:
        campaign = fresh(campaign_id)
        html = render_update(campaign, changes)
        row = render_list_progress(campaign)
        db.session.commit()
        publish(redis.client, campaign_channel(campaign_id), html, type=UPDATE_EVENT)
        # The lists' rows follow at the same cadence, on the list's one channel:
        # no stream of its own per campaign, and a line each list drops unless it shows it.
        publish(redis.client, CAMPAIGN_LIST_CHANNEL, row, type=PROGRESS_EVENT)
    finally:
        redis.client.delete(keys[2])
    return None


def render_list_progress(campaign: Campaign) -> str:
    """The campaign's row counts and progress bar for campaign lists, out of band, on one line."""
    return str(get_template_attribute("campaigns/_list_progress.html", "list_progress")(campaign, oob=True))


def show_campaign_change(campaign_id: int) -> None:
    """After a change to the campaign as a whole is committed (its status, or
    many recipients at once), whoever made it: publish the header, and tell
    open pages to reload what only a request renders (the controls, the
    history and schedule in their reader's time zone, and the rows of their
    tab and page), and campaign lists to reload theirs. A failure here only
    delays what pages show; the change itself stands.

    A pause or cancel is told to the campaign's send jobs first, so that calls
    they claimed and have not yet made are not made (``jobs.halt``); a job
    not told learns at its next loop turn."""
    try:
        campaign = fresh(campaign_id)
        if campaign.status in (CampaignStatus.PAUSED, CampaignStatus.CANCELLED):
            jobqueue.note_halted(campaign_id, campaign.version)
        update = render_update(campaign, [])
        status = campaign.status
        db.session.commit()
        channel = campaign_channel(campaign_id)
        publish(redis.client, channel, update, type=UPDATE_EVENT)
        # Browsers drop an event without data: it names the new status.
        publish(redis.client, channel, status, type=REFRESH_EVENT)
        publish(redis.client, CAMPAIGN_LIST_CHANNEL, status, type=REFRESH_EVENT)
    except (RedisError, DBAPIError) as error:
        db.session.rollback()
        log.warning("campaign %s: status change not shown live: %s", campaign_id, error)


def show_deleted(campaign_id: int) -> None:
    """After a draft was deleted: open pages reload their block, and are told it is gone."""
    try:
        publish(redis.client, campaign_channel(campaign_id), "deleted", type=REFRESH_EVENT)
        publish(redis.client, CAMPAIGN_LIST_CHANNEL, "deleted", type=REFRESH_EVENT)
    except RedisError as error:
        log.warning("campaign %s: deletion not shown live: %s", campaign_id, error)


def fresh(campaign_id: int) -> Campaign:
    """The campaign row as this transaction sees it now, counters included."""
    return db.session.get_one(Campaign, campaign_id, populate_existing=True)
