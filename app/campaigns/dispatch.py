"""A campaign's life as guarded state transitions.

Every function here changes rows with one guarded ``UPDATE … WHERE status …``
so that two requests, two jobs or a request and a job racing each other can
never both win, and updates the campaign's counters in the same transaction
as the recipient rows they count. None of them commits: the caller does.
"""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from flask import current_app
from rq import Queue
from sqlalchemy import func, text, update

from app import audit
from app.audit import Action, Via
from app.campaigns.models import Campaign, CampaignStatus, RecipientStatus
from app.campaigns.parsing import ParsedRecipient
from app.extensions import db, redis

if TYPE_CHECKING:
    from app.auth.models import User


INSERT_CHUNK = 10_000


def create_campaign(
    title: str,
    channel: str,
    message: str,
    recipients: list[ParsedRecipient],
    *,
    created_by: User | None,
    via: Via = Via.WEB,
) -> Campaign:
    campaign = Campaign(title=title, channel=channel, message=message, recipient_count=len(recipients))
    db.session.add(campaign)
    db.session.flush()
    if recipients:
        _insert_recipients(campaign.id, recipients)
    audit.record(Action.CAMPAIGN_CREATED, actor=created_by, via=via, campaign_id=campaign.id,
                 detail=f"{len(recipients):,} recipients")
    return campaign


def _insert_recipients(campaign_id: int, recipients: list[ParsedRecipient]) -> None:
    """Bulk insert, a chunk of rows per statement as arrays unnested by PostgreSQL.

    Several times faster than one VALUES tuple per row, and unlike COPY it works
    under gevent (psycopg2 refuses COPY with psycogreen's wait callback).
    """
    statement = text(
        """
        INSERT INTO recipients (campaign_id, line, name, address, address_normalized)
        SELECT :campaign_id, * FROM unnest(
            CAST(:lines AS integer[]), CAST(:names AS text[]),
            CAST(:addresses AS text[]), CAST(:normalized AS text[])
        )
        """
    )
    for start in range(0, len(recipients), INSERT_CHUNK):
        chunk = recipients[start:start + INSERT_CHUNK]
        db.session.execute(statement, {
            "campaign_id": campaign_id,
            "lines": [r.line for r in chunk],
            "names": [r.name for r in chunk],
            "addresses": [r.address for r in chunk],
            "normalized": [r.address_normalized for r in chunk],
        })


def start(campaign_id: int, actor: User | None) -> bool:
    """Move a draft to ``sending``; False when it was not a draft (already started)."""
    changed = db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id, Campaign.status == CampaignStatus.DRAFT)
        .values(status=CampaignStatus.SENDING, started_at=func.now())
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed:
        audit.record(Action.CAMPAIGN_STARTED, actor=actor, campaign_id=campaign_id)
    return changed == 1


@dataclass(frozen=True)
class Claimed:
    id: int
    address: str


@dataclass(frozen=True)
class Outcome:
    recipient_id: int
    message_id: str | None = None
    error: str | None = None

    @property
    def status(self) -> RecipientStatus:
        return RecipientStatus.FAILED if self.error else RecipientStatus.SENT


def advance(campaign_id: int, outcomes: list[Outcome], limit: int) -> tuple[int, list[Claimed]]:
    """Store provider outcomes for claimed recipients, then claim up to ``limit``
    queued ones (marked ``sending``); returns how many outcomes were stored and
    the claimed recipients.

    Only rows still ``sending`` take an outcome, so one reported twice counts
    once. ``SKIP LOCKED`` lets several jobs claim from one campaign at once
    without waiting on, or taking, each other's rows. The counters change once,
    last, so the campaign row, which every job sending this campaign updates,
    stays locked only until the caller's commit that follows.
    """
    sent, failed = _store(campaign_id, outcomes)
    claimed = _claim(campaign_id, limit)
    _bump_counters(campaign_id, sending=len(claimed) - sent - failed, sent=sent, failed=failed)
    return sent + failed, claimed


