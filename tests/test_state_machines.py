"""Property-based tests of the campaign and recipient state machines.

Hypothesis drives one campaign at a time through random sequences of what a
dispatch job, its workers, the reconciler and an operator can do to it (claim,
answer, answer late or twice, die holding a claim, reap, pause, resume, cancel,
retry failed, complete) on the real PostgreSQL, and after every step checks the
rows, the counters and the attempt log: no sequence reaches an illegal state or
counts a recipient twice.
"""

import random
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass

import pytest
from flask import current_app
from hypothesis import HealthCheck, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    precondition,
    rule,
    run_state_machine_as_test,
)
from sqlalchemy import delete, func, select

from app.campaigns import delivery, lifecycle, recovery
from app.campaigns.models import Campaign, DeliveryAttempt, Recipient
from app.campaigns.models import CampaignStatus as C
from app.campaigns.models import RecipientStatus as R
from app.campaigns.transitions import Failures
from app.extensions import db
from app.optouts import registry
from app.optouts.models import OptOut, Source
from tests.factories import make_campaign
from tests.helpers import TERMINAL, assert_counters_match_rows

pytestmark = pytest.mark.slow

# Which step may move a campaign along each edge. "advance" is a loop turn,
# which pauses the campaign by itself when too many attempts fail.
CAMPAIGN_EDGES = {
    (C.DRAFT, C.SENDING): {"start"},
    (C.DRAFT, C.CANCELLED): {"cancel"},
    (C.SENDING, C.PAUSED): {"pause", "advance"},
    (C.SENDING, C.COMPLETED): {"complete_if_done"},
    (C.SENDING, C.CANCELLED): {"cancel"},
    (C.PAUSED, C.SENDING): {"resume"},
    (C.PAUSED, C.COMPLETED): {"complete_if_done"},
    (C.PAUSED, C.CANCELLED): {"cancel"},
    (C.COMPLETED, C.SENDING): {"retry_failed"},
    # Every recipient had opted out: nothing to send.
    (C.DRAFT, C.COMPLETED): {"start"},
}

# Which step may move a recipient along each edge, as seen between two steps.
# A turn may settle a recipient as retrying and claim it again at once (the
# retry delay is 0 here), which shows as sending → sending, one attempt more.
RECIPIENT_EDGES = {
    (R.QUEUED, R.SENDING): {"advance"},
    (R.RETRYING, R.SENDING): {"advance"},
    (R.SENDING, R.SENDING): {"advance"},
    (R.SENDING, R.SENT): {"advance"},
    (R.SENDING, R.FAILED): {"advance"},
    (R.SENDING, R.RETRYING): {"advance"},
    # A transient failure in a cancelled campaign is not retried; a lease
    # that expires in one is not queued again.
    (R.SENDING, R.CANCELLED): {"advance", "reap"},
    (R.SENDING, R.QUEUED): {"reap"},
    (R.QUEUED, R.CANCELLED): {"cancel"},
    (R.RETRYING, R.CANCELLED): {"cancel"},
    (R.FAILED, R.QUEUED): {"retry_failed"},
    # Opted out: skipped when the campaign starts, or when claimed.
    (R.QUEUED, R.SKIPPED): {"start", "advance"},
    (R.RETRYING, R.SKIPPED): {"advance"},
}

# Half the answers are failures: enough to retry, fail and pause often, while
# still letting most campaigns finish.
ANSWERS = st.sampled_from(["sent", "transient", "sent", "permanent"])

# The controls the campaign page offers in each status, but Cancel: being
# final, it has rules of its own that only some examples use (see create).
BUTTONS = {
    C.DRAFT: ["start"],
    C.SENDING: ["pause", "retry_failed"],
    C.PAUSED: ["resume", "retry_failed"],
    C.COMPLETED: ["retry_failed"],
    C.CANCELLED: [],
}

# Each control pressed by a staff member, as "did it change anything?".
PRESSES = {
    "start": lambda cid: lifecycle.start(cid, None).changed,
    "pause": lambda cid: lifecycle.pause(cid, None).changed,
    "resume": lambda cid: lifecycle.resume(cid, None).changed,
    "cancel": lambda cid: lifecycle.cancel(cid, None).changed,
    "retry_failed": lambda cid: lifecycle.retry_failed(cid, None, Failures.ALL).changed,
    "complete_if_done": lifecycle.complete_if_done,
}


