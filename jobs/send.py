"""Sending a campaign: many sends in flight, state written in batches.

Start fans a campaign out to several jobs (``app.jobqueue.enqueue_send``); each
claims batches of recipients from the whole campaign with ``SKIP LOCKED``, so
as many worker processes as there are jobs share it, on any machine.

One loop turn of a job records every outcome that has arrived and claims as
many new recipients as it has free slots and the channel's rate allows, in one
transaction (``delivery.advance``). Provider calls run on a thread pool; only
the job's own thread touches the database. On a rate-limited channel each
claimed call waits in its thread for its turn in the channel's schedule
(``jobs.ratelimit``), given after the claim committed, so a slow transaction
cannot bunch calls past the limit. Recipient changes go to the coalesced live
updates (``app.campaigns.live``), never one message per change.

Once the campaign is paused or cancelled, calls the provider already has
finish and are recorded; a claimed call not yet made is not made
(``jobs.halt``), and its recipient goes back to the queue at the next loop turn.

A job outlives short outages: if PostgreSQL or Redis goes away it keeps what
it has in memory, waits and carries on. If it dies instead, its claimed
recipients' leases expire and the reconciler (``jobs.reconciler``) picks up.
"""

import contextlib
import logging
import queue
import time
from collections.abc import Callable
from concurrent.futures import Future, ThreadPoolExecutor
from functools import partial
from typing import TypeVar

from flask import current_app
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from sqlalchemy.exc import DBAPIError

from app import jobqueue, logs, metrics
from app.campaigns import delivery, lifecycle, live
from app.campaigns.delivery import Claimed, Outcome, RetryPolicy
from app.campaigns.models import Campaign, CampaignStatus, RecipientState, RecipientStatus
from app.config import rate_limit
from app.extensions import db, redis
from app.jobqueue import Heartbeat
from jobs.halt import Halt
from jobs.provider import ProviderError, SimulatedProvider
from jobs.ratelimit import SendRate

log = logging.getLogger(__name__)

# After the first outcome arrives, gather more for this long before writing
# them: at zero latency that makes batches of many outcomes per transaction, and
# against a 1-3 s provider it delays a free slot by well under 1 %.
GATHER_SECONDS = 0.01
T = TypeVar("T")


def send_campaign(campaign_id: int) -> str:
    """Send one slice of a campaign, then hand the rest to a fresh job.

    Runs inside the worker's app context. Returns a one-line summary, which it
    logs; every line it logs carries the campaign's id.
    """
    with logs.context(campaign_id=campaign_id):
        summary = _send_slice(campaign_id)
        log.info("%s", summary)
        return summary


