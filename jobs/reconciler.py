"""The reconciler: the database is the truth, and this makes Redis and the
workers agree with it again.

    python -m jobs.reconciler

Every RECONCILE_SECONDS it puts back recipients whose worker died mid-send
(their lease expired), completes campaigns that have nothing left, and
enqueues a dispatch job for every sending campaign that is owed work (queued
recipients, or retries now due) and has no job queued or running: after a
retry's wait, a worker crash, or Redis losing its queues. The Procfile runs
one; more are safe, since every change is guarded and a pass takes a Redis
lock first.
"""

import logging
import re
import time

from dotenv import load_dotenv
from redis.exceptions import RedisError
from rq import Queue
from sqlalchemy import select
from sqlalchemy.exc import DBAPIError

from app import audit, create_app
from app.audit import Action, Via
from app.campaigns import delivery, dispatch
from app.campaigns.models import Campaign, CampaignStatus
from app.campaigns.parsing import plural
from app.extensions import db, redis
from jobs.dispatch import show_status_change

log = logging.getLogger("jobs.reconciler")

PASS_LOCK = "dispatch:reconciler"
JOB_ID = re.compile(rf"^{re.escape(dispatch.SEND_JOB_PREFIX)}(\d+)-")


def reconcile(
    queue_name: str, lock_seconds: float = 0.0, jobless_before: set[int] | None = None
) -> dict[str, list[int]]:
    """One pass; returns the campaigns it reaped, completed, found owed work with
    no job ("jobless") and enqueued, for the next pass, logs and tests.

    A campaign gets a job only if the previous pass found it jobless too
    (``jobless_before``; None skips that wait): a worker that has just taken a
    job off the queue has not beaten its heartbeat yet. ``lock_seconds`` > 0
    skips the pass when another reconciler made one that recently.
    """
    done: dict[str, list[int]] = {"reaped": [], "completed": [], "jobless": [], "enqueued": []}
    if lock_seconds > 0 and not redis.client.set(PASS_LOCK, "1", nx=True, px=int(lock_seconds * 1000)):
        return done
    for campaign_id in delivery.campaigns_with_expired_leases():
        db.session.commit()
        if delivery.reap_expired_leases(campaign_id):
            done["reaped"].append(campaign_id)
        db.session.commit()

    campaigns = db.session.scalars(select(Campaign).where(Campaign.status == CampaignStatus.SENDING)).all()
    db.session.commit()
    with_jobs = _campaigns_with_jobs(queue_name, [c.id for c in campaigns])
    for campaign in campaigns:
        if campaign.owed_count == 0 and campaign.sending_count == 0:
            # Its last job died between its last send and completing it.
            completed = dispatch.complete_if_done(campaign.id)
            db.session.commit()
            if completed:
                done["completed"].append(campaign.id)
                show_status_change(campaign.id)
            continue
        if campaign.id in with_jobs:
            continue
        if not (campaign.queued_count > 0 or delivery.retry_due(campaign.id)):
            continue
        done["jobless"].append(campaign.id)
        if jobless_before is not None and campaign.id not in jobless_before:
            continue
        if campaign.queued_count > 0:
            audit.record(
                Action.CAMPAIGN_RECOVERED,
                via=Via.DISPATCHER,
                campaign_id=campaign.id,
                detail=f"dispatch restarted: {plural(campaign.queued_count, 'queued recipient')} had no job",
            )
        db.session.commit()
        dispatch.enqueue_send(campaign.id, campaign.owed_count)
        done["enqueued"].append(campaign.id)
    return done


def _campaigns_with_jobs(queue_name: str, sending: list[int]) -> set[int]:
    """Campaigns with a dispatch job waiting in the queue or a running one's heartbeat."""
    queued = Queue(queue_name, connection=redis.client).get_job_ids()
    ids = {int(m.group(1)) for job_id in queued if (m := JOB_ID.match(job_id))}
    if sending:
        alive = redis.client.mget([dispatch.alive_key(cid) for cid in sending])
        ids |= {cid for cid, beat in zip(sending, alive) if beat is not None}
    return ids


def main() -> None:
    load_dotenv()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app()
    interval = app.config["RECONCILE_SECONDS"]
    log.info("reconciling every %.1f s", interval)
    jobless: set[int] = set()
    with app.app_context():
        while True:
            started = time.monotonic()
            try:
                done = reconcile(app.config["RQ_QUEUE"], lock_seconds=interval * 0.9, jobless_before=jobless)
                jobless = set(done["jobless"])
                if any(v for k, v in done.items() if k != "jobless"):
                    log.info("%s", ", ".join(f"{k} {v}" for k, v in done.items() if v))
            except (DBAPIError, RedisError) as error:
                # An outage: say so and try again next pass.
                log.warning("pass skipped: %s", str(error).splitlines()[0])
                try:
                    db.session.rollback()
                except DBAPIError:
                    pass
            time.sleep(max(interval - (time.monotonic() - started), 0.05))


if __name__ == "__main__":
    main()
