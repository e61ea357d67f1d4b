"""The rate limit as the provider saw it: its own log of when each call
arrived, failed calls too (it counts them against the limit all the same)."""

import os

from redis import Redis
from sqlalchemy import select

from app.campaigns.models import Recipient, idempotency_key
from app.extensions import db
from bench.harness import NO_LATENCY, Bench
from jobs.provider import Ledger, most_in_one_second

LIMIT = 50


def rate_limit(bench: Bench) -> None:
    recipients = 200 if bench.quick else 500
    campaign_id = bench.campaign(recipients, "rate limited")
    with bench.workers(EMAIL_RATE_LIMIT=str(LIMIT), **NO_LATENCY):
        bench.dispatch(campaign_id)
    with bench.app.app_context():
        ids = db.session.scalars(select(Recipient.id).where(Recipient.campaign_id == campaign_id)).all()
        db.session.commit()
    ours = {idempotency_key(recipient_id) for recipient_id in ids}
    calls = sorted(at for key, at in Ledger(Redis.from_url(bench.redis_url)).calls() if key in ours)
    measured = (len(calls) - 1) / (calls[-1] - calls[0])
    error = (measured - LIMIT) / LIMIT * 100
    busiest = most_in_one_second(calls)
    bench.results["rate_limit_error_pct"] = round(error, 2)
    bench.results["rate_limit_busiest_second"] = busiest
    bench.row(
        "rate_limit_error_pct",
        f"rate limit {LIMIT} /s, {recipients} recipients, {os.cpu_count()} processes: provider calls a second",
        f"{measured:.1f} /s ({error:+.1f} %, {len(calls)} calls)",
    )
    bench.row("rate_limit_busiest_second", "the most provider calls in any one second", str(busiest))
