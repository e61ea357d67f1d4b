"""What PostgreSQL alone does with the send engine's own statements: the
ceiling the million's ``engine_efficiency`` is read against (issue 29).

The statements are the engine's, caught as it issues them: in this process
``delivery.advance`` runs two loop turns on a campaign of its own, with
SQLAlchemy's ``before_cursor_execute`` noting each statement and its
parameters as psycopg2 is handed them. The first turn only claims; the
second, the steady one, stores a batch of outcomes (8 % failing
permanently, as the provider answered the million) and claims as many
again. Then loops of psycopg2 alone replay them on fresh campaigns copied
from the million's recipients: the first turn, then the steady turn's
statements in order until a claim finds none, each turn ending in COMMIT.
The one thing carried from statement to statement is the claim's rows (ids
and attempts), handed to the next turn's store with the caught outcomes
and a message id each, made before the clock starts.
"""

import contextlib
import os
import threading
import time
import uuid
from dataclasses import dataclass, replace
from typing import Any

import psycopg2
from flask import current_app
from sqlalchemy import event, text

from app.campaigns import delivery
from app.campaigns.delivery import Claimed, Outcome, RetryPolicy
from app.extensions import db
from bench.harness import Bench
from bench.throughput import _vacuum
from jobs.provider import ERRORS

# Recipients each replay sends; fewer when the million was run smaller.
RECIPIENTS = 100_000
# Of each 25 outcomes the first two fail permanently (8 %), as NO_OPT_OUTS has the provider answer.
FAILING = {0: "invalid_address", 1: "rejected_content"}
FAIL_EVERY = 25
STORE, CLAIM = "store", "claim"
# The store's outcomes as caught, cut to each turn's claim; its ids, attempts and message ids are the turn's own.
PATTERN = ("statuses", "codes", "errors", "kinds", "delays")


@dataclass(frozen=True)
class Statement:
    sql: str  # as psycopg2 was handed it
    params: dict[str, Any]

    @property
    def role(self) -> str:
        """The store of outcomes, the claim, or another."""
        if "statuses" in self.params:
            return STORE
        return CLAIM if "source" in self.params else ""

    def on(self, campaign_id: int) -> "Statement":
        """The same statement for another campaign."""
        names = {name: campaign_id for name in ("id", "campaign_id") if name in self.params}
        return replace(self, params={**self.params, **names})

    @property
    def first_words(self) -> str:
        return " ".join(self.sql.split()[:4])


@dataclass(frozen=True)
class Ceiling:
    engine_batch: float  # outcomes the engine's turns stored, on average, in the million's send
    batch: int
    recipients: int
    by_loops: dict[int, float]  # loops at once → recipients a second
    statements: list[str]  # the steady turn's, their first words

    @property
    def per_second(self) -> float:
        return max(self.by_loops.values())

    def said(self) -> str:
        loops = "; ".join(f"{n} loop{'s' if n > 1 else ''} {rate:,.0f} /s" for n, rate in self.by_loops.items())
        return (
            f"{self.per_second:,.0f} /s ({loops}; {self.recipients:,} recipients each; turns of "
            f"{len(self.statements)} statements + COMMIT, batches of {self.batch} as the engine's turns averaged "
            f"{self.engine_batch:.1f})"
        )


def measure(bench: Bench, million_id: int, size: int) -> Ceiling:
    recipients = min(size, RECIPIENTS)
    with bench.app.app_context():
        engine_batch = _engine_batch(million_id)
        batch = max(1, round(engine_batch))
        first, steady = _caught(_copy(million_id, 3 * batch, "ceiling: its statements caught"), batch)
        dsn = db.engine.url.set(drivername="postgresql").render_as_string(hide_password=False)
        by_loops = {}
        for loops in sorted({1, os.cpu_count() or 1}):
            campaign_id = _copy(million_id, recipients, f"ceiling: {loops} loops replaying")
            # As autovacuum would have it (the engine sent the million on tables it kept vacuuming),
            # and the copy's dirty pages written before the clock starts rather than during the replay.
            _vacuum(bench)
            seconds = _replay(dsn, [s.on(campaign_id) for s in first], [s.on(campaign_id) for s in steady], loops)
            by_loops[loops] = recipients / seconds
    return Ceiling(engine_batch, batch, recipients, by_loops, [s.first_words for s in steady])


def _engine_batch(campaign_id: int) -> float:
    """Outcomes the engine stored per loop turn: a turn's attempts share its
    transaction's ``now()``, their ``finished_at``."""
    attempts, turns = db.session.execute(
        text("SELECT count(*), count(DISTINCT finished_at) FROM delivery_attempts WHERE campaign_id = :id"),
        {"id": campaign_id},
    ).one()
    db.session.commit()
    return attempts / max(turns, 1)


