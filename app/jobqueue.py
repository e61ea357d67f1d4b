"""The protocol between the web side, the jobs and the reconciler: which job
sends a campaign, what its id says, and the heartbeat that says one is running.

The web side enqueues by dotted path and never imports the job modules. A
campaign's jobs are named ``send-campaign-<id>-<random>``, so the reconciler
can tell from the queue alone which campaigns have a job waiting; a running
job keeps the campaign's heartbeat key alive (``Heartbeat``). Commit first,
then enqueue: a job must never find its campaign not yet ``sending``.
"""

import logging
import math
import re
import time
import uuid
from collections.abc import Iterable
from dataclasses import dataclass

from flask import current_app
from redis import Redis
from redis.exceptions import RedisError
from rq import Queue
from rq.exceptions import NoSuchJobError
from rq.job import Job

from app.extensions import redis

log = logging.getLogger(__name__)

SEND_JOB = "jobs.send.send_campaign"
SEND_JOB_ID = re.compile(r"^send-campaign-(\d+)-")


def send_job_id(campaign_id: int) -> str:
    return f"send-campaign-{campaign_id}-{uuid.uuid4().hex}"


def heartbeat_key(campaign_id: int) -> str:
    """Set by every running send job of the campaign, with a short TTL."""
    return f"dispatch:campaign-{campaign_id}:alive"


def heartbeat_seconds() -> float:
    """How long a job's heartbeat lasts: a few reconciler passes, and over a second
    (jobs beat at most once a second)."""
    return max(3.0, 3 * current_app.config["RECONCILE_SECONDS"])


def queue() -> Queue:
    return Queue(current_app.config["RQ_QUEUE"], connection=redis.client)


@dataclass(frozen=True)
class Waiting:
    """The queue now: how many jobs wait, how long the first has waited
    (0 when none does), and how many workers are running."""

    name: str
    depth: int
    oldest_seconds: float
    running: int


def waiting() -> Waiting:
    """The queue as ``/metrics`` and the Operations page show it. Raises RedisError."""
    found = queue()
    return Waiting(found.name, found.count, _age_of_first(found), found.started_job_registry.count)


def _age_of_first(found: Queue) -> float:
    job_ids = found.get_job_ids(0, 1)
    if not job_ids:
        return 0.0
    try:
        job = Job.fetch(job_ids[0], connection=found.connection)
    except NoSuchJobError:  # taken by a worker meanwhile
        return 0.0
    if job.enqueued_at is None:
        return 0.0
    return max(time.time() - job.enqueued_at.timestamp(), 0.0)


def campaign_of(job_id: str | None) -> int | None:
    """The campaign a send job sends, from its id; None for another job, or none."""
    found = SEND_JOB_ID.match(job_id or "")
    return int(found.group(1)) if found else None


def enqueue_send(campaign_id: int, recipients: int = 1) -> int:
    """Queue the jobs that send a campaign; returns how many.

    One job per DISPATCH_JOB_RECIPIENTS of the ``recipients`` still to send, at
    least one and at most DISPATCH_MAX_JOBS: that many worker processes can
    then share the campaign.
    """
    config = current_app.config
    jobs = min(max(math.ceil(recipients / config["DISPATCH_JOB_RECIPIENTS"]), 1), config["DISPATCH_MAX_JOBS"])
    # Counts as a running job from now, so the reconciler does not add one in
    # the moment between a worker taking a job off the queue and its first beat.
    redis.client.set(heartbeat_key(campaign_id), "1", px=int(heartbeat_seconds() * 1000))
    queue().enqueue_many(
        [
            Queue.prepare_data(
                SEND_JOB,
                (campaign_id,),
                job_id=send_job_id(campaign_id),
                # A job works one slice and then hands on, so its run time is bounded.
                timeout=int(config["DISPATCH_SLICE_SECONDS"] * 2 + config["PROVIDER_LATENCY_MAX"] + 60),
                result_ttl=0,
            )
            for _ in range(jobs)
        ]
    )
    return jobs


def campaigns_with_jobs(campaign_ids: Iterable[int]) -> set[int]:
    """Those of ``campaign_ids`` with a send job waiting in the queue or a running one's heartbeat."""
    campaign_ids = list(campaign_ids)
    queued = {campaign for job_id in queue().get_job_ids() if (campaign := campaign_of(job_id)) is not None}
    if not campaign_ids:
        return queued
    beats = redis.client.mget([heartbeat_key(cid) for cid in campaign_ids])
    return queued | {cid for cid, beat in zip(campaign_ids, beats, strict=True) if beat is not None}


def serving_key(job_id: str) -> str:
    return f"dispatch:job-{job_id}:campaigns"


def note_serving(connection: Redis, job_id: str, campaign_ids: Iterable[int], ttl: float) -> None:
    """Which campaigns a running send job sends now, its own first, for the
    Operations page; it lapses ``ttl`` seconds after the job's last note."""
    connection.set(serving_key(job_id), ",".join(map(str, campaign_ids)), px=int(ttl * 1000))


