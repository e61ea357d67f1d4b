"""20 campaigns due at the same moment, with the Procfile's scheduler
running (its default 2 s pass): each one's due time → ``started_at``, over
rounds due at different points of the scheduler's pass (``scheduled``). No
workers: what is measured is the start, not the sending."""

import time
from datetime import UTC, datetime, timedelta

from redis import Redis
from sqlalchemy import func, select, text

from app.campaigns import lifecycle
from app.campaigns.models import Campaign
from app.extensions import db
from bench.harness import QUEUE, Bench
from bench.measure import percentile
from bench.stack import Periodic


def scheduled(bench: Bench) -> None:
    rounds, campaigns = (1, 20) if bench.quick else (3, 20)
    lags: list[float] = []
    p95s: list[float] = []
    with Periodic("scheduler", bench.env), bench.app.app_context():
        _first_pass()
        for round_ in range(rounds):
            # Due a few seconds on, at a different point of the 2 s pass each round.
            round_lags = _round(bench, campaigns, f"scheduled {round_}", 4 + 0.7 * round_)
            lags += round_lags
            p95s.append(percentile(round_lags, 95))
    Redis.from_url(bench.redis_url).delete(f"rq:queue:{QUEUE}")
    p95 = percentile(lags, 95)
    bench.results.update(
        schedule_lag_p95_s=round(p95, 2),
        schedule_lag_p95_range_s=[round(min(p95s), 2), round(max(p95s), 2)],
        schedule_lag_max_s=round(max(lags), 2),
    )
    bench.row(
        "schedule_lag_p95_s",
        f"{campaigns} campaigns due at the same moment, the Procfile's scheduler (2 s pass): "
        "due → started_at, p95 (`schedule_lag_p95_s`)",
        f"{p95:.2f} s (per round {min(p95s):.2f}–{max(p95s):.2f}; all {min(lags):.2f}–{max(lags):.2f} s)",
    )


def _first_pass() -> None:
    """Measured from the scheduler's first pass on, not from its process starting."""
    while not db.session.scalar(
        text("SELECT count(*) FROM pg_stat_activity WHERE application_name = 'dispatcher-scheduler'")
    ):
        db.session.commit()
        time.sleep(0.1)


def _round(bench: Bench, campaigns: int, title: str, due_in: float) -> list[float]:
    """Seconds from due to started, for each of ``campaigns`` due ``due_in`` seconds from now."""
    ids = [bench.campaign(2, f"{title}-{i}") for i in range(campaigns)]
    due = datetime.now(UTC) + timedelta(seconds=due_in)
    for campaign_id in ids:
        assert lifecycle.schedule(campaign_id, due, None).changed
    db.session.commit()
    while db.session.scalar(select(func.count()).where(Campaign.id.in_(ids), Campaign.started_at.is_(None))):
        db.session.commit()
        time.sleep(0.1)
    started = db.session.scalars(select(Campaign.started_at).where(Campaign.id.in_(ids))).all()
    for campaign_id in ids:
        lifecycle.cancel(campaign_id, None)  # nothing is left queued for later figures
    db.session.commit()
    return [(at - due).total_seconds() for at in started if at is not None]
