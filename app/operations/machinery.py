"""What the Operations page shows of the machinery, read in one go: the
queue, the workers, the periodic tasks' last passes, and the last hour's
provider calls.

Each part is read on its own, so that Redis down still shows the calls and
PostgreSQL down still shows the workers: a part that cannot be read says why
(``problems``) instead of failing the page.
"""

import logging
import time
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import datetime

from flask import current_app
from redis.exceptions import RedisError
from rq.worker import BaseWorker
from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from app import heartbeats, jobqueue
from app.campaigns import outcomes
from app.campaigns.models import Campaign
from app.extensions import db, redis

log = logging.getLogger(__name__)

NO_REDIS = "Redis does not answer, so the queue, the workers and the periodic tasks cannot be read."
NO_POSTGRES = "PostgreSQL does not answer, so the last hour's calls cannot be read."


@dataclass(frozen=True)
class WorkerRow:
    name: str
    host: str
    pid: int | None
    state: str
    # The campaigns its send job sends (its own first), by id and title, or another job's id.
    campaigns: list[tuple[int, str | None]]
    other_job: str | None
    done: int
    failed_jobs: int
    last_beat: datetime | None
    stale: bool


@dataclass(frozen=True)
class TaskRow:
    name: str
    process: str
    at: float
    ok: bool
    seconds: float
    late: bool
    process_running: bool


@dataclass
class Machinery:
    at: float
    stale_seconds: float
    queue: jobqueue.Waiting | None = None
    workers: list[WorkerRow] = field(default_factory=list)
    tasks: list[TaskRow] = field(default_factory=list)
    # The periodic processes none of whose heartbeats is current.
    processes_missing: list[str] = field(default_factory=list)
    calls: outcomes.LastHour | None = None
    problems: list[str] = field(default_factory=list)

    @property
    def workers_alive(self) -> int:
        return sum(not worker.stale for worker in self.workers)


def read() -> Machinery:
    """The machinery now. Ends the session's transaction."""
    config = current_app.config
    found = Machinery(at=time.time(), stale_seconds=config["WORKER_STALE_SECONDS"])
    try:
        found.queue = jobqueue.waiting()
        workers = heartbeats.workers(redis.client, config["RQ_QUEUE"])
        # The job each is running: one Redis read per worker, made once.
        jobs = {worker.name: worker.get_current_job_id() for worker in workers}
        # And the campaigns each send job sends beside its own (jobs.sharing).
        serving = jobqueue.serving(jobs.values())
        passes = heartbeats.periodic_passes(redis.client)
        alive = heartbeats.periodic_processes_alive(redis.client)
    except RedisError as error:
        log.warning("operations: could not read Redis: %s", error)
        found.problems.append(NO_REDIS)
        workers, jobs, serving, passes, alive = [], {}, {}, {}, set(heartbeats.PERIODIC_PROCESSES)
    titles: dict[int, str] = {}
    try:
        campaigns = {job: _campaigns_of(job, serving) for job in jobs.values()}
        titles = _titles(campaigns.values())
        if not found.problems:
            found.calls = outcomes.last_hour(redis.client, found.at)
    except SQLAlchemyError as error:
        log.warning("operations: could not read PostgreSQL: %s", error)
        found.problems.append(NO_POSTGRES)
    except RedisError as error:
        log.warning("operations: could not read Redis: %s", error)
        found.problems.append(NO_REDIS)
    finally:
        db.session.rollback()
    found.workers = [
        _worker_row(worker, jobs[worker.name], _campaigns_of(jobs[worker.name], serving), titles, found.stale_seconds)
        for worker in sorted(workers, key=lambda each: each.name)
    ]
    found.tasks = [
        TaskRow(name, each.process, each.at, each.ok, each.seconds, each.late(found.at), each.process in alive)
        for name, each in sorted(passes.items())
    ]
    found.processes_missing = [process for process in heartbeats.PERIODIC_PROCESSES if process not in alive]
    return found


def _campaigns_of(job: str | None, serving: dict[str, list[int]]) -> list[int]:
    """The campaigns a worker's job sends: those it noted, else its own (a
    send job not yet noting, or a job of another kind: none)."""
    own = jobqueue.campaign_of(job)
    if own is None or job is None:
        return []
    noted = serving.get(job) or [own]
    return [own, *(each for each in noted if each != own)] if own in noted else noted


def _titles(campaigns: Iterable[list[int]]) -> dict[int, str]:
    """The titles of these campaigns, by id."""
    wanted = {campaign for each in campaigns for campaign in each}
    if not wanted:
        return {}
    found = db.session.execute(select(Campaign.id, Campaign.title).where(Campaign.id.in_(wanted)))
    return {campaign_id: title for campaign_id, title in found}


def _worker_row(
    worker: BaseWorker, job: str | None, campaigns: list[int], titles: dict[int, str], stale_seconds: float
) -> WorkerRow:
    return WorkerRow(
        name=worker.name,
        host=worker.hostname or "",
        pid=worker.pid,
        # A string as read back from Redis; WorkerStatus in the worker itself.
        state=str(getattr(worker.get_state(), "value", worker.get_state())),
        campaigns=[(campaign, titles.get(campaign)) for campaign in campaigns],
        other_job=job if jobqueue.campaign_of(job) is None else None,
        done=worker.successful_job_count,
        failed_jobs=worker.failed_job_count,
        last_beat=worker.last_heartbeat,
        stale=heartbeats.stale(worker, stale_seconds),
    )
