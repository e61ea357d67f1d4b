"""Periodic work in one table: each task, the process that runs it and how
often, and the one loop that runs them.

    python -m jobs.reconciler     # the table's reconciler tasks
    python -m jobs.scheduler      # its scheduler task

A task is a function of the package that owns its tables, taking nothing.
The loop runs each when it is due, in table order, in a transaction of its
own: committed when it returns, rolled back when it raises. A task may commit
its steps before that (one campaign at a time), so that nothing is read
inside an old transaction and no page is told of a change not yet committed;
no transaction stays open while the loop sleeps.

Two processes, not one: a scheduled start waits neither for the reconciler's
tasks, which can take a while (reaping, enqueueing), nor for Redis. An
exclusive task runs once per interval across every process that has it, not
once in each: the first to come takes a Redis lock for most of the interval,
and another finding it held tries again when it lapses. Scheduled starts
take no lock (``FOR UPDATE SKIP LOCKED`` keeps several schedulers apart), so
they go on while Redis is down and the reconciler enqueues their jobs once it
is back.

One rule for every failure, an outage of PostgreSQL or Redis or a bug: the
task's uncommitted work is rolled back and its lock given back; it is logged
once, with its reason, when it starts failing, and once when it works again,
saying for how long it failed; it is tried again after its interval, doubling
with each failure in a row up to RETRY_CAP_SECONDS. The other tasks go on at
their own intervals, and the process never exits for it (a supervisor
restarting it would find the same outage).

Readiness (``/readyz``) asks whether each process runs: the loop renews its
process's heartbeat at every turn and records each task's pass, in Redis
(``app.heartbeats``, which says how); one it cannot write is skipped.
"""

import contextlib
import logging
import time
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from dotenv import load_dotenv
from flask import current_app
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from app import config, create_app, heartbeats, logs
from app.api import forget_expired_idempotency_keys
from app.campaigns import receipts, recovery, scheduling
from app.contacts import bulk, importing
from app.extensions import db, redis
from app.formatting import plural
from app.hooks import delivery as webhooks

HOURLY = 3600.0
# A failing task is tried again at most this long after its last failure: an
# outage's end is noticed within this, and meanwhile nothing hammers a server
# that is coming back.
RETRY_CAP_SECONDS = 10.0
# An exclusive task's lock lapses this share of its interval after it was
# taken, so that its taker finds it gone at its next run.
LOCK_SHARE = 0.9
# The loop never spins: it sleeps at least this long between two looks.
MIN_WAIT_SECONDS = 0.05


@dataclass(frozen=True)
class Task:
    process: str
    name: str
    run: Callable[[], object]
    every: float
    # Once per interval across processes (a Redis lock), rather than in each.
    exclusive: bool = True


def table(config: Mapping[str, Any]) -> list[Task]:
    """Every periodic task, with the process that runs it and its interval in seconds."""
    reconcile = config["RECONCILE_SECONDS"]
    schedule = config["SCHEDULER_INTERVAL_SECONDS"]
    return [
        # First: the recipients it puts back in the queue are owed work the next task sees.
        Task("reconciler", "expired-leases", recovery.recover_expired_leases, reconcile),
        Task("reconciler", "jobless-campaigns", recovery.JoblessCampaigns(), reconcile),
        Task("reconciler", "stalled-imports", importing.requeue_stalled, reconcile),
        Task("reconciler", "stalled-contact-changes", bulk.requeue_stalled, reconcile),
        Task("reconciler", "delivery-receipts", receipts.ApplyReceipts(), config["RECEIPT_APPLY_SECONDS"]),
        Task("reconciler", "unmatched-receipts", receipts.forget_unmatched, HOURLY),
        # Webhook deliveries due (a retry's time come, a killed drain's lease lapsed, a lost enqueue).
        Task("reconciler", "webhook-deliveries", webhooks.enqueue_due, reconcile),
        Task("reconciler", "unstarted-uploads", importing.forget_unstarted, HOURLY),
        Task("reconciler", "idempotency-keys", forget_expired_idempotency_keys, HOURLY),
        Task("scheduler", "scheduled-campaigns", scheduling.start_due, schedule, exclusive=False),
    ]


def tasks_of(process: str, config: Mapping[str, Any]) -> list[Task]:
    return [task for task in table(config) if task.process == process]


def lock_key(name: str) -> str:
    """Held by whichever process runs the exclusive task ``name`` this interval."""
    return f"dispatch:periodic:{name}"


@dataclass
class _Due:
    at: float
    # Failures in a row, and when the first of them began.
    failures: int = 0
    failing_since: float = 0.0


