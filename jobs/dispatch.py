"""Sending a campaign: many sends in flight, state written in batches.

One loop turn records every outcome that has arrived and claims as many new
recipients as there are free slots, in one transaction, then publishes one
live update for the lot. Provider calls run on a thread pool; only this
thread touches the database.
"""
import time
from concurrent.futures import FIRST_COMPLETED, Future, ThreadPoolExecutor, wait

from flask import current_app

from app.audit import campaign_history
from app.campaigns import dispatch
from app.campaigns.live import BadgeChange, fresh, publish_update, render_update
from app.campaigns.models import Campaign, CampaignStatus, RecipientStatus
from app.extensions import db
from jobs.provider import ProviderError, SimulatedProvider


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
    concurrency = config["DISPATCH_CONCURRENCY"]
    deadline = time.monotonic() + config["DISPATCH_SLICE_SECONDS"]
    in_flight: dict[Future, dispatch.Claimed] = {}
    outcomes: list[dispatch.Outcome] = []
    finished = 0
    claimed_once = False

    with ThreadPoolExecutor(concurrency, thread_name_prefix=f"campaign-{campaign_id}") as pool:
        while True:
            finished += dispatch.record(campaign_id, outcomes)
            free = concurrency - len(in_flight)
            # The first claim ignores the deadline, so every job makes progress.
            may_claim = free and (not claimed_once or time.monotonic() < deadline)
            claimed = dispatch.claim(campaign_id, free) if may_claim else []
            claimed_once = True
            changes = [BadgeChange(o.recipient_id, o.status, o.error) for o in outcomes]
            changes += [BadgeChange(c.id, RecipientStatus.SENDING) for c in claimed]
            update = render_update(fresh(campaign_id), changes) if changes else None
            db.session.commit()
            if update:
                publish_update(campaign_id, update)

            for recipient in claimed:
                in_flight[pool.submit(provider.send, channel, recipient.address, message)] = recipient
            if not in_flight:
                break
            done, _ = wait(in_flight, return_when=FIRST_COMPLETED)
            outcomes = [_outcome(in_flight.pop(future), future) for future in done]

    completed = dispatch.complete_if_done(campaign_id)
    campaign = fresh(campaign_id)
    more = campaign.queued_count > 0
    update = render_update(campaign, [], history=campaign_history(campaign_id)) if completed else None
    db.session.commit()
    if completed:
        publish_update(campaign_id, update)
        return f"campaign {campaign_id}: completed, {finished} sent or failed by this job"
    if more:
        dispatch.enqueue_send(campaign_id)
        return f"campaign {campaign_id}: {finished} done, the rest handed to a new job"
    return f"campaign {campaign_id}: {finished} done, other jobs still sending"


def _outcome(recipient: dispatch.Claimed, future: Future) -> dispatch.Outcome:
    try:
        return dispatch.Outcome(recipient.id, message_id=future.result())
    except ProviderError as error:
        return dispatch.Outcome(recipient.id, error=str(error))
