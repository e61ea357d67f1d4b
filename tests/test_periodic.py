"""The loop that runs the periodic tasks (``jobs.periodic``), against real
PostgreSQL and Redis, on a clock the test moves: each task in a transaction
of its own, a failure rolling back only its task's work and stopping no
other, each at its own interval, and an outage logged once, retried with
backoff and its end logged."""

import logging
from datetime import timedelta

import pytest
from redis import Redis
from sqlalchemy import create_engine, select, text

from app import audit, create_app
from app.audit import Action, AuditEvent, Via
from app.campaigns import lifecycle
from app.clock import utcnow
from app.extensions import db, redis
from jobs import periodic
from jobs.periodic import Loop, Task
from tests.conftest import settings_for
from tests.factories import make_campaign
from tests.helpers import FakeClock, reread


def noting(detail: str, fails: bool = False):
    """A task that writes a row of history, then returns, or raises."""

    def run() -> str:
        audit.record(Action.CAMPAIGN_RECOVERED, via=Via.DISPATCHER, detail=detail)
        db.session.flush()
        if fails:
            raise ValueError(f"{detail} went wrong")
        return detail

    return run


def noted() -> list[str]:
    db.session.commit()
    return list(db.session.scalars(select(AuditEvent.detail).order_by(AuditEvent.id)))


def test_a_failing_task_rolls_back_only_its_own_work_and_the_others_run(app, caplog):
    loop = Loop(
        [
            Task("test", "first", noting("first"), 1.0),
            Task("test", "broken", noting("broken", fails=True), 1.0),
            Task("test", "last", noting("last"), 1.0),
        ],
        clock=FakeClock(),
    )
    assert loop.tick() == ["first", "broken", "last"]
    assert not db.session().in_transaction(), "each ends with a commit or a rollback"
    assert noted() == ["first", "last"]
    (logged,) = [r for r in caplog.records if r.levelno >= logging.WARNING]
    assert logged.getMessage() == "broken failed; retrying with backoff"
    assert logged.exc_info is not None and "broken went wrong" in caplog.text
    # Its lock is given back, so another process may try it before this one does again.
    held = {name: bool(redis.client.exists(periodic.lock_key(name))) for name in ("first", "broken", "last")}
    assert held == {"first": True, "broken": False, "last": True}


def test_each_task_runs_at_its_own_interval_on_the_clock_given(app):
    clock = FakeClock()
    runs: list[tuple[str, float]] = []

    def every(name: str) -> Task:
        return Task("test", name, lambda: runs.append((name, clock.now)), float(name), exclusive=False)

    loop = Loop([every("2"), every("5")], clock=clock)
    while clock.now <= 10:
        loop.tick()
        clock.advance(loop.wait())
    assert runs == [("2", 0), ("5", 0), ("2", 2), ("2", 4), ("5", 5), ("2", 6), ("2", 8), ("2", 10), ("5", 10)]


def test_a_task_that_ran_past_its_interval_runs_once_more_at_once_then_at_its_interval(app):
    clock = FakeClock()
    runs: list[float] = []

    def slow_first_time() -> None:
        runs.append(clock.now)
        if len(runs) == 1:
            clock.advance(7)

    loop = Loop([Task("test", "slow", slow_first_time, 2.0, exclusive=False)], clock=clock)
    while clock.now <= 14:
        loop.tick()
        clock.advance(loop.wait())
    # At once: after the loop's least wait, MIN_WAIT_SECONDS.
    assert runs == pytest.approx([0, 7.05, 9.05, 11.05, 13.05])


