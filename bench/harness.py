"""What every figure works with: the app on the benchmark's servers, a
signed-in browser session on the Procfile's web process, worker pools, and
campaigns made and sent as an operator would."""

import os
import subprocess
import time
import urllib.parse
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

import flask_migrate
from flask import Flask
from sqlalchemy import func, select, text

from app import create_app, jobqueue
from app.audit import Via
from app.auth.models import Role
from app.campaigns import drafts
from app.campaigns.models import Campaign, CampaignStatus, Recipient, RecipientStatus
from app.campaigns.parsing import ParsedRecipient
from app.config import psycopg2_url
from app.extensions import db
from app.formatting import plural
from app.users import staff
from bench.figures import BY_KEY
from bench.measure import Row, timed_request
from bench.stack import Workers
from devtools.client import Browser
from devtools.tables import empty_all

USER = "bench@example.com"
PASSWORD = "bench password, not a secret"
QUEUE = "bench"
# 8 % of sends fail, all permanently: a transient failure would wait out its
# retry backoff (seconds, by design), which measures the backoff, not the engine.
FAILURES = {"PROVIDER_ERROR_RATES": "invalid_address=0.027,opted_out=0.027,rejected_content=0.026"}
LATENCY = {"PROVIDER_LATENCY_MIN": "1", "PROVIDER_LATENCY_MAX": "3", **FAILURES}
NO_LATENCY = {"PROVIDER_LATENCY_MIN": "0", "PROVIDER_LATENCY_MAX": "0", **FAILURES}
MEAN_LATENCY = 2.0
# Signs the delivery receipts the receipts figure posts as the provider.
RECEIPTS_SECRET = "bench-receipts-only"
# Starts pressed at once when many campaigns start together: the web's two
# gevent workers serve them side by side, so the last starts soon after the first.
STARTERS = 10
# How often a dispatch looks whether its campaign completed: each look is a
# transaction of its own (bench/scaling.py takes them out of PostgreSQL's count).
LOOK_SECONDS = 0.1
TERMINAL = (RecipientStatus.SENT, RecipientStatus.FAILED, RecipientStatus.CANCELLED, RecipientStatus.SKIPPED)


def environment(database_url: str, redis_url: str) -> dict[str, str]:
    """What the Procfile's processes run with."""
    return {
        **os.environ,
        "DATABASE_URL": database_url,
        "REDIS_URL": redis_url,
        "RQ_QUEUE": QUEUE,
        "SECRET_KEY": "bench-only",
        # Served over plain http: no HTTPS-only session cookie.
        "APP_ENV": "development",
        "PYTHONUNBUFFERED": "1",
        # api_list and api_send measure the endpoints, not the per-token limits.
        "API_RATE_LIMIT": "100000 per minute",
        "API_SEND_RATE_LIMIT": "100000 per minute",
        # The benchmark's numbers are Kenyan: "0700 12" is typed as dialled there.
        "DEFAULT_REGION": "KE",
        "RECEIPTS_WEBHOOK_SECRET": RECEIPTS_SECRET,
    }


def prepared_app(database_url: str, redis_url: str) -> Flask:
    """The app in the benchmark's own process, on migrated, empty tables with
    the benchmark's operator in them."""
    app = create_app(
        {
            "SQLALCHEMY_DATABASE_URI": psycopg2_url(database_url),
            "REDIS_URL": redis_url,
            "SSE_REDIS_URL": redis_url,
            "WTF_CSRF_ENABLED": False,
            "SECRET_KEY": "bench-only",
            "RQ_QUEUE": QUEUE,
            # The 100,000-line figure is above the default limit of 50,000.
            "RECIPIENT_LINE_LIMIT": 100_000,
        }
    )
    with app.app_context():
        flask_migrate.upgrade()
        empty_all(db.session)
        staff.add(USER, Role.OPERATOR, PASSWORD, actor=None, via=Via.COMMAND_LINE)
        db.session.commit()
    return app