def _copy(million_id: int, count: int, title: str) -> int:
    """A sending campaign of the million's first ``count`` recipients, as they were before it sent."""
    campaign_id = db.session.scalar(
        text(
            "INSERT INTO campaigns (title, channel, message, status, recipient_count, started_at, rate_at) "
            "SELECT :title, channel, message, 'sending', :count, now(), now() FROM campaigns WHERE id = :id "
            "RETURNING id"
        ),
        {"title": title, "count": count, "id": million_id},
    )
    db.session.execute(
        text(
            "INSERT INTO recipients (campaign_id, line, name, address, address_normalized, rendered_content, "
            "contact_id) "
            "SELECT :copy, line, name, address, address_normalized, rendered_content, contact_id "
            "FROM recipients WHERE campaign_id = :id ORDER BY id LIMIT :count"
        ),
        {"copy": campaign_id, "id": million_id, "count": count},
    )
    db.session.commit()
    return campaign_id


def _caught(campaign_id: int, batch: int) -> tuple[list[Statement], list[Statement]]:
    """The statements of the engine's first loop turn and of a steady one, with their parameters."""
    noted: list[Statement] = []

    def note(connection, cursor, statement, parameters, context, executemany) -> None:
        noted.append(Statement(statement, dict(parameters or {})))

    policy = RetryPolicy.from_config(current_app.config)
    event.listen(db.engine, "before_cursor_execute", note)
    try:
        turn = delivery.advance(campaign_id, [], batch)
        first = list(noted)
        db.session.commit()
        noted.clear()
        delivery.advance(campaign_id, [_outcome(policy, n, c) for n, c in enumerate(turn.claimed)], batch)
        steady = list(noted)
        db.session.commit()
    finally:
        event.remove(db.engine, "before_cursor_execute", note)
    roles = [s.role for s in steady]
    if [s.role for s in first].count(CLAIM) != 1 or roles.count(CLAIM) != 1 or roles.count(STORE) != 1:
        raise RuntimeError(f"a loop turn is no longer one store and one claim: {[s.first_words for s in steady]}")
    return first, steady


def _outcome(policy: RetryPolicy, position: int, claimed: Claimed) -> Outcome:
    """The provider's answer as the engine settles it: sent, or failed permanently."""
    code = FAILING.get(position % FAIL_EVERY)
    if code is None:
        return policy.settle(claimed, message_id=f"sim-sms-{uuid.uuid4().hex}")
    error = ERRORS[code]
    return policy.settle(claimed, error_code=code, error=error.message, kind=error.kind)


def _replay(dsn: str, first: list[Statement], steady: list[Statement], loops: int) -> float:
    """Seconds for ``loops`` loops at once to send the campaign the statements name."""
    ready = threading.Barrier(loops + 1)
    failures: list[BaseException] = []
    threads = [threading.Thread(target=_loop, args=(dsn, first, steady, ready, failures)) for _ in range(loops)]
    for thread in threads:
        thread.start()
    with contextlib.suppress(threading.BrokenBarrierError):  # a loop failed before it began: raised below
        ready.wait()
    started = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - started
    if failures:
        raise failures[0]
    return seconds


def _loop(dsn: str, first: list[Statement], steady: list[Statement], ready: threading.Barrier, failures: list) -> None:
    """One connection replaying turns until its claim finds nothing."""
    store = next(s for s in steady if s.role == STORE)
    pattern = {name: store.params[name] for name in PATTERN}
    message_ids = [f"sim-sms-{uuid.uuid4().hex}" for _ in range(RECIPIENTS)]
    connection = psycopg2.connect(dsn, application_name="bench-ceiling")
    try:
        cursor = connection.cursor()
        ready.wait()
        claimed = _turn(cursor, first, {})
        connection.commit()
        sent = 0
        while claimed:
            n = len(claimed)
            outcomes = {name: values[:n] for name, values in pattern.items()} | {
                "ids": [rid for rid, _ in claimed],
                "attempts": [attempt for _, attempt in claimed],
                "message_ids": message_ids[sent : sent + n],
            }
            sent += n
            claimed = _turn(cursor, steady, outcomes)
            connection.commit()
    except BaseException as error:
        failures.append(error)
        ready.abort()
    finally:
        connection.close()


def _turn(cursor, statements: list[Statement], outcomes: dict[str, list]) -> list[tuple[int, int]]:
    """One loop turn's statements; the claimed recipients' ids and attempts (not those it skipped)."""
    claimed: list[tuple[int, int]] = []
    for statement in statements:
        cursor.execute(statement.sql, {**statement.params, **outcomes} if statement.role == STORE else statement.params)
        if statement.role == CLAIM:
            # RETURNING r.id, r.address_normalized, r.attempts, …, p.opted_out, r.last_error
            claimed = [(row[0], row[2]) for row in cursor.fetchall() if not row[6]]
    return claimed
