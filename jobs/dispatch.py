"""Sending a campaign: many sends in flight, state written in batches.

Start fans a campaign out to several jobs (``dispatch.enqueue_send``); each
claims batches of recipients from the whole campaign with ``SKIP LOCKED``, so
as many worker processes as there are jobs share it, on any machine.

One loop turn of a job records every outcome that has arrived and claims as
many new recipients as it has free slots and the channel's rate allows, in one
transaction. Provider calls run on a thread pool; only the job's own thread
touches the database. Badge changes go to the coalesced live updates
(``app.campaigns.live``), never one message per change.
"""
import queue
import time
from concurrent.futures import Future, ThreadPoolExecutor

from flask import current_app

from app.audit import campaign_history
from app.campaigns import dispatch, live
from app.campaigns.live import BadgeChange
from app.campaigns.models import Campaign, CampaignStatus, RecipientStatus
from app.extensions import db, redis
from jobs.provider import ProviderError, SimulatedProvider
from jobs.ratelimit import SendRate

# After the first outcome arrives, gather more for this long before writing
# them: at zero latency that makes batches of many outcomes per transaction, and
# against a 1-3 s provider it delays a free slot by well under 1 %.
GATHER_SECONDS = 0.01


def send_campaign(campaign_id: int) -> str:
    """Send one slice of a campaign, then hand the rest to a fresh job.

    Runs inside the worker's app context. Returns a one-line summary for RQ's log.
    """
    config = current_app.config
    campaign = db.session.get(Campaign, campaign_id)
    if campaign is None or campaign.status != CampaignStatus.SENDING:
        return f"campaign {campaign_id}: nothing to send"
    channel, message = campaign.channel, campaign.message
    db.session.commit()

    provider = SimulatedProvider.from_config(config)
    rate = SendRate(redis.client, channel, config["RATE_LIMITS"].get(channel, 0.0))
    concurrency = config["DISPATCH_CONCURRENCY"]
    tick = 1 / config["LIVE_UPDATES_PER_SECOND"]
    deadline = time.monotonic() + config["DISPATCH_SLICE_SECONDS"]
    in_flight: dict[Future, dispatch.Claimed] = {}
    done: queue.SimpleQueue[Future] = queue.SimpleQueue()
    outcomes: list[dispatch.Outcome] = []
    finished = 0
    claiming = True
    claimed_once = False

    with ThreadPoolExecutor(concurrency, thread_name_prefix=f"campaign-{campaign_id}") as pool:
        while True:
            grant = rate.take(concurrency - len(in_flight) if claiming else 0)
            stored, claimed = dispatch.advance(campaign_id, outcomes, grant.granted)
            finished += stored
            db.session.commit()
            live.note(campaign_id, [BadgeChange(o.recipient_id, o.status, o.error) for o in outcomes]
                      + [BadgeChange(c.id, RecipientStatus.SENDING) for c in claimed])
            flush_in = live.flush(campaign_id)

            for recipient in claimed:
                future = pool.submit(provider.send, channel, recipient.address, message)
                in_flight[future] = recipient
                future.add_done_callback(done.put)
            if grant.granted:
                # Fewer rows than asked for means none are left queued; the
                # first claim ignores the deadline, so every job makes progress.
                claimed_once = True
                claiming = len(claimed) == grant.granted
            if claimed_once and time.monotonic() >= deadline:
                claiming = False
            if not in_flight and not claiming:
                break

            # Wake for outcomes, the next token, or a pending live update.
            timeout = min(t for t in (tick, grant.retry_in or None, flush_in) if t)
            outcomes = [_outcome(in_flight.pop(future), future) for future in _gather(done, len(in_flight), timeout)]

    _flush_the_rest(campaign_id)
    completed = dispatch.complete_if_done(campaign_id)
    campaign = live.fresh(campaign_id)
    more = campaign.queued_count > 0
    update = live.render_update(campaign, [], history=campaign_history(campaign_id)) if completed else None
    db.session.commit()
    if completed:
        live.publish_update(campaign_id, update)
        return f"campaign {campaign_id}: completed, {finished} sent or failed by this job"
    if more:
        dispatch.enqueue_send(campaign_id)
        return f"campaign {campaign_id}: {finished} done, the rest handed to a new job"
    return f"campaign {campaign_id}: {finished} done, other jobs still sending"


def _flush_the_rest(campaign_id: int) -> None:
    """Wait out the live-update interval if need be, so this job's last changes are shown."""
    while (flush_in := live.flush(campaign_id)) is not None:
        time.sleep(flush_in)


def _gather(done: queue.SimpleQueue, in_flight: int, timeout: float) -> list[Future]:
    """Wait up to ``timeout`` for a finished send, then briefly for more."""
    if not in_flight:
        time.sleep(timeout)
        return []
    try:
        futures = [done.get(timeout=timeout)]
    except queue.Empty:
        return []
    until = time.monotonic() + GATHER_SECONDS
    while len(futures) < in_flight and (left := until - time.monotonic()) > 0:
        try:
            futures.append(done.get(timeout=left))
        except queue.Empty:
            break
    return futures


def _outcome(recipient: dispatch.Claimed, future: Future) -> dispatch.Outcome:
    try:
        return dispatch.Outcome(recipient.id, message_id=future.result())
    except ProviderError as error:
        return dispatch.Outcome(recipient.id, error=str(error))