@dataclass(frozen=True)
class Run:
    recipients: int
    seconds: float  # Start committed → last recipient committed

    @property
    def per_second(self) -> float:
        return self.recipients / self.seconds


@dataclass(frozen=True)
class Together(Run):
    """Campaigns started together: ``seconds`` runs from the first Start
    committed to the last recipient of them all committed, or to when the
    wait gave up (``completed`` < ``campaigns``); ``recipients`` are those
    terminal by then."""

    began: datetime  # the first Start committed
    starts_s: float  # the first Start committed → the last
    campaigns: int
    completed: int

    @property
    def cut_short(self) -> bool:
        return self.completed < self.campaigns

    @property
    def ended(self) -> datetime:
        return self.began + timedelta(seconds=self.seconds)


class Bench:
    def __init__(self, app: Flask, env: dict, redis_url: str, base_url: str, web: subprocess.Popen, quick: bool):
        self.app, self.env, self.redis_url, self.web, self.quick = app, env, redis_url, web, quick
        self.http = Browser(base_url, USER, PASSWORD)
        self.results: dict[str, Any] = {"cores": os.cpu_count()}
        self.rows: list[Row] = []

    def row(self, key: str, figure: str, measured: str) -> None:
        """Print a line of the run; ``key`` is the results key whose target it is held to."""
        assert key in BY_KEY, f"{key} is not in bench/figures.py"
        self.rows.append(Row(figure, measured, key))
        print(f"  {figure}: {measured}", flush=True)

    def workers(self, processes: int | None = None, **settings: str) -> Workers:
        """The Procfile's worker pool, on a machine where nothing else sends:
        a send job takes on every campaign sending with recipients queued
        (jobs.sharing), so one an earlier step left sending (the pages step's
        100,000, the search steps' thousands) would be sent beside the one
        measured. They are paused first, and the run says so."""
        self._pause_left_sending()
        return Workers(self.env, self.redis_url, QUEUE, processes, **settings)

    def _pause_left_sending(self) -> None:
        with self.app.app_context():
            paused = db.session.execute(
                text(
                    "UPDATE campaigns SET status = 'paused', pause_reason = 'paused by the benchmark' "
                    "WHERE status = 'sending' RETURNING id"
                )
            ).all()
            db.session.commit()
        if paused:
            print(f"  (paused {plural(len(paused), 'campaign')} an earlier step left sending)", flush=True)

    def timed(self, path: str, headers: dict[str, str] | None = None, form: dict | None = None) -> float:
        """Milliseconds this session's GET of ``path`` (a POST of ``form``) took."""
        data = urllib.parse.urlencode(form).encode() if form is not None else None
        return timed_request(self.http.base_url + path, headers, data, self.http.opener).ms

    def campaign(self, recipients: int, title: str, message: str = "Hello", first: int = 0) -> int:
        """``first``: the number of its first address, ``p{first}@example.com``."""
        with self.app.app_context():
            parsed = [
                ParsedRecipient(i, f"Pat P{n}", f"p{n}@example.com", f"p{n}@example.com")
                for i, n in enumerate(range(first, first + recipients))
            ]
            campaign = drafts.create_campaign(title, "email", message, parsed, created_by=None)
            db.session.commit()
            return campaign.id

    def large_campaign(self, recipients: int, title: str) -> int:
        """A campaign inserted by the database itself: its paste is not what is measured."""
        campaign_id = self.campaign(0, title)
        with self.app.app_context():
            db.session.execute(
                text(
                    "INSERT INTO recipients (campaign_id, line, name, address, address_normalized) "
                    "SELECT :id, n, 'P' || n, 'p' || n || '@example.com', 'p' || n || '@example.com' "
                    "FROM generate_series(1, :count) AS n"
                ),
                {"id": campaign_id, "count": recipients},
            )
            db.session.execute(
                text("UPDATE campaigns SET recipient_count = :count WHERE id = :id"),
                {"id": campaign_id, "count": recipients},
            )
            db.session.commit()
        return campaign_id

    def dispatch(self, campaign_id: int) -> Run:
        """Press Start over HTTP, wait for the campaign to complete, time it from the database."""
        return self.dispatch_counting(campaign_id)[0]

    def dispatch_counting(self, campaign_id: int) -> tuple[Run, int]:
        """``dispatch``, and how many transactions of its own it took to watch
        and time the campaign (a look every LOOK_SECONDS, and the timing read)."""
        self.http.start(campaign_id)
        looks = 1
        with self.app.app_context():
            while db.session.scalar(select(Campaign.status).where(Campaign.id == campaign_id)) != "completed":
                db.session.commit()
                looks += 1
                time.sleep(LOOK_SECONDS)
            started, last, count = db.session.execute(
                select(Campaign.started_at, func.max(Recipient.finished_at), func.count())
                .join(Recipient, Recipient.campaign_id == Campaign.id)
                .where(Campaign.id == campaign_id)
                .group_by(Campaign.id)
            ).one()
            db.session.commit()
        return Run(count, (last - started).total_seconds()), looks + 1

    def dispatch_together(self, campaign_ids: list[int], patience: float) -> Together:
        """Press Start on every campaign over HTTP, ``STARTERS`` at a time, wait
        until all have completed or ``patience`` seconds have passed, and time
        them from the database."""
        with ThreadPoolExecutor(STARTERS) as starters:
            list(starters.map(self.http.start, campaign_ids))
        give_up = time.monotonic() + patience
        with self.app.app_context():
            ours = Campaign.id.in_(campaign_ids)
            began, last_start, started = db.session.execute(
                select(
                    func.min(Campaign.started_at), func.max(Campaign.started_at), func.count(Campaign.started_at)
                ).where(ours)
            ).one()
            db.session.commit()
            if started < len(campaign_ids):
                raise RuntimeError(f"{len(campaign_ids) - started} of {len(campaign_ids)} campaigns did not start")
            completed = 0
            while time.monotonic() < give_up:
                completed = db.session.scalar(
                    select(func.count()).where(ours, Campaign.status == CampaignStatus.COMPLETED)
                )
                db.session.commit()
                if completed == len(campaign_ids):
                    break
                time.sleep(0.1)
            last, terminal, now = db.session.execute(
                select(func.max(Recipient.finished_at), func.count(), func.now()).where(
                    Recipient.campaign_id.in_(campaign_ids), Recipient.status.in_(TERMINAL)
                )
            ).one()
            db.session.commit()
        ended = last if completed == len(campaign_ids) else now
        return Together(
            terminal,
            (ended - began).total_seconds(),
            began=began,
            starts_s=(last_start - began).total_seconds(),
            campaigns=len(campaign_ids),
            completed=completed,
        )

    def settle(self, campaign_ids: list[int], patience: float = 60.0) -> bool:
        """Cancel over HTTP, as an operator would, those of the campaigns still
        sending or paused, and wait until none of their recipients is with the
        provider and no job waits in the queue, so that the next figure starts on
        a quiet machine. False if that took longer than ``patience`` seconds."""
        with self.app.app_context():
            going = db.session.scalars(
                select(Campaign.id).where(
                    Campaign.id.in_(campaign_ids), Campaign.status.in_((CampaignStatus.SENDING, CampaignStatus.PAUSED))
                )
            ).all()
            db.session.commit()
        for campaign_id in going:
            self.http.cancel(campaign_id)
        give_up = time.monotonic() + patience
        with self.app.app_context():
            while time.monotonic() < give_up:
                in_flight = db.session.scalar(
                    select(func.count()).where(
                        Recipient.campaign_id.in_(campaign_ids), Recipient.status == RecipientStatus.SENDING
                    )
                )
                db.session.commit()
                if not in_flight and not jobqueue.waiting().depth:
                    return True
                time.sleep(0.1)
        return False