def serving(job_ids: Iterable[str | None]) -> dict[str, list[int]]:
    """The campaigns each of these running send jobs noted it sends. Raises RedisError."""
    wanted = [job_id for job_id in job_ids if job_id is not None and campaign_of(job_id) is not None]
    if not wanted:
        return {}
    noted = redis.client.mget([serving_key(job_id) for job_id in wanted])
    return {
        job_id: [int(each) for each in (value.decode() if isinstance(value, bytes) else value).split(",") if each]
        for job_id, value in zip(wanted, noted, strict=True)
        if value is not None
    }


class Heartbeat:
    """Tells the reconciler that a job is working on the campaign, at most once a second."""

    def __init__(self, connection: Redis, campaign_id: int, ttl: float) -> None:
        self.connection = connection
        self.key = heartbeat_key(campaign_id)
        self.ttl_ms = int(ttl * 1000)
        self.last = 0.0

    def beat(self) -> None:
        now = time.monotonic()
        if now - self.last < 1.0:
            return
        try:
            self.connection.set(self.key, "1", px=self.ttl_ms)
            self.last = now
        except RedisError as error:
            # Without it the reconciler may start another job: harmless, as jobs share campaigns.
            log.warning("campaign heartbeat skipped: %s", error)

    def stop(self) -> None:
        """At the job's end, so a retry falling due is not left waiting for the beat to
        expire; if other jobs still run, their next beat sets it again."""
        try:
            self.connection.delete(self.key)
        except RedisError as error:
            log.warning("campaign heartbeat not cleared: %s", error)


# KEYS[1] the campaign's halted key; ARGV the version at which it stopped
# sending, and the key's TTL in ms. Keeps the highest version noted, whichever
# web process or job gets there first.
NOTE_HALTED = """
local noted = tonumber(redis.call('GET', KEYS[1]))
if noted == nil or noted < tonumber(ARGV[1]) then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
"""
# Long past any job's slice: by then every job has read the row itself.
HALTED_TTL_MS = 24 * 3600 * 1000


def halted_key(campaign_id: int) -> str:
    return f"dispatch:campaign-{campaign_id}:halted"


def note_halted(campaign_id: int, version: int) -> None:
    """After a pause or cancel committed: the campaign row's ``version`` then,
    so that its send jobs' calls waiting to start are not made
    (``jobs.halt``). A job that misses it learns at its next loop turn."""
    script = redis.client.register_script(NOTE_HALTED)
    script(keys=[halted_key(campaign_id)], args=[version, HALTED_TTL_MS])


def halted_at(connection: Redis, campaign_id: int) -> int | None:
    """The campaign's version when it last stopped sending, if noted."""
    noted = connection.get(halted_key(campaign_id))
    return int(noted) if noted is not None else None


TEST_SEND_JOB = "jobs.test_send.send_test"


def enqueue_test_send(test_id: int) -> None:
    """Queue the job that sends one test ("Send a test to me"); commit the test first."""
    queue().enqueue(TEST_SEND_JOB, test_id, job_id=f"test-send-{test_id}", result_ttl=0)


IMPORT_JOB = "jobs.import_contacts.import_contacts"


def enqueue_import(import_id: int) -> None:
    """Queue the job that imports a confirmed contacts file; commit its ``queued`` status first."""
    queue().enqueue(
        IMPORT_JOB,
        import_id,
        job_id=f"import-contacts-{import_id}-{uuid.uuid4().hex}",
        # A million rows take minutes; a job past this stops, and Try again resumes it.
        job_timeout=3600,
        result_ttl=0,
    )


CONTACT_CHANGE_JOB = "jobs.contact_changes.change_contacts"


def enqueue_contact_change(change_id: int) -> None:
    """Queue the job that makes a change to many contacts; commit the change first."""
    queue().enqueue(
        CONTACT_CHANGE_JOB,
        change_id,
        job_id=f"contact-change-{change_id}-{uuid.uuid4().hex}",
        # A million contacts take minutes; a job past this stops, and Try again resumes it.
        job_timeout=3600,
        result_ttl=0,
    )


WEBHOOK_DRAIN_JOB = "jobs.webhooks.deliver_due"
WEBHOOK_DRAIN_JOB_PREFIX = "webhook-drain-"


def enqueue_webhook_drain() -> None:
    """Queue a job that sends the webhook deliveries due (``app.hooks.delivery``);
    commit the deliveries first. Drains share the outbox, so an extra one is harmless."""
    queue().enqueue(
        WEBHOOK_DRAIN_JOB,
        job_id=f"{WEBHOOK_DRAIN_JOB_PREFIX}{uuid.uuid4().hex}",
        # A drain hands on after its slice (app.hooks.delivery.DRAIN_SLICE_SECONDS).
        job_timeout=600,
        result_ttl=0,
    )


def webhook_drain_waiting() -> bool:
    """Whether a drain job waits in the queue (one running drains what falls due as it goes)."""
    return any(job_id.startswith(WEBHOOK_DRAIN_JOB_PREFIX) for job_id in queue().get_job_ids())