@dataclass(frozen=True)
class Row:
    status: str
    attempts: int
    error_kind: str | None
    message_id: str | None


def rows_of(campaign_id: int) -> dict[int, Row]:
    return {
        rid: Row(*rest)
        for rid, *rest in db.session.execute(
            select(
                Recipient.id, Recipient.status, Recipient.attempts, Recipient.error_kind, Recipient.provider_message_id
            ).where(Recipient.campaign_id == campaign_id)
        )
    }


def attempts_logged(campaign_id: int) -> dict[int, tuple[int, int]]:
    """Per recipient: attempts logged, and how many of them were sent."""
    return {
        rid: (logged, sent)
        for rid, logged, sent in db.session.execute(
            select(DeliveryAttempt.recipient_id, func.count(), func.count().filter(DeliveryAttempt.outcome == "sent"))
            .where(DeliveryAttempt.campaign_id == campaign_id)
            .group_by(DeliveryAttempt.recipient_id)
        )
    }


class CampaignMachine(RuleBasedStateMachine):
    """One campaign, the workers that hold its claims, and what was last seen of it.

    ``status`` and ``rows`` are what the invariant observed after the previous
    step, so each rule reads them as "before" and the invariant judges the
    change the rule made.
    """

    def __init__(self):
        super().__init__()
        self.campaign: Campaign | None = None
        self.cid = 0
        self.last_turn: delivery.Turn | None = None
        self.status: str | None = None
        self.rows: dict[int, Row] = {}
        self.step = "create"
        self.cancels = "never"
        self.saved_config = {
            name: current_app.config[name] for name in ("AUTO_PAUSE_WINDOW", "AUTO_PAUSE_FAILURE_RATE")
        }
        # Zero backoff makes every retry due at once, so claims are predictable.
        self.policy = delivery.RetryPolicy(0.0, 0.0, 3, random.Random(0))
        # Claims a live worker holds (60 s leases), by recipient.
        self.live: dict[int, delivery.Claimed] = {}
        # Claims whose worker died: their leases have run out, not yet reaped.
        self.dead: list[delivery.Claimed] = []
        # Claims already answered or reaped: any answer for them is stale.
        self.stale: list[delivery.Claimed] = []
        # Recipients whose address has opted out.
        self.opted_out: set[int] = set()

    @initialize(
        recipients=st.integers(1, 8),
        started=st.booleans(),
        auto_pause_window=st.sampled_from([0, 4]),
        cancels=st.sampled_from(["never", "any time", "with claims in flight"]),
    )
    def create(self, recipients, started, auto_pause_window, cancels):
        # Cancel ends what an example can explore; offered at every step, it
        # would come early in nearly every example. So a third of the examples
        # never cancel and run on to completion and Retry failed, a third may
        # cancel at any step, and a third cancel only while claims wait for
        # their answers or the reaper, the case cancel is hardest on.
        self.cancels = cancels
        # A window of 4 lets a few failed answers (3 of the last 4) pause the
        # campaign mid-turn, so pausing by itself meets every other step too;
        # 0 turns it off.
        current_app.config.update(AUTO_PAUSE_WINDOW=auto_pause_window, AUTO_PAUSE_FAILURE_RATE=0.75)
        self.campaign = make_campaign(recipients)
        self.cid = self.campaign.id
        # Half the campaigns start at once, so more steps go to sending them.
        if started:
            assert lifecycle.start(self.cid, None).changed
            db.session.commit()
        self.status = C.SENDING if started else C.DRAFT
        self.rows = rows_of(self.cid)
        self.assert_refused("resume", "retry_failed", "complete_if_done", *(("start",) if started else ("pause",)))

    def teardown(self):
        # A failed step may leave its transaction open, which would block the
        # next example (and _clean_state's TRUNCATE).
        db.session.rollback()
        db.session.execute(delete(OptOut))
        db.session.commit()
        current_app.config.update(self.saved_config)

    # A dispatch job's loop turn, and the workers behind it

    def answer(self, claim: delivery.Claimed, answer: str) -> delivery.Outcome:
        if answer == "sent":
            # One message id per attempt, so a sent recipient overwritten by a
            # later answer would show.
            return self.policy.settle(claim, message_id=f"msg-{claim.id}-{claim.attempt}")
        return self.policy.settle(claim, error_code=answer, error=f"A {answer} failure", kind=answer)

    def advance(self, outcomes: list[delivery.Outcome], limit: int) -> delivery.Turn:
        self.step = "advance"
        turn = delivery.advance(self.cid, outcomes, limit)
        db.session.commit()

        # An answer counts only for a recipient still sending in that attempt.
        expected = {
            o.recipient_id
            for o in outcomes
            if (self.rows[o.recipient_id].status, self.rows[o.recipient_id].attempts) == (R.SENDING, o.attempt)
        }
        assert sorted(s.id for s in turn.settled) == sorted(expected), "each answer is stored once, only if current"
        for settled in turn.settled:
            possible = {o.status.value for o in outcomes if o.recipient_id == settled.id}
            if self.status == C.CANCELLED and R.RETRYING in possible:
                possible = possible - {R.RETRYING} | {R.CANCELLED}
            assert settled.status in possible

        claimed = [c.id for c in turn.claimed]
        assert len(claimed) == len(set(claimed)) and turn.taken <= limit
        assert not set(claimed) & self.opted_out, "an opted-out address was claimed"
        assert {s.id for s in turn.skipped} <= self.opted_out
        if self.status != C.SENDING:
            assert not turn.claimed and turn.halted, f"a {self.status} campaign gave out claims"
        self.last_turn = turn
        if turn.auto_paused:
            assert not turn.claimed
        retried_now = {s.id for s in turn.settled if s.status == R.RETRYING}
        for claim in turn.claimed:
            was = self.rows[claim.id]
            assert was.status in (R.QUEUED, R.RETRYING) or claim.id in retried_now, (claim, was)
            assert claim.attempt == was.attempts + 1
        if not outcomes and self.status == C.SENDING:
            # Nothing else is in the way: every queued or retrying recipient is
            # due, so a turn claims as many as it may.
            owed = sum(row.status in (R.QUEUED, R.RETRYING) for row in self.rows.values())
            assert turn.taken == min(limit, owed)
        return turn

    def loop_turn(self, data, ids: list[int], limit: int, stale: Sequence[delivery.Claimed] = ()) -> delivery.Turn:
        claims = [self.live[rid] for rid in ids] + list(stale)
        outcomes = [self.answer(c, data.draw(ANSWERS, label=f"answer {c.id}@{c.attempt}")) for c in claims]
        turn = self.advance(outcomes, limit)
        # Nothing else touches a recipient while its worker holds the lease,
        # and a stale answer counts nowhere.
        assert {s.id for s in turn.settled} == set(ids)
        for rid in set(ids):
            self.stale.append(self.live.pop(rid))
        for claim in turn.claimed:
            self.live[claim.id] = claim
        return turn

    @rule(data=st.data(), limit=st.integers(0, 4))
    def turn(self, data, limit):
        """Answers for some live claims, any of them possibly twice in one
        batch, and maybe stale answers among them; then claims for up to
        ``limit`` more."""
        ids = data.draw(st.lists(st.sampled_from(sorted(self.live)), max_size=6), label="ids") if self.live else []
        stale = data.draw(st.lists(st.sampled_from(self.stale), max_size=2), label="stale") if self.stale else []
        self.loop_turn(data, ids, limit, stale)

    @rule(data=st.data())
    def job_runs_until_nothing_is_left(self, data):
        """A dispatch job's whole run, turn after turn, each checked as a step.

        Random single steps rarely get every recipient of a campaign settled
        before something pauses or cancels it; this gets campaigns to
        completion, and from there to Retry failed.
        """
        for _ in range(50):
            turn = self.loop_turn(data, sorted(self.live), data.draw(st.integers(1, 4), label="limit"))
            self.campaign_and_recipients_are_consistent()
            if turn.halted or not self.live:
                break
        self.complete_if_done()

    @rule(limit=st.integers(1, 4))
    def claim_and_worker_dies(self, limit):
        config = current_app.config
        lease = config["LEASE_SECONDS"]
        config["LEASE_SECONDS"] = 0.0
        try:
            self.dead += self.advance([], limit).claimed
        finally:
            config["LEASE_SECONDS"] = lease

    @precondition(lambda self: self.dead)
    @rule(data=st.data(), answer=ANSWERS)
    def late_answer_before_reap(self, data, answer):
        """A worker slower than its lease answers before the reconciler noticed:
        its answer is the truth and is stored."""
        claim = data.draw(st.sampled_from(self.dead), label="claim")
        turn = self.advance([self.answer(claim, answer)], 0)
        assert [s.id for s in turn.settled] == [claim.id]
        self.dead.remove(claim)
        self.stale.append(claim)

    def claimed_again(self) -> list[delivery.Claimed]:
        """Stale claims whose recipient is sending again, in a later attempt:
        the answers most easily mistaken for the current one."""
        current = set(self.live) | {c.id for c in self.dead}
        return [c for c in self.stale if c.id in current]

    @precondition(lambda self: self.claimed_again())
    @rule(data=st.data(), answer=ANSWERS)
    def stale_answer_while_claimed_again(self, data, answer):
        claim = data.draw(st.sampled_from(self.claimed_again()), label="claim")
        turn = self.advance([self.answer(claim, answer)], 0)
        assert not turn.settled, f"a stale answer for {claim} was stored"

    @rule(data=st.data())
    def someone_opts_out(self, data):
        """An opt-out commits between two steps, whatever the recipient is doing."""
        rid = data.draw(st.sampled_from(sorted(self.rows)), label="opts out")
        self.step = "opt_out"
        address = db.session.scalar(select(Recipient.address_normalized).where(Recipient.id == rid))
        registry.add("email", address, Source.STAFF)
        db.session.commit()
        self.opted_out.add(rid)

    @rule()
    def reconciler_pass(self):
        """Reap expired leases, then complete the campaign if that finished it."""
        self.reap()
        self.campaign_and_recipients_are_consistent()
        self.complete_if_done()

    def reap(self):
        self.step = "reap"
        reaped = recovery.reap_expired_leases(self.cid)
        db.session.commit()
        expired = {c.id for c in self.dead}
        assert reaped == len(expired), "exactly the claims of dead workers are reaped"
        after = rows_of(self.cid)
        back_to = R.CANCELLED if self.status == C.CANCELLED else R.QUEUED
        assert all(after[rid].status == back_to for rid in expired)
        self.stale += self.dead
        self.dead = []

    # The operator's controls: a press of one of the buttons the campaign page
    # offers in its present status. The presses that must change nothing are
    # made right after a control, where the status is known.

    @precondition(lambda self: BUTTONS[self.status])
    @rule(data=st.data(), which=st.sampled_from(Failures))
    def operator_presses(self, data, which):
        button = data.draw(st.sampled_from(BUTTONS[self.status]), label="button")
        if button == "retry_failed":
            self.retry_failed(which)
        elif button == "resume":
            self.resume()
        else:
            self.press(button, *{"start": ["resume"], "pause": ["start"]}[button])

    @precondition(
        lambda self: (
            self.status in (C.DRAFT, C.SENDING, C.PAUSED)
            and (self.cancels == "any time" or (self.cancels == "with claims in flight" and (self.live or self.dead)))
        )
    )
    @rule()
    def operator_cancels(self):
        # Cancelled is final: nothing else may change it.
        self.press("cancel", *PRESSES)

    def press(self, button: str, *refused_after: str) -> None:
        self.step = button
        assert PRESSES[button](self.cid), f"{button} refused in a {self.status} campaign"
        db.session.commit()
        self.assert_refused(button, *refused_after)

    def assert_refused(self, *names: str) -> None:
        for name in names:
            changed = PRESSES[name](self.cid)
            db.session.commit()
            assert not changed, f"{name} changed a campaign that was {self.status} before {self.step}"

    def resume(self):
        self.step = "resume"
        result = lifecycle.resume(self.cid, None)
        db.session.commit()
        assert result.changed
        assert result.to_send == sum(row.status in (R.QUEUED, R.RETRYING) for row in self.rows.values())
        self.assert_refused("resume", "start")

    def retry_failed(self, which):
        self.step = "retry_failed"
        result = lifecycle.retry_failed(self.cid, None, which)
        db.session.commit()
        kinds = set(which.kinds)
        eligible = {rid for rid, row in self.rows.items() if row.status == R.FAILED and row.error_kind in kinds}
        assert result.changed == bool(eligible)
        after = rows_of(self.cid)
        requeued = {rid for rid, row in self.rows.items() if row.status == R.FAILED and after[rid].status == R.QUEUED}
        assert requeued == eligible, f"which={which}: {requeued} ≠ {eligible}"
        if result.changed:
            assert result.to_send == (0 if self.status == C.PAUSED else len(eligible))
            again = lifecycle.retry_failed(self.cid, None, which)
            db.session.commit()
            assert not again.changed, "a second press finds them queued, not failed"

    def complete_if_done(self):
        self.step = "complete_if_done"
        completed = lifecycle.complete_if_done(self.cid)
        db.session.commit()
        all_done = all(row.status in TERMINAL for row in self.rows.values())
        assert completed == (self.status in (C.SENDING, C.PAUSED) and all_done)
        if completed:
            # Only Retry failed reopens a completed campaign.
            self.assert_refused("start", "pause", "resume", "cancel", "complete_if_done")

    # What must hold after every step

    @invariant()
    def campaign_and_recipients_are_consistent(self):
        if self.campaign is None:
            return
        assert_counters_match_rows(self.campaign)
        assert min(self.campaign.count_for(s) for s in R) >= 0, [self.campaign.count_for(s) for s in R]

        status = self.campaign.status
        if status != self.status:
            assert self.step in CAMPAIGN_EDGES.get((self.status, status), ()), (
                f"{self.step} moved the campaign {self.status} → {status}"
            )
        if self.step == "advance":
            paused = self.status == C.SENDING and status == C.PAUSED
            assert self.last_turn.auto_paused == paused, "a turn pauses the campaign only for failures, and says so"

        rows = rows_of(self.cid)
        for rid, row in rows.items():
            was = self.rows[rid]
            if (row.status, row.attempts) != (was.status, was.attempts):
                assert self.step in RECIPIENT_EDGES.get((was.status, row.status), ()), (
                    f"{self.step} moved recipient {rid} {was} → {row}"
                )
                assert row.attempts == was.attempts + (row.status == R.SENDING), (was, row)
            if row.status == R.SENT and was.status != R.SENT:
                assert row.message_id == f"msg-{rid}-{row.attempts}", (rid, row)
            if was.status in (R.SENT, R.SKIPPED):
                assert row == was, f"recipient {rid} was {was.status}, then changed: {was} → {row}"
            if row.status == R.SKIPPED:
                assert rid in self.opted_out, f"recipient {rid} skipped, but never opted out"
            if row.attempts > was.attempts:
                assert self.status == C.SENDING, f"recipient {rid} claimed in a {self.status} campaign"

        by_status = Counter(row.status for row in rows.values())
        if status == C.DRAFT:
            assert set(by_status) == {R.QUEUED} and not any(row.attempts for row in rows.values())
        # Sends in flight when a campaign is cancelled finish afterwards.
        unfinished = {C.CANCELLED: (R.QUEUED, R.RETRYING), C.COMPLETED: (R.QUEUED, R.RETRYING, R.SENDING)}
        assert not any(by_status[s] for s in unfinished.get(status, ())), (status, by_status)

        log = attempts_logged(self.cid)
        for rid, row in rows.items():
            logged, sent = log.get(rid, (0, 0))
            # The attempt in flight is logged when it is answered or reaped.
            assert logged == row.attempts - (row.status == R.SENDING), (rid, row, logged)
            assert sent == (row.status == R.SENT), f"recipient {rid} logged as sent {sent}×"

        self.status, self.rows = status, rows
        # End the read, so each step runs in a transaction of its own, as a
        # loop turn does.
        db.session.rollback()


# No example database: it would write .hypothesis/ into the checkout.
SETTINGS = settings(
    max_examples=75,
    stateful_step_count=30,
    deadline=None,
    database=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


def test_no_sequence_of_steps_breaks_a_campaign_or_counts_a_recipient_twice(app):
    run_state_machine_as_test(CampaignMachine, settings=SETTINGS)