def _send_slice(campaign_id: int) -> str:
    config = current_app.config
    patience = config["OUTAGE_PATIENCE_SECONDS"]
    heartbeat = Heartbeat(redis.client, campaign_id, ttl=jobqueue.heartbeat_seconds())
    heartbeat.beat()
    campaign = through_outages(partial(db.session.get, Campaign, campaign_id), patience, heartbeat)
    if campaign is None or campaign.status != CampaignStatus.SENDING:
        db.session.rollback()
        return f"campaign {campaign_id}: nothing to send"
    channel, message, campaign_subject = campaign.channel, campaign.message, campaign.email_subject
    db.session.commit()

    provider = SimulatedProvider.from_config(config)
    policy = RetryPolicy.from_config(config)
    rate = SendRate(redis.client, channel, rate_limit(config, channel))
    concurrency = config["DISPATCH_CONCURRENCY"]
    tick = 1 / config["LIVE_UPDATES_PER_SECOND"]
    deadline = time.monotonic() + config["DISPATCH_SLICE_SECONDS"]
    halt = Halt(redis.client, campaign_id)
    in_flight: dict[Future, Claimed] = {}
    # Calls that woke too late for their turns, to be given new ones.
    missed: list[Claimed] = []
    # Claims whose calls were not made, the campaign having stopped: put back next turn.
    released: list[Claimed] = []
    done: queue.SimpleQueue[Future] = queue.SimpleQueue()
    outcomes: list[Outcome] = []
    finished = 0
    claiming = True
    claimed_once = False

    with ThreadPoolExecutor(concurrency, thread_name_prefix=f"campaign-{campaign_id}") as pool:
        while True:
            turn_began = time.perf_counter()
            heartbeat.beat()
            wanted = concurrency - len(in_flight) - len(missed) if claiming else 0
            grant = through_outages(partial(rate.take, wanted), patience, heartbeat)
            turn = through_outages(
                partial(_advance, campaign_id, outcomes, grant.granted, released), patience, heartbeat
            )
            released = []
            finished += sum(1 for s in turn.settled if s.status != RecipientStatus.RETRYING) + len(turn.skipped)
            flush_in = _show(
                campaign_id,
                turn.settled
                + turn.skipped
                + turn.released
                + [RecipientState(c.id, RecipientStatus.SENDING, c.attempt) for c in turn.claimed],
            )
            if turn.auto_paused:
                live.show_campaign_change(campaign_id)
            if turn.halted or halt.is_set():
                # Paused or cancelled (a call may have learnt it first): calls
                # the provider has finish, the others are put back, nothing new starts.
                halt.set()
                claiming = False
                calls, released, missed = [], missed + turn.claimed, []
            else:
                halt.sending_at(turn.version)
                calls, missed = missed + turn.claimed, []
            turns = through_outages(partial(rate.turns, len(calls)), patience, heartbeat)
            asked = time.monotonic()
            for n, recipient in enumerate(calls):
                content = message if recipient.content is None else recipient.content
                subject = campaign_subject if recipient.subject is None else recipient.subject
                future = pool.submit(
                    call_at_turn,
                    asked + turns.wait(n),
                    turns.late_after,
                    partial(
                        timed_call,
                        channel,
                        partial(provider.send, channel, recipient.address, content, recipient.idempotency_key, subject),
                    ),
                    halt,
                )
                in_flight[future] = recipient
                future.add_done_callback(done.put)
            if claiming and grant.granted:
                # Fewer rows than asked for means none are claimable now;
                # retries that fall due later go to a new job. The first
                # claim ignores the deadline, so every job makes progress.
                claimed_once = True
                claiming = turn.taken == grant.granted
            if claimed_once and time.monotonic() >= deadline:
                claiming = False
            if not in_flight and not claiming and not released:
                break

            metrics.observe_turn(time.perf_counter() - turn_began)
            # Wake for outcomes, the next token, or a pending live update.
            timeout = min(t for t in (tick, grant.retry_in or None, flush_in) if t)
            outcomes = []
            for future in _gather(done, len(in_flight), timeout):
                recipient = in_flight.pop(future)
                error = future.exception()
                if isinstance(error, NotCalled) or (isinstance(error, MissedTurn) and halt.is_set()):
                    released.append(recipient)
                elif isinstance(error, MissedTurn):
                    missed.append(recipient)
                else:
                    outcomes.append(_settle(policy, recipient, future))

    _flush_the_rest(campaign_id)
    completed, more = through_outages(partial(_finish, campaign_id), patience, heartbeat)
    heartbeat.stop()
    if completed:
        live.show_campaign_change(campaign_id)
        return f"campaign {campaign_id}: completed, {finished} finished by this job"
    if more:
        jobqueue.enqueue_send(campaign_id)
        return f"campaign {campaign_id}: {finished} done, the rest handed to a new job"
    return f"campaign {campaign_id}: {finished} done; other jobs, a resume or a due retry carry on"


def _advance(campaign_id: int, outcomes: list[Outcome], limit: int, released: list[Claimed]) -> delivery.Turn:
    turn = delivery.advance(campaign_id, outcomes, limit, released)
    db.session.commit()
    return turn


class MissedTurn(Exception):
    """A call's thread woke too late for its turn: the call was not made."""


class NotCalled(Exception):
    """The campaign stopped (paused or cancelled) before the call's turn: it was not made."""