class Loop:
    """Runs ``tasks``, each when it is due. ``clock`` (monotonic seconds) is
    given so that a test can move time on without waiting for it.

    It tells readiness that its process runs, and how each task did
    (``app.heartbeats``), on a Redis client of its own that gives up quickly:
    a Redis that does not answer must not hold up a scheduler, which needs none.
    """

    def __init__(
        self, tasks: list[Task], clock: Callable[[], float] = time.monotonic, log: logging.Logger | None = None
    ) -> None:
        self.tasks = tasks
        self.clock = clock
        self.log = log or logging.getLogger(__name__)
        now = clock()
        self.due = {task.name: _Due(now) for task in tasks}
        # Each task's last result, for the log and for tests.
        self.results: dict[str, object] = {}
        self.alive_for = {
            process: heartbeats.process_ttl(task.every for task in tasks if task.process == process)
            for process in dict.fromkeys(task.process for task in tasks)
        }
        self.beats = heartbeats.writer(current_app)

    def forever(self, sleep: Callable[[float], None] = time.sleep) -> None:
        while True:
            self.tick()
            sleep(self.wait())

    def tick(self) -> list[str]:
        """Run every task now due, in table order; returns the names of those
        run (failed or not), leaving out any another process ran this interval."""
        self._beat()
        return [task.name for task in self.tasks if self.clock() >= self.due[task.name].at and self._run(task)]

    def wait(self) -> float:
        """Seconds until the next task is due, or until the process's heartbeat
        wants renewing, if sooner (a third of its life)."""
        next_due = min((due.at for due in self.due.values()), default=HOURLY) - self.clock()
        renew = min(self.alive_for.values(), default=HOURLY) / 3
        return max(min(next_due, renew), MIN_WAIT_SECONDS)

    def _run(self, task: Task) -> bool:
        with logs.context(task=task.name):
            return self._run_task(task)

    def _run_task(self, task: Task) -> bool:
        due = self.due[task.name]
        started = self.clock()
        started_at = time.time()
        locked = False
        try:
            if task.exclusive:
                key = lock_key(task.name)
                locked = bool(redis.client.set(key, "1", nx=True, px=max(int(task.every * LOCK_SHARE * 1000), 1)))
                if not locked:
                    due.at = started + max(redis.client.pttl(key), 0) / 1000
                    return False
            result = task.run()
            db.session.commit()
        except Exception as error:
            self._failed(task, due, started, error, locked)
            self._beat(task, started_at, ok=False, seconds=self.clock() - started)
            return True
        self._beat(task, started_at, ok=True, seconds=self.clock() - started)
        if due.failures:
            self.log.info(
                "%s works again, after %s over %.0f s",
                task.name,
                plural(due.failures, "failed attempt"),
                started - due.failing_since,
            )
            due.failures = 0
        self.results[task.name] = result
        if result:
            self.log.info("%s: %s", task.name, result)
        # At a steady rate, so that tasks of one interval run together; one
        # that started over an interval late counts its interval from then on.
        due.at += task.every
        if due.at <= started:
            due.at = started + task.every
        return True

    def _beat(self, task: Task | None = None, at: float = 0.0, ok: bool = True, seconds: float = 0.0) -> None:
        """Renews each of the loop's processes' heartbeat, and records ``task``'s
        pass if given. Skipped when Redis does not take it: a task that needs
        Redis says so itself, and readiness will say the process is missing."""
        with contextlib.suppress(RedisError), self.beats.pipeline(transaction=False) as pipe:
            if task is not None:
                heartbeats.record_pass(pipe, task.process, task.name, at, ok, seconds, task.every)
            for process, ttl in self.alive_for.items():
                heartbeats.keep_alive(pipe, process, ttl)
            pipe.execute()

    def _failed(self, task: Task, due: _Due, started: float, error: Exception, locked: bool) -> None:
        with contextlib.suppress(Exception):
            db.session.rollback()
        if locked:
            # Another process may try it before this one's retry.
            with contextlib.suppress(RedisError):
                redis.client.delete(lock_key(task.name))
        due.failures += 1
        if due.failures == 1:
            due.failing_since = started
            if isinstance(error, DBAPIError | RedisError):
                server = "PostgreSQL" if isinstance(error, DBAPIError) else "Redis"
                reason = str(error).strip().splitlines()[0] if str(error).strip() else type(error).__name__
                self.log.warning("%s failed (%s: %s); retrying with backoff", task.name, server, reason)
            else:
                self.log.error("%s failed; retrying with backoff", task.name, exc_info=error)
        self.results[task.name] = error
        due.at = self.clock() + min(task.every * 2 ** min(due.failures - 1, 30), RETRY_CAP_SECONDS)


def main(process: str) -> None:
    """The ``process``'s loop over its tasks, forever."""
    # The environment wins; .env (written by make run) fills in what it lacks.
    load_dotenv()
    logs.configure(process, config.from_environment()["LOG_FORMAT"])
    app = create_app({"PROCESS_NAME": process})
    tasks = tasks_of(process, app.config)
    log = logging.getLogger(f"jobs.{process}")
    log.info("%s", ", ".join(f"{task.name} every {task.every:g} s" for task in tasks))
    with app.app_context():
        Loop(tasks, log=log).forever()