def _claim(campaign_id: int, limit: int) -> list[Claimed]:
    if limit <= 0:
        return []
    rows = db.session.execute(
        text(
            """
            UPDATE recipients SET status = 'sending', attempts = attempts + 1, updated_at = now()
            WHERE id IN (
                SELECT id FROM recipients
                WHERE campaign_id = :campaign_id AND status = 'queued'
                ORDER BY id LIMIT :limit
                FOR UPDATE SKIP LOCKED
            )
            RETURNING id, address_normalized
            """
        ),
        {"campaign_id": campaign_id, "limit": limit},
    ).all()
    return sorted((Claimed(*row) for row in rows), key=lambda c: c.id)


def _store(campaign_id: int, outcomes: list[Outcome]) -> tuple[int, int]:
    """Write outcomes, a batch per statement as arrays; returns (sent, failed) stored.

    Naming the campaign as well as the ids lets PostgreSQL find the rows through
    the ``(campaign_id, status, id)`` index, among the few now ``sending``, rather
    than scan the table when its statistics say ``sending`` rows are rare.
    """
    if not outcomes:
        return 0, 0
    stored = db.session.execute(
        text(
            """
            UPDATE recipients AS r
            SET status = o.status, provider_message_id = o.message_id, last_error = o.error,
                updated_at = now(), finished_at = now()
            FROM unnest(
                CAST(:ids AS integer[]), CAST(:statuses AS text[]),
                CAST(:message_ids AS text[]), CAST(:errors AS text[])
            ) AS o(id, status, message_id, error)
            WHERE r.id = o.id AND r.campaign_id = :campaign_id AND r.status = 'sending'
            RETURNING r.status
            """
        ),
        {
            "campaign_id": campaign_id,
            "ids": [o.recipient_id for o in outcomes],
            "statuses": [o.status.value for o in outcomes],
            "message_ids": [o.message_id for o in outcomes],
            "errors": [o.error for o in outcomes],
        },
    ).scalars().all()
    return stored.count(RecipientStatus.SENT), stored.count(RecipientStatus.FAILED)


def complete_if_done(campaign_id: int) -> bool:
    """Mark the campaign completed once every recipient is sent or failed."""
    changed = db.session.execute(
        update(Campaign)
        .where(
            Campaign.id == campaign_id,
            Campaign.status == CampaignStatus.SENDING,
            Campaign.sent_count + Campaign.failed_count == Campaign.recipient_count,
        )
        .values(status=CampaignStatus.COMPLETED, finished_at=func.now())
        .execution_options(synchronize_session=False)
    ).rowcount
    if changed:
        audit.record(Action.CAMPAIGN_COMPLETED, via=Via.DISPATCHER, campaign_id=campaign_id)
    return changed == 1


def _bump_counters(campaign_id: int, sending: int = 0, sent: int = 0, failed: int = 0) -> None:
    if not (sending or sent or failed):
        return
    db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(
            sending_count=Campaign.sending_count + sending,
            sent_count=Campaign.sent_count + sent,
            failed_count=Campaign.failed_count + failed,
        )
        .execution_options(synchronize_session=False)
    )


SEND_JOB = "jobs.dispatch.send_campaign"


def enqueue_send(campaign_id: int, recipients: int = 1) -> int:
    """Queue the jobs that send a campaign; returns how many.

    One job per DISPATCH_JOB_RECIPIENTS of the ``recipients`` still to send, at
    least one and at most DISPATCH_MAX_JOBS: that many worker processes can
    then share the campaign. Call after the start is committed, so no job looks
    for a campaign that is not ``sending`` yet.
    """
    config = current_app.config
    jobs = min(max(-(-recipients // config["DISPATCH_JOB_RECIPIENTS"]), 1), config["DISPATCH_MAX_JOBS"])
    queue = Queue(config["RQ_QUEUE"], connection=redis.client)
    queue.enqueue_many([
        Queue.prepare_data(
            SEND_JOB,
            (campaign_id,),
            # A job works one slice and then hands on, so its run time is bounded.
            timeout=int(config["DISPATCH_SLICE_SECONDS"] * 2 + config["PROVIDER_LATENCY_MAX"] + 60),
            result_ttl=0,
        )
        for _ in range(jobs)
    ])
    return jobs
