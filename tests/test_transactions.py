"""No transaction left open: every process ends each unit of work with a commit
or a rollback, so none sits "idle in transaction" and none pins PostgreSQL's
xmin horizon (which would stop autovacuum removing the dead rows every status
change leaves), and time comparisons see the present."""

import threading
import time
from dataclasses import dataclass, field

import psycopg2
import pytest
from sqlalchemy import func, select

from app.auth.models import Role
from app.campaigns import delivery
from app.campaigns.models import DeliveryAttempt, Recipient
from app.extensions import db
from devtools import procfile
from devtools.client import Browser, StreamListener
from jobs import periodic
from tests.conftest import worker_env
from tests.factories import PASSWORD, make_campaign, make_started_campaign, make_user, start_campaign
from tests.helpers import FakeClock, reread, wait_for
from tests.processes import running

# Connections of the Procfile's processes name themselves (app.config).
OURS = "application_name IN ('dispatcher-web', 'dispatcher-worker', 'dispatcher-reconciler', 'dispatcher-scheduler')"


@dataclass
class Sampler:
    """pg_stat_activity, read every 50 ms on a connection of its own, for what
    our processes' connections do."""

    database_url: str
    samples: int = 0
    # The longest any connection of ours was seen idle in a transaction, and
    # the longest it held back the xmin horizon (one transaction id or
    # snapshot), in seconds, with who.
    idle_in_transaction: dict[str, float] = field(default_factory=dict)
    # The statement each was idle after, at its longest: what to look at.
    idle_after: dict[str, str] = field(default_factory=dict)
    xmin_held: dict[str, float] = field(default_factory=dict)
    names: set[str] = field(default_factory=set)

    def __post_init__(self) -> None:
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._xmin_since: dict[tuple[int, object, str], float] = {}

    def __enter__(self) -> "Sampler":
        self._thread.start()
        return self

    def __exit__(self, *exc) -> None:
        self._stop.set()
        self._thread.join()

    def _run(self) -> None:
        connection = psycopg2.connect(self.database_url)
        connection.autocommit = True
        with connection.cursor() as cursor:
            while not self._stop.is_set():
                cursor.execute(
                    f"""
                    SELECT pid, application_name, state,
                           extract(epoch FROM clock_timestamp() - state_change),
                           coalesce(backend_xid, backend_xmin)::text, xact_start, query
                    FROM pg_stat_activity WHERE datname = current_database() AND {OURS}
                    """
                )
                now = time.monotonic()
                for pid, name, state, in_state, xmin, began, query in cursor.fetchall():
                    self.names.add(name)
                    who = f"{name} (pid {pid})"
                    if state == "idle in transaction" and float(in_state) >= self.idle_in_transaction.get(who, 0.0):
                        self.idle_in_transaction[who] = float(in_state)
                        self.idle_after[who] = query
                    if xmin is not None:
                        # One transaction's: while nothing writes, short transactions one
                        # after another see the same xmin, and hold nothing back.
                        since = self._xmin_since.setdefault((pid, began, xmin), now)
                        self.xmin_held[who] = max(self.xmin_held.get(who, 0.0), now - since)
                self.samples += 1
                time.sleep(0.05)
        connection.close()


