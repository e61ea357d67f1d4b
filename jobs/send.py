"""Sending campaigns: many sends in flight, state written in batches.

Start fans a campaign out to several jobs (``app.jobqueue.enqueue_send``); each
claims batches of recipients from the whole campaign with ``SKIP LOCKED``, so
as many worker processes as there are jobs share it, on any machine.

A job's sends in flight are the provider's capacity, not its campaign's: it
also takes on every other campaign sending with recipients queued, and shares
its slots among them (``jobs.sharing``), so a small campaign started behind a
large one is sent at once, and a hundred small ones take one job, not a
hundred in turn.

One loop turn of a job records, for each of its campaigns, every outcome that
has arrived and claims as many new recipients as its share of the free slots
and the channel's rate allow, in one transaction per campaign
(``delivery.advance``). Provider calls run on a thread pool; only
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
from collections.abc import Callable, Mapping
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, field
from functools import partial
from typing import TypeVar

from flask import current_app
from redis.exceptions import ConnectionError as RedisConnectionError
from redis.exceptions import RedisError
from redis.exceptions import TimeoutError as RedisTimeoutError
from rq import get_current_job
from sqlalchemy import text
from sqlalchemy.exc import DBAPIError

from app import jobqueue, logs, metrics
from app.campaigns import delivery, lifecycle, live
from app.campaigns.delivery import Claimed, Outcome, RetryPolicy
from app.campaigns.models import Campaign, CampaignStatus, RecipientState, RecipientStatus, lit
from app.config import rate_limit
from app.extensions import db, redis
from app.jobqueue import Heartbeat
from jobs import sharing
from jobs.halt import Halt
from jobs.provider import ProviderError, SimulatedProvider
from jobs.ratelimit import SendRate

log = logging.getLogger(__name__)

# After the first outcome arrives, gather more for this long before writing
# them: at zero latency that makes batches of many outcomes per transaction, and
# against a 1-3 s provider it delays a free slot by well under 1 %.
GATHER_SECONDS = 0.01
# How often a job looks for other campaigns sending with recipients queued.
ADOPT_SECONDS = 0.5
T = TypeVar("T")


def send_campaign(campaign_id: int) -> str:
    """Send one slice of a campaign, and of any other sending with recipients
    queued, then hand what is left to fresh jobs.

    Runs inside the worker's app context. Returns a one-line summary; each
    campaign's part is logged on its own line, which carries its id.
    """
    with logs.context(campaign_id=campaign_id):
        return Dispatch(current_app.config).run(campaign_id)


@dataclass(eq=False)
class Lane:
    """One campaign's part in a send job."""

    campaign_id: int
    channel: str
    message: str
    subject: str | None
    heartbeat: Heartbeat
    halt: Halt
    # Recipients queued when the job last looked, for sharing by size.
    remaining: int
    in_flight: int = 0
    # Calls that woke too late for their turns, to be given new ones.
    missed: list[Claimed] = field(default_factory=list)
    # Claims whose calls were not made, the campaign having stopped: put back next turn.
    released: list[Claimed] = field(default_factory=list)
    outcomes: list[Outcome] = field(default_factory=list)
    claiming: bool = True
    claimed_once: bool = False
    finished: int = 0
    # When a live update noted but held back is due (time.monotonic()).
    flush_at: float | None = None

    @property
    def busy(self) -> bool:
        return bool(self.in_flight or self.claiming or self.released or self.missed or self.outcomes)


