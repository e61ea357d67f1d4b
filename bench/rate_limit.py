"""The rate limit as the provider saw it: its own log of when each call
arrived, failed calls too (it counts them against the limit all the same).

Three rounds of a campaign each, on addresses no other step uses (so none is
skipped as opted out by an earlier step's failures): one round lasts ten
seconds, and one stall of a second in it reads as 10 % under the limit. The
median round is the figure; the range and each round's longest gap between
two calls say whether a round was the rate or a stall."""

import itertools
import os
import statistics
from dataclasses import dataclass

from redis import Redis
from sqlalchemy import select

from app.campaigns.models import Recipient, idempotency_key
from app.extensions import db
from bench.harness import NO_LATENCY, Bench
from jobs.provider import Ledger, most_in_one_second

LIMIT = 50
ROUNDS = 3
# Far past every other step's p0… addresses.
FIRST_ADDRESS = 50_000_000


@dataclass(frozen=True)
class Round:
    calls: int
    per_second: float
    busiest: int
    longest_gap_ms: float

    @property
    def error_pct(self) -> float:
        return (self.per_second - LIMIT) / LIMIT * 100


def rate_limit(bench: Bench) -> None:
    recipients = 200 if bench.quick else 500
    campaigns = [
        bench.campaign(recipients, f"rate limited, round {n + 1}", first=FIRST_ADDRESS + n * recipients)
        for n in range(ROUNDS)
    ]
    with bench.workers(EMAIL_RATE_LIMIT=str(LIMIT), **NO_LATENCY):
        for campaign_id in campaigns:
            bench.dispatch(campaign_id)
    rounds = sorted((_round(bench, campaign_id) for campaign_id in campaigns), key=lambda r: r.per_second)
    median = rounds[len(rounds) // 2]
    busiest = max(r.busiest for r in rounds)
    bench.results["rate_limit_error_pct"] = round(median.error_pct, 2)
    bench.results["rate_limit_busiest_second"] = busiest
    bench.results["rate_limit_longest_gap_ms"] = round(max(r.longest_gap_ms for r in rounds))
    bench.row(
        "rate_limit_error_pct",
        f"rate limit {LIMIT} /s, {recipients} recipients, {os.cpu_count()} processes: provider calls a second",
        f"{median.per_second:.1f} /s ({median.error_pct:+.1f} %, median of {ROUNDS}, range "
        f"{rounds[0].error_pct:+.1f} to {rounds[-1].error_pct:+.1f} %; "
        f"{statistics.mean(r.calls for r in rounds):.0f} calls each)",
    )
    bench.row("rate_limit_busiest_second", "the most provider calls in any one second", str(busiest))
    bench.row(
        "rate_limit_longest_gap_ms",
        f"the longest wait between two calls, at an interval of {1000 / LIMIT:.0f} ms",
        ", ".join(f"{r.longest_gap_ms:.0f} ms" for r in rounds),
    )


def _round(bench: Bench, campaign_id: int) -> Round:
    with bench.app.app_context():
        ids = db.session.scalars(select(Recipient.id).where(Recipient.campaign_id == campaign_id)).all()
        db.session.commit()
    ours = {idempotency_key(recipient_id) for recipient_id in ids}
    calls = sorted(at for key, at in Ledger(Redis.from_url(bench.redis_url)).calls() if key in ours)
    return Round(
        calls=len(calls),
        per_second=(len(calls) - 1) / (calls[-1] - calls[0]),
        busiest=most_in_one_second(calls),
        longest_gap_ms=max(b - a for a, b in itertools.pairwise(calls)) * 1000,
    )