@pytest.mark.slow
def test_no_process_leaves_a_transaction_open_while_a_campaign_sends(app, services, tmp_path):
    """Web (with a page's event stream open), worker pool, reconciler and
    scheduler, as the Procfile runs them."""
    make_user(Role.OPERATOR)
    campaign = make_campaign(150)
    env = worker_env(
        services,
        PROVIDER_LATENCY_MIN=0.1,
        PROVIDER_LATENCY_MAX=0.3,
        DISPATCH_CONCURRENCY=5,
        # Longer than the second a connection may idle in a transaction, so one
        # left open from one pass to the next shows.
        RECONCILE_SECONDS=1.5,
        # Its passes find nothing due; it must not idle inside one either.
        SCHEDULER_INTERVAL_SECONDS=0.5,
        PROVIDER_FAILURE_RATE=0.2,
        WEB_CONCURRENCY=1,
    )
    with (
        running(env, tmp_path) as processes,
        open(tmp_path / "web.log", "w") as web_log,
        Sampler(services.database_url) as sampler,
    ):
        processes.start("scheduler")
        web, base_url = procfile.start_web(env, web_log)
        try:
            staff = Browser(base_url, "operator@example.com", PASSWORD)
            with StreamListener(staff, campaign.id) as stream:
                staff.start(campaign.id)

                def completed_while_watched() -> bool:
                    staff.get(f"/campaigns/{campaign.id}?status=sent")  # a page, read in a request
                    return reread(campaign).status == "completed"

                wait_for(completed_while_watched, 90, "the campaign to complete", processes.output)
                # A few reconciler passes with nothing to do: it must not idle inside one either.
                time.sleep(4)
            assert stream.message_times, "the page's stream was open throughout"
        finally:
            procfile.stop(web)

    assert sampler.samples > 50
    assert {"dispatcher-web", "dispatcher-worker", "dispatcher-reconciler", "dispatcher-scheduler"} <= sampler.names
    idle = {who: seconds for who, seconds in sampler.idle_in_transaction.items() if seconds > 1.0}
    after = {who: sampler.idle_after[who] for who in idle}
    assert not idle, f"idle in a transaction for over a second: {idle}, after: {after}"
    pinned = {who: seconds for who, seconds in sampler.xmin_held.items() if seconds > 3.0}
    assert not pinned, f"an xmin held for over 3 s: {pinned}"


def test_a_reconciler_pass_leaves_no_transaction_open(app, redis_client):
    make_started_campaign(3)
    campaign = make_campaign(2)
    start_campaign(campaign, enqueue=False)
    db.session.commit()
    clock = FakeClock()
    loop = periodic.Loop(periodic.tasks_of("reconciler", app.config), clock=clock)
    for _ in range(3):
        assert loop.tick(), "its tasks ran"
        assert not db.session().in_transaction(), "a pass ended inside a transaction"
        # The next interval, as far as the tasks' locks know too.
        clock.advance(app.config["RECONCILE_SECONDS"])
        redis_client.delete(*(periodic.lock_key(task.name) for task in loop.tasks))


@pytest.mark.slow
def test_a_dead_workers_recipients_go_back_at_the_first_pass_after_their_lease_expires(
    app, services, tmp_path, config, redis_client
):
    """With a pass every second, each lease is reaped within a second (and a
    pass's own time) of running out, however its expiry falls between passes."""
    interval = 1.0
    env = worker_env(services, RECONCILE_SECONDS=interval)
    campaign = make_started_campaign(6, enqueue=False)
    config(LEASE_SECONDS=1.0)
    with running(env, tmp_path, worker=False) as processes:
        # Passes start once the process is up (seconds, on a busy machine): each takes this lock.
        first_pass = periodic.lock_key("expired-leases")
        wait_for(lambda: redis_client.exists(first_pass), 30, "the reconciler's first pass", processes.output)
        # Three claims a third of a pass apart, whose workers all die.
        for _ in range(3):
            assert len(delivery.advance(campaign.id, [], 2).claimed) == 2
            db.session.commit()
            time.sleep(interval / 3)
        wait_for(lambda: reread(campaign).sending_count == 0, 10, "the leases to be reaped", processes.output)

    reaped = db.session.execute(
        select(
            Recipient.id,
            func.extract("epoch", DeliveryAttempt.finished_at - Recipient.attempt_started_at),
        )
        .join(DeliveryAttempt, DeliveryAttempt.recipient_id == Recipient.id)
        .where(DeliveryAttempt.outcome == "lease_expired", Recipient.campaign_id == campaign.id)
    ).all()
    assert len(reaped) == 6
    # Claimed at attempt_started_at, expired one lease later; reaped by the next pass.
    late = {rid: round(float(after) - 1.0, 2) for rid, after in reaped if float(after) - 1.0 > interval + 0.3}
    assert not late, f"reaped more than a pass after the lease ran out (seconds late): {late}"
