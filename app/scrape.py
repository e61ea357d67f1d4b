"""``/metrics``: every process's counts (``app.metrics``) in Prometheus's text
format, with what is read at scrape time: the queue's depth and oldest job,
and campaigns by status. Also times every request for it.

Who may read it: a request from this machine itself (loopback, as the client
address is after ``TRUSTED_PROXIES``), or one with ``Authorization: Bearer
<METRICS_TOKEN>``. Anyone else gets 401 when a token is set (a scraper with a
wrong token should hear so), and 404 when none is (there is no way in from
elsewhere, so the page does not say it exists).
"""

import hmac
import ipaddress
import logging
import time
from collections.abc import Iterator

from flask import Flask, Response, current_app, request
from prometheus_client import CONTENT_TYPE_LATEST, REGISTRY, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily, Metric
from prometheus_client.multiprocess import MultiProcessCollector
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import jobqueue, metrics
from app.auth.access import public
from app.auth.sessions import STREAM_ENDPOINT
from app.campaigns.models import CampaignStatus
from app.extensions import db

log = logging.getLogger(__name__)

ENDPOINT = "metrics"
# Not request durations: a stream lasts as long as its page is open.
UNTIMED = {ENDPOINT, STREAM_ENDPOINT}
STARTED = "dispatcher.request_started"


def init_app(app: Flask) -> None:
    """Before every other hook, so a request they answer (a redirect to Sign in) is timed too."""
    metrics.enabled = app.config["METRICS_ENABLED"]
    if not metrics.enabled:
        return
    app.before_request(_start_timer)
    app.after_request(_observe)
    app.add_url_rule("/metrics", ENDPOINT, serve)


def _start_timer() -> None:
    request.environ[STARTED] = time.perf_counter()


def _observe(response: Response) -> Response:
    started = request.environ.get(STARTED)
    if started is not None and request.endpoint not in UNTIMED:
        metrics.observe_request(
            request.endpoint or "none", request.method, response.status_code, time.perf_counter() - started
        )
    return response


@public
def serve() -> Response:
    """Every metric, to loopback or the bearer of METRICS_TOKEN."""
    token = current_app.config["METRICS_TOKEN"]
    if not (_bears(token) or _from_this_machine()):
        if token:
            return Response("A bearer token is needed.\n", 401, {"WWW-Authenticate": "Bearer"}, mimetype="text/plain")
        return Response("Not found.\n", 404, mimetype="text/plain")
    return Response(exposition(), content_type=CONTENT_TYPE_LATEST)


def _bears(token: str) -> bool:
    given = request.headers.get("Authorization", "")
    return bool(token) and hmac.compare_digest(given.encode(), f"Bearer {token}".encode())


def _from_this_machine() -> bool:
    """The client is on loopback. A request that names a client of its own in
    X-Forwarded-For while no proxy is trusted came through a proxy we were not
    told of, on this machine perhaps: it is not taken for loopback."""
    if not current_app.config["TRUSTED_PROXIES"] and "X-Forwarded-For" in request.headers:
        return False
    try:
        return ipaddress.ip_address(request.remote_addr or "").is_loopback
    except ValueError:
        return False


def exposition() -> bytes:
    """Every process's metrics (or this one's, without a multiprocess directory), then what is read now."""
    now = CollectorRegistry()
    now.register(ReadAtScrape())
    if metrics.MULTIPROCESS:
        counted = CollectorRegistry()
        MultiProcessCollector(counted)
        return generate_latest(counted) + generate_latest(now)
    return generate_latest(REGISTRY) + generate_latest(now)


class ReadAtScrape:
    """The queue and the campaigns as they are now. What cannot be read (Redis
    or PostgreSQL down) is left out, and logged; the counts are still served."""

    def collect(self) -> Iterator[Metric]:
        yield from self._queue()
        yield from self._campaigns()

    def _queue(self) -> Iterator[Metric]:
        depth = GaugeMetricFamily("dispatcher_queue_depth", "Jobs waiting in the queue.", labels=["queue"])
        oldest = GaugeMetricFamily(
            "dispatcher_queue_oldest_job_age_seconds",
            "How long the job at the head of the queue has waited (0 when none waits).",
            labels=["queue"],
        )
        try:
            queue = jobqueue.waiting()
        except RedisError as error:
            log.warning("metrics: could not read the queue: %s", error)
            return
        depth.add_metric([queue.name], queue.depth)
        oldest.add_metric([queue.name], queue.oldest_seconds)
        yield depth
        yield oldest

    def _campaigns(self) -> Iterator[Metric]:
        family = GaugeMetricFamily("dispatcher_campaigns", "Campaigns by status.", labels=["status"])
        try:
            db.session.execute(text("SET LOCAL statement_timeout = '2s'"))
            rows = db.session.execute(text("SELECT status, count(*) FROM campaigns GROUP BY status"))
            counts: dict[str, int] = {status: count for status, count in rows}
        except SQLAlchemyError as error:
            log.warning("metrics: could not count campaigns: %s", error)
            return
        finally:
            db.session.rollback()  # ends SET LOCAL with the read
        for status in CampaignStatus:
            family.add_metric([status.value], counts.get(status.value, 0))
        yield family
