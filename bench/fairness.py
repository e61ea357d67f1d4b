"""Many campaigns at once, fairly (issue 29): 100 campaigns of 20 started
together against the same 2,000 recipients as one campaign
(``many_campaigns``), and 10 recipients started behind a 100,000-recipient
campaign that is sending (``small_behind_large``). Both at 1–3 s latency on
the Procfile's workers; each campaign is started over HTTP and timed from the
database."""

import time

from sqlalchemy import func, select, text

from app.campaigns.models import Campaign, Recipient, RecipientStatus
from app.extensions import db
from bench.harness import LATENCY, Bench, Together
from bench.search import _vacuum
from bench.throughput import NO_OPT_OUTS

# A process per core, as the Procfile's worker runs, 100 sends in flight each
# (the default, named so that both runs of a figure are seen to share it).
# No "opted out" failures: an address opted out in one run would be skipped
# at the next one's Start, so the second run would have less to send, and the
# steps after would find more of their addresses skipped than before these ran.
SETTINGS = {"DISPATCH_CONCURRENCY": "100", **LATENCY, **NO_OPT_OUTS}
# Ten minutes: four times what the engine of one campaign per job took for the
# 100 campaigns of 20 (~150 s, issue 29). A wait that runs out gives the time
# up to then, marked as cut short; the figure is never capped below what it took.
PATIENCE_S = 600.0
SMALL = 10


def many_campaigns(bench: Bench) -> None:
    campaigns, each = (20, 10) if bench.quick else (100, 20)
    total = campaigns * each
    one_id = bench.campaign(total, f"{total:,} recipients as one campaign")
    # The same addresses as the one campaign, dealt out in order.
    many_ids = [bench.campaign(each, f"{n + 1} of {campaigns} together", first=n * each) for n in range(campaigns)]
    with bench.workers(**SETTINGS):
        one = bench.dispatch_together([one_id], PATIENCE_S)
        quiet = bench.settle([one_id])
        many = bench.dispatch_together(many_ids, PATIENCE_S)
        quiet = bench.settle(many_ids) and quiet
    ratio = many.seconds / one.seconds
    bench.results.update(
        many_campaigns_ratio=round(ratio, 3),
        many_campaigns_s=round(many.seconds, 2),
        one_campaign_2000_s=round(one.seconds, 2),
    )
    bench.row(
        "many_campaigns_ratio",
        f"{campaigns} campaigns of {each} vs the same {total:,} recipients as one, latency 1-3 s: time ratio",
        f"{ratio:.2f} × ({many.seconds:.1f} s vs {one.seconds:.1f} s; the {campaigns} Starts within "
        f"{many.starts_s:.1f} s){_cut_short(one, 'the one')}{_cut_short(many, 'the many')}"
        f"{'' if quiet else '; !! still sending after 60 s of cancelling'}",
    )


def small_behind_large(bench: Bench) -> None:
    """The large campaign is cancelled once the small one is done, and both
    are deleted (and the table vacuumed), so the steps after read the table as
    they found it."""
    large = 5_000 if bench.quick else 100_000
    # Sending steadily: well past its first claims.
    steady = 500 if bench.quick else 3_000
    large_id = bench.large_campaign(large, f"{large:,} recipients, sending")
    # Addresses of its own: the large campaign's are p1 to p{large}.
    small_id = bench.campaign(SMALL, f"{SMALL} recipients behind {large:,}", first=large + 1)
    try:
        with bench.workers(**SETTINGS):
            try:
                bench.http.start(large_id)
                _wait_until_sent(bench, large_id, steady)
                small = bench.dispatch_together([small_id], PATIENCE_S)
            finally:
                quiet = bench.settle([large_id, small_id])
        before, during = _large_sent(bench, large_id, small)
    finally:
        with bench.app.app_context():
            db.session.execute(text("DELETE FROM campaigns WHERE id = ANY(:ids)"), {"ids": [large_id, small_id]})
            db.session.commit()
            _vacuum("recipients")
            _vacuum("delivery_attempts")
    bench.results.update(
        small_behind_large_s=round(small.seconds, 2),
        large_sent_before_small=before,
        large_sent_during_small=during,
    )
    bench.row(
        "small_behind_large_s",
        f"{SMALL} recipients started behind {large:,} sending, latency 1-3 s: Start → last terminal",
        f"{small.seconds:.1f} s (the large one sent {before:,} before it started, {during:,} while it sent)"
        f"{_cut_short(small, 'the small one')}{'' if quiet else '; !! still sending after 60 s of cancelling'}",
    )


def _wait_until_sent(bench: Bench, campaign_id: int, sent: int) -> None:
    """Until ``sent`` of the campaign's recipients are; a campaign that sends
    nothing in ``PATIENCE_S`` is a broken engine, not a slow one."""
    give_up = time.monotonic() + PATIENCE_S
    with bench.app.app_context():
        while (done := db.session.scalar(select(Campaign.sent_count).where(Campaign.id == campaign_id))) < sent:
            db.session.commit()
            if time.monotonic() > give_up:
                raise RuntimeError(f"campaign {campaign_id} sent {done} in {PATIENCE_S:.0f} s, short of {sent}")
            time.sleep(0.1)
        db.session.commit()


def _large_sent(bench: Bench, large_id: int, small: Together) -> tuple[int, int]:
    """The large campaign's recipients sent before the small one's Start
    committed, and from then until its last recipient was (or the wait gave up)."""
    with bench.app.app_context():
        sent_at = Recipient.finished_at
        before, during = db.session.execute(
            select(
                func.count().filter(sent_at < small.began),
                func.count().filter(sent_at >= small.began, sent_at <= small.ended),
            ).where(Recipient.campaign_id == large_id, Recipient.status == RecipientStatus.SENT)
        ).one()
        db.session.commit()
    return before, during


def _cut_short(run: Together, which: str) -> str:
    if not run.cut_short:
        return ""
    return (
        f"; !! {which} cut short at {PATIENCE_S:.0f} s, {run.completed} of {run.campaigns} completed, "
        f"{run.recipients:,} recipients terminal"
    )
