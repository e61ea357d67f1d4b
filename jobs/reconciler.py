"""The reconciler: the database is the truth, and this makes Redis and the
workers agree with it again.

    python -m jobs.reconciler

Every RECONCILE_SECONDS it puts back recipients whose worker died mid-send
(their lease expired), completes campaigns that have nothing left, and
enqueues a send job for every sending campaign that is owed work (queued
recipients, or retries now due) and has no job queued or running: after a
retry's wait, a worker crash, or Redis losing its queues; and queues again a
contacts import, or a change to many contacts, whose job stopped writing
(``importing.stalled``, ``bulk.stalled``). Once an hour
it removes uploads never imported and expired idempotency keys. The Procfile runs
one; more are safe, since every change is guarded and a pass takes a Redis
lock first.

Every step is a unit of work with its own short transaction, committed or
rolled back before the next: nothing is read between them inside an old
transaction, whose snapshot and ``now()`` would be stale, and no transaction
stays open while the reconciler sleeps.
"""

import contextlib
import logging
import time
from collections.abc import Callable
from typing import NamedTuple, TypeVar

from dotenv import load_dotenv
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app import create_app, jobqueue
from app.api import idempotency
from app.campaigns import delivery, lifecycle, live, recovery
from app.campaigns.models import CampaignStatus, lit
from app.contacts import bulk, importing
from app.extensions import db, redis

log = logging.getLogger("jobs.reconciler")

PASS_LOCK = "dispatch:reconciler"
HOUSEKEEPING_LOCK = "dispatch:housekeeping"
HOUSEKEEPING_SECONDS = 3600
T = TypeVar("T")


class Sending(NamedTuple):
    id: int
    queued: int
    # Queued or waiting for a retry.
    owed: int
    in_flight: int


def reconcile(lock_seconds: float = 0.0, jobless_before: set[int] | None = None) -> dict[str, list[int]]:
    """One pass; returns the campaigns it reaped, completed, found owed work with
    no job ("jobless") and enqueued, for the next pass, logs and tests.

    A campaign gets a job only if the previous pass found it jobless too
    (``jobless_before``; None skips that wait): a worker that has just taken a
    job off the queue has not beaten its heartbeat yet. ``lock_seconds`` > 0
    skips the pass when another reconciler made one that recently.
    """
    done: dict[str, list[int]] = {
        "reaped": [],
        "completed": [],
        "jobless": [],
        "enqueued": [],
        "imports": [],
        "contact_changes": [],
        "forgotten": [],
    }
    if lock_seconds > 0 and not redis.client.set(PASS_LOCK, "1", nx=True, px=int(lock_seconds * 1000)):
        return done
    for campaign_id in unit(recovery.campaigns_with_expired_leases):
        if unit(recovery.reap_expired_leases, campaign_id):
            done["reaped"].append(campaign_id)
            live.show_campaign_change(campaign_id)

    campaigns = unit(_sending)
    with_jobs = jobqueue.campaigns_with_jobs(c.id for c in campaigns)
    for campaign in campaigns:
        if campaign.owed == 0 and campaign.in_flight == 0:
            # Its last job died between its last send and completing it.
            if unit(lifecycle.complete_if_done, campaign.id):
                done["completed"].append(campaign.id)
                live.show_campaign_change(campaign.id)
            continue
        if campaign.id in with_jobs:
            continue
        if not (campaign.queued > 0 or unit(delivery.retry_due, campaign.id)):
            continue
        done["jobless"].append(campaign.id)
        if jobless_before is not None and campaign.id not in jobless_before:
            continue
        if campaign.queued > 0:
            unit(recovery.note_restarted, campaign.id, campaign.queued)
        jobqueue.enqueue_send(campaign.id, campaign.owed)
        done["enqueued"].append(campaign.id)
    for import_id in unit(importing.stalled):
        jobqueue.enqueue_import(import_id)
        done["imports"].append(import_id)
    for change_id in unit(bulk.stalled):
        jobqueue.enqueue_contact_change(change_id)
        done["contact_changes"].append(change_id)
    # Once an hour, by whichever reconciler comes first.
    if redis.client.set(HOUSEKEEPING_LOCK, "1", nx=True, px=HOUSEKEEPING_SECONDS * 1000):
        done["forgotten"] = unit(importing.forget_unstarted)
        if expired := unit(idempotency.forget_expired):
            log.info("removed %d idempotency keys older than %s", expired, idempotency.KEEP)
    return done


def unit(work: Callable[..., T], *args: object) -> T:
    """``work`` in a transaction of its own: committed if it returns, rolled back if it raises."""
    try:
        result = work(*args)
        db.session.commit()
        return result
    except BaseException:
        with contextlib.suppress(DBAPIError):
            db.session.rollback()
        raise


def _sending() -> list[Sending]:
    """Every sending campaign, read once a pass: its counters say what it is owed."""
    rows = db.session.execute(
        text(
            f"""
            SELECT id,
                   recipient_count - sending_count - retrying_count - {lifecycle.DONE},
                   recipient_count - sending_count - {lifecycle.DONE},
                   sending_count
            FROM campaigns WHERE status = {lit(CampaignStatus.SENDING)}
            """
        )
    ).all()
    return [Sending(*row) for row in rows]


def main() -> None:
    load_dotenv()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app({"PROCESS_NAME": "reconciler"})
    interval = app.config["RECONCILE_SECONDS"]
    log.info("reconciling every %.1f s", interval)
    jobless: set[int] = set()
    with app.app_context():
        while True:
            started = time.monotonic()
            try:
                done = reconcile(lock_seconds=interval * 0.9, jobless_before=jobless)
                jobless = set(done["jobless"])
                if any(v for k, v in done.items() if k != "jobless"):
                    log.info("%s", ", ".join(f"{k} {v}" for k, v in done.items() if v))
            except (DBAPIError, RedisError) as error:
                # An outage: say so and try again next pass.
                log.warning("pass skipped: %s", str(error).splitlines()[0])
            time.sleep(max(interval - (time.monotonic() - started), 0.05))


if __name__ == "__main__":
    main()