def call_at_turn(due: float, late_after: float, send: Callable[[], T], halt: Halt) -> T:
    """Make the call at its turn (a ``time.monotonic()``): not before, and not
    more than ``late_after`` seconds after, when it would crowd the next turn's;
    and not at all once the campaign has stopped sending, asked last of all."""
    if halt.wait(max(due - time.monotonic(), 0.0)) or halt.stopped():
        raise NotCalled
    if time.monotonic() - due > late_after:
        raise MissedTurn
    return send()


def timed_call(channel: str, send: Callable[[], T]) -> T:
    """``send()``, its time counted as the provider's latency on ``channel``, failed or not."""
    started = time.perf_counter()
    try:
        return send()
    finally:
        metrics.observe_provider(channel, time.perf_counter() - started)


def _finish(campaign_id: int) -> tuple[bool, bool]:
    """Complete the campaign if nothing is left; else whether a new job should
    carry on now (something is queued or due), leaving later retries to the reconciler."""
    completed = lifecycle.complete_if_done(campaign_id)
    campaign = live.fresh(campaign_id)
    more = campaign.status == CampaignStatus.SENDING and (campaign.queued_count > 0 or delivery.retry_due(campaign_id))
    db.session.commit()
    return completed, more


def _show(campaign_id: int, changes: list[RecipientState]) -> float | None:
    """Note committed changes for the live update; a failure here only delays what pages show."""
    try:
        live.note(campaign_id, changes)
        return live.flush(campaign_id)
    except (RedisError, DBAPIError) as error:
        db.session.rollback()
        log.warning("campaign %s: live update skipped: %s", campaign_id, error)
        return None


def _flush_the_rest(campaign_id: int) -> None:
    """Wait out the live-update interval if need be, so this job's last changes are shown."""
    while (flush_in := _show(campaign_id, [])) is not None:
        time.sleep(flush_in)


def _gather(done: queue.SimpleQueue, in_flight: int, timeout: float) -> list[Future]:
    """Wait up to ``timeout`` for a finished send, then briefly for more."""
    if not in_flight:
        time.sleep(timeout)
        return []
    try:
        futures = [done.get(timeout=timeout)]
    except queue.Empty:
        return []
    until = time.monotonic() + GATHER_SECONDS
    while len(futures) < in_flight and (left := until - time.monotonic()) > 0:
        try:
            futures.append(done.get(timeout=left))
        except queue.Empty:
            break
    return futures


def _settle(policy: RetryPolicy, recipient: Claimed, future: Future) -> Outcome:
    try:
        return policy.settle(recipient, message_id=future.result())
    except ProviderError as error:
        return policy.settle(recipient, error_code=error.code, error=error.message, kind=error.kind)


def is_outage(error: Exception) -> bool:
    """A lost connection to PostgreSQL or Redis, as opposed to a bug."""
    if isinstance(error, DBAPIError):
        return error.connection_invalidated or type(error.orig).__name__ in {"OperationalError", "InterfaceError"}
    return isinstance(error, (RedisConnectionError, RedisTimeoutError))


def through_outages(work: Callable[[], T], patience: float, heartbeat: Heartbeat | None = None) -> T:
    """Run ``work``; while PostgreSQL or Redis is unreachable, roll back, wait and
    run it again, for up to ``patience`` seconds.

    ``work`` must be safe to repeat: a loop turn is, because an outcome is
    stored only once and a claim rolled back claimed nothing.
    """
    give_up = time.monotonic() + patience
    wait = 0.2
    while True:
        try:
            return work()
        except (DBAPIError, RedisError) as error:
            if not is_outage(error) or time.monotonic() >= give_up:
                raise
            log.warning("waiting %.1f s for the database or Redis: %s", wait, str(error).splitlines()[0])
        # The connection may be gone; the session starts a new one next time.
        with contextlib.suppress(DBAPIError):
            db.session.rollback()
        if heartbeat is not None:
            heartbeat.beat()
        time.sleep(wait)
        wait = min(wait * 2, 5.0)