def test_an_outage_is_logged_once_retried_with_backoff_and_its_end_logged(app, caplog, closed_port):
    caplog.set_level(logging.INFO, logger="jobs.periodic")
    clock = FakeClock()
    nowhere = closed_port
    servers = {
        # As the app makes its client (app.extensions).
        "redis": Redis.from_url(f"redis://127.0.0.1:{nowhere}/0"),
        "postgres": create_engine(f"postgresql+psycopg2://dispatcher@127.0.0.1:{nowhere}/dispatcher"),
    }
    tries: list[float] = []
    healthy: list[float] = []

    def needs_redis() -> None:
        tries.append(clock.now)
        servers["redis"].ping()

    def needs_postgres() -> None:
        with servers["postgres"].connect() as connection:
            connection.execute(text("SELECT 1"))

    loop = Loop(
        [
            Task("test", "needs-redis", needs_redis, 1.0, exclusive=False),
            Task("test", "needs-postgres", needs_postgres, 1.0, exclusive=False),
            Task("test", "healthy", lambda: healthy.append(clock.now), 1.0, exclusive=False),
        ],
        clock=clock,
    )
    while clock.now < 60:
        loop.tick()
        clock.advance(loop.wait())
    # Its interval, doubling with each failure, up to RETRY_CAP_SECONDS.
    assert periodic.RETRY_CAP_SECONDS == 10
    assert tries == [0, 1, 3, 7, 15, 25, 35, 45, 55]
    assert healthy == [float(second) for second in range(60)], "the other tasks go on at their interval"
    warnings = [r.getMessage() for r in caplog.records if r.levelno >= logging.WARNING]
    assert len(warnings) == 2, warnings
    assert warnings[0].startswith("needs-redis failed (Redis: Error 111 connecting to 127.0.0.1:")
    assert warnings[1].startswith("needs-postgres failed (PostgreSQL: (psycopg2.OperationalError) connection to server")
    assert all(w.endswith("; retrying with backoff") for w in warnings)

    servers["redis"] = redis.client  # Redis is back
    while len(tries) == 9:
        loop.tick()
        clock.advance(loop.wait())
    assert tries[-1] == 65
    assert "needs-redis works again, after 9 failed attempts over 65 s" in caplog.messages
    assert len([r for r in caplog.records if r.levelno >= logging.WARNING]) == 2


def test_the_reconciler_s_tasks_each_run_in_one_process_an_interval_and_the_scheduler_s_without_redis(app):
    """The reconciler's tasks take a Redis lock (several reconcilers are safe
    and share the work); scheduled starts take none, so they go on while
    Redis is down."""
    tasks = {task.name: task for task in periodic.table(app.config)}
    every = {name: (task.process, task.every, task.exclusive) for name, task in tasks.items()}
    assert every == {
        "expired-leases": ("reconciler", 2.0, True),
        "jobless-campaigns": ("reconciler", 2.0, True),
        "stalled-imports": ("reconciler", 2.0, True),
        "stalled-contact-changes": ("reconciler", 2.0, True),
        "delivery-receipts": ("reconciler", 0.5, True),
        "unmatched-receipts": ("reconciler", 3600.0, True),
        "webhook-deliveries": ("reconciler", 2.0, True),
        "unstarted-uploads": ("reconciler", 3600.0, True),
        "idempotency-keys": ("reconciler", 3600.0, True),
        "scheduled-campaigns": ("scheduler", 2.0, False),
    }


def test_a_scheduler_starts_a_due_campaign_while_redis_is_down(app, services, closed_port):
    campaign = make_campaign(2)
    assert lifecycle.schedule(campaign.id, utcnow() + timedelta(minutes=5), None).changed
    db.session.execute(text("UPDATE campaigns SET scheduled_at = now() WHERE id = :id"), {"id": campaign.id})
    db.session.commit()
    # A scheduler whose Redis is not there.
    nowhere = f"redis://127.0.0.1:{closed_port}/0"
    without_redis = create_app({**settings_for(services), "REDIS_URL": nowhere, "SSE_REDIS_URL": nowhere})
    with without_redis.app_context():
        loop = Loop(periodic.tasks_of("scheduler", without_redis.config), clock=FakeClock())
        assert loop.tick() == ["scheduled-campaigns"]
        assert loop.results["scheduled-campaigns"] == [campaign.id]
        db.session.remove()
    assert reread(campaign).status == "sending", "started; its jobs wait for the reconciler, once Redis is back"