class Dispatch:
    """A send job's loop: calls in flight on one thread pool, shared among the
    campaigns it serves (``jobs.sharing``), each campaign's outcomes and claims
    written in its own transaction.

    The job starts with its own campaign and, while its slice lasts, takes on
    every other campaign that is sending with recipients queued, looking every
    ADOPT_SECONDS: so a worker process busy with a large campaign sends a small
    one started behind it at once, rather than after its slice, and a hundred
    small campaigns share one job's concurrency instead of a job each.
    """

    def __init__(self, config: Mapping) -> None:
        self.config = config
        self.patience = config["OUTAGE_PATIENCE_SECONDS"]
        self.concurrency = config["DISPATCH_CONCURRENCY"]
        self.sharing = config["DISPATCH_SHARING"]
        self.tick = 1 / config["LIVE_UPDATES_PER_SECOND"]
        self.provider = SimulatedProvider.from_config(config)
        self.policy = RetryPolicy.from_config(config)
        self.rates: dict[str, SendRate] = {}
        self.lanes: dict[int, Lane] = {}
        self.in_flight: dict[Future, tuple[Lane, Claimed]] = {}
        self.done: queue.SimpleQueue[Future] = queue.SimpleQueue()
        self.summaries: list[str] = []
        # The campaigns noted as this job's for the Operations page, and when.
        job = get_current_job()
        self.job_id = job.id if job is not None else None
        self.noted: tuple[list[int], float] = ([], 0.0)
        # Campaigns left with recipients to send when their part ended here.
        self.more: list[int] = []
        self.turn = 0

    def run(self, campaign_id: int) -> str:
        first = self._open(campaign_id)
        if first is None:
            return f"campaign {campaign_id}: nothing to send"
        deadline = time.monotonic() + self.config["DISPATCH_SLICE_SECONDS"]
        # At once: campaigns started together are sent together from the first turn.
        adopt_at = time.monotonic()
        with ThreadPoolExecutor(self.concurrency, thread_name_prefix=f"send-{campaign_id}") as pool:
            while self.lanes:
                turn_began = time.perf_counter()
                now = time.monotonic()
                if now < deadline and now >= adopt_at:
                    self._adopt()
                    adopt_at = now + ADOPT_SECONDS
                self._note_serving()
                retry_in = self._turn(pool)
                if time.monotonic() >= deadline:
                    for lane in self.lanes.values():
                        # The first claim ignores the deadline, so every job makes progress.
                        lane.claiming = lane.claiming and not lane.claimed_once
                self._close_idle_lanes()
                if not self.lanes:
                    break
                metrics.observe_turn(time.perf_counter() - turn_began)
                # Wake for outcomes, the next token, a pending live update, or campaigns to take on.
                self._receive(_gather(self.done, len(self.in_flight), self._wait(retry_in)))
                self.turn += 1
        queued = through_outages(partial(jobqueue.campaigns_with_jobs, ()), self.patience)
        for other in self.more:
            # Its own campaign gets a new job, as a slice always handed on;
            # another only if none waits for it already.
            if other == campaign_id or other not in queued:
                jobqueue.enqueue_send(other)
        return "; ".join(self.summaries)

    def _open(self, campaign_id: int, remaining: int | None = None) -> Lane | None:
        """Take on a campaign, if it is sending."""
        heartbeat = Heartbeat(redis.client, campaign_id, ttl=jobqueue.heartbeat_seconds())
        heartbeat.beat()
        campaign = through_outages(partial(db.session.get, Campaign, campaign_id), self.patience, heartbeat)
        if campaign is None or campaign.status != CampaignStatus.SENDING:
            db.session.rollback()
            return None
        lane = Lane(
            campaign_id,
            campaign.channel,
            campaign.message,
            campaign.email_subject,
            heartbeat,
            Halt(redis.client, campaign_id),
            remaining=campaign.owed_count if remaining is None else remaining,
        )
        db.session.commit()
        if campaign.channel not in self.rates:
            self.rates[campaign.channel] = SendRate(
                redis.client, campaign.channel, rate_limit(self.config, campaign.channel)
            )
        self.lanes[campaign_id] = lane
        return lane

    def _note_serving(self) -> None:
        """Say which campaigns this job sends, when that changes and once a second."""
        serving = list(self.lanes)
        noted, at = self.noted
        if self.job_id is None or (serving == noted and time.monotonic() - at < 1.0):
            return
        try:
            jobqueue.note_serving(redis.client, self.job_id, serving, ttl=jobqueue.heartbeat_seconds())
            self.noted = (serving, time.monotonic())
        except RedisError as error:
            # Only the Operations page reads it.
            log.warning("campaigns sent not noted: %s", error)

    def _adopt(self) -> None:
        """Take on campaigns with recipients to send now that this job does not serve yet."""
        try:
            found = _wanting_sends(limit=self.concurrency)
        except (DBAPIError, RedisError) as error:
            db.session.rollback()
            log.warning("not looking for other campaigns this turn: %s", str(error).splitlines()[0])
            return
        for campaign_id, queued in found:
            if campaign_id in self.lanes:
                self.lanes[campaign_id].remaining = queued
            elif len(self.lanes) < self.concurrency and self._open(campaign_id, queued) is not None:
                log.info("campaign %s: taken on beside %s other(s)", campaign_id, len(self.lanes) - 1)

    def _turn(self, pool: ThreadPoolExecutor) -> float:
        """One loop turn: each campaign's outcomes stored and claims made, its
        calls started. Returns the seconds until a channel's next token, if one
        held claims back (0: none did)."""
        lanes = sorted(self.lanes.values(), key=lambda lane: lane.campaign_id)
        for lane in lanes:
            lane.heartbeat.beat()
        claiming = [lane for lane in lanes if lane.claiming]
        loads = [sharing.Load(lane.in_flight + len(lane.missed), lane.remaining) for lane in claiming]
        free = self.concurrency - sum(lane.in_flight + len(lane.missed) for lane in lanes)
        shares = sharing.targets(self.concurrency, loads, self.sharing, self.turn)
        wants = dict(zip(claiming, sharing.wanted(free, loads, shares, self.turn), strict=True))
        grants, retry_in = self._grants(wants)
        calls: dict[str, list[tuple[Lane, Claimed]]] = {}
        unused: dict[str, int] = {}
        for lane in lanes:
            granted = grants.get(lane, 0)
            if granted or lane.outcomes or lane.released:
                made, new = self._store_and_claim(lane, granted)
                unused[lane.channel] = unused.get(lane.channel, 0) + granted - new
            else:
                made = self._calls_again(lane)
                if lane.flush_at is not None and lane.flush_at <= time.monotonic():
                    lane.flush_at = _due(_show(lane.campaign_id, []))
            calls.setdefault(lane.channel, []).extend((lane, call) for call in made)
        for channel, batch in calls.items():
            self._start(pool, channel, batch)
        return self._give_back(unused, retry_in)

    def _grants(self, wants: dict[Lane, int]) -> tuple[dict[Lane, int], float]:
        """What each channel's rate allows of what its campaigns want, shared
        among them; and the seconds until the next token where it held some back."""
        grants: dict[Lane, int] = {}
        retry_in = 0.0
        by_channel: dict[str, list[Lane]] = {}
        for lane in wants:
            by_channel.setdefault(lane.channel, []).append(lane)
        for channel, lanes in by_channel.items():
            asked = [wants[lane] for lane in lanes]
            grant = through_outages(partial(self.rates[channel].take, sum(asked)), self.patience)
            grants.update(zip(lanes, sharing.split(grant.granted, asked, self.turn), strict=True))
            if grant.retry_in:
                retry_in = min(retry_in or grant.retry_in, grant.retry_in)
        return grants, retry_in

    def _give_back(self, unused: dict[str, int], retry_in: float) -> float:
        """Return each channel's tokens that no call used, and the seconds until
        the next turn may claim: at once where tokens came back."""
        for channel, tokens in unused.items():
            if tokens > 0 and self.rates[channel].limited:
                grant = through_outages(partial(self.rates[channel].give_back, tokens), self.patience)
                retry_in = min(retry_in or grant.retry_in, grant.retry_in) or 0.001
        return retry_in

    def _store_and_claim(self, lane: Lane, granted: int) -> tuple[list[Claimed], int]:
        """Store the lane's outcomes and claim up to ``granted``, in one
        transaction; the calls to start now, and how many of them are new
        claims (each used a token)."""
        with logs.context(campaign_id=lane.campaign_id):
            turn = through_outages(
                partial(_advance, lane.campaign_id, lane.outcomes, granted, lane.released),
                self.patience,
                lane.heartbeat,
            )
            lane.outcomes, lane.released = [], []
            lane.finished += sum(1 for s in turn.settled if s.status != RecipientStatus.RETRYING) + len(turn.skipped)
            lane.remaining = max(lane.remaining - turn.taken, 0)
            lane.flush_at = _due(
                _show(
                    lane.campaign_id,
                    turn.settled
                    + turn.skipped
                    + turn.released
                    + [RecipientState(c.id, RecipientStatus.SENDING, c.attempt) for c in turn.claimed],
                )
            )
            if turn.auto_paused:
                live.show_campaign_change(lane.campaign_id)
            if granted:
                # Fewer rows than asked for means none are claimable now;
                # retries that fall due later go to a new job.
                lane.claimed_once = True
                lane.claiming = lane.claiming and turn.taken == granted
            if turn.halted or lane.halt.is_set():
                # Paused or cancelled (a call may have learnt it first): calls
                # the provider has finish, the others are put back, nothing new starts.
                lane.halt.set()
                lane.claiming = False
                lane.released, lane.missed = lane.missed + turn.claimed, []
                return [], 0
            lane.halt.sending_at(turn.version)
            calls, lane.missed = lane.missed + turn.claimed, []
            lane.in_flight += len(calls)
            return calls, len(turn.claimed)

    def _calls_again(self, lane: Lane) -> list[Claimed]:
        """A lane with nothing to store or claim: its missed calls, given new turns."""
        if not lane.missed:
            return []
        if lane.halt.is_set():
            lane.released, lane.missed = lane.released + lane.missed, []
            return []
        calls, lane.missed = lane.missed, []
        lane.in_flight += len(calls)
        return calls

    def _start(self, pool: ThreadPoolExecutor, channel: str, batch: list[tuple[Lane, Claimed]]) -> None:
        """Start a channel's calls at their turns in its schedule."""
        turns = through_outages(partial(self.rates[channel].turns, len(batch)), self.patience)
        asked = time.monotonic()
        for n, (lane, recipient) in enumerate(batch):
            content = lane.message if recipient.content is None else recipient.content
            subject = lane.subject if recipient.subject is None else recipient.subject
            send = partial(self.provider.send, channel, recipient.address, content, recipient.idempotency_key, subject)
            future = pool.submit(
                call_at_turn, asked + turns.wait(n), turns.late_after, partial(timed_call, channel, send), lane.halt
            )
            self.in_flight[future] = (lane, recipient)
            future.add_done_callback(self.done.put)

    def _receive(self, futures: list[Future]) -> None:
        """Hand each finished call to its lane: an outcome to store, a call to
        make again at a new turn, or a claim to put back."""
        for future in futures:
            lane, recipient = self.in_flight.pop(future)
            lane.in_flight -= 1
            error = future.exception()
            if isinstance(error, NotCalled) or (isinstance(error, MissedTurn) and lane.halt.is_set()):
                lane.released.append(recipient)
            elif isinstance(error, MissedTurn):
                lane.missed.append(recipient)
            else:
                lane.outcomes.append(_settle(self.policy, recipient, future))

    def _wait(self, retry_in: float) -> float:
        """How long to wait for outcomes: until the next token if a channel held
        claims back, or the next live update due, and a tick at most."""
        now = time.monotonic()
        due = [lane.flush_at - now for lane in self.lanes.values() if lane.flush_at is not None]
        return max(min([self.tick, *due] + ([retry_in] if retry_in else [])), 0.001)

    def _close_idle_lanes(self) -> None:
        """Finish the campaigns with nothing left in this job: their last live
        update shown first, then completed or handed on."""
        for lane in [lane for lane in self.lanes.values() if not lane.busy]:
            if lane.flush_at is not None:
                if lane.flush_at > time.monotonic():
                    continue
                lane.flush_at = _due(_show(lane.campaign_id, []))
                if lane.flush_at is not None:
                    continue
            del self.lanes[lane.campaign_id]
            with logs.context(campaign_id=lane.campaign_id):
                completed, more = through_outages(partial(_finish, lane.campaign_id), self.patience, lane.heartbeat)
                lane.heartbeat.stop()
                if completed:
                    live.show_campaign_change(lane.campaign_id)
                    summary = f"campaign {lane.campaign_id}: completed, {lane.finished} finished by this job"
                elif more:
                    self.more.append(lane.campaign_id)
                    summary = f"campaign {lane.campaign_id}: {lane.finished} done, the rest handed to a new job"
                else:
                    summary = (
                        f"campaign {lane.campaign_id}: {lane.finished} done; "
                        "other jobs, a resume or a due retry carry on"
                    )
                log.info("%s", summary)
                self.summaries.append(summary)


def _wanting_sends(limit: int) -> list[tuple[int, int]]:
    """Campaigns sending with recipients queued or a retry due, the longest
    sending first, and how many recipients each still owes."""
    found = db.session.execute(
        text(
            f"""
            SELECT id, owed FROM (
                SELECT id, started_at, retrying_count, recipient_count - sending_count - {lifecycle.DONE} AS owed
                FROM campaigns WHERE status = 'sending'
            ) AS sending
            WHERE owed > retrying_count
               OR (retrying_count > 0 AND EXISTS (
                   SELECT 1 FROM recipients WHERE campaign_id = sending.id
                   AND status = {lit(RecipientStatus.RETRYING)} AND next_attempt_at <= now()))
            ORDER BY started_at, id LIMIT :limit
            """
        ),
        {"limit": limit},
    ).all()
    db.session.commit()
    return [(campaign_id, owed) for campaign_id, owed in found]


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


def _due(flush_in: float | None) -> float | None:
    """When a held-back live update may go out (``time.monotonic()``), from
    the seconds ``_show`` says to wait; None when nothing is held back."""
    return None if flush_in is None else time.monotonic() + flush_in


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
