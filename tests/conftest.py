"""Fixtures: real PostgreSQL and Redis (embedded unless TEST_DATABASE_URL /
TEST_REDIS_URL are given; tests/parallel.py for pytest-xdist's workers), the
app on them, and a real RQ worker."""

import os
import shutil
import socket
import tempfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import flask_migrate
import pytest
from flask import g, has_app_context
from flask.testing import FlaskClient
from redis import Redis
from redis.exceptions import OutOfMemoryError
from rq import Queue, SimpleWorker
from sqlalchemy import text

from app import create_app
from app.auth.models import Role, User
from app.config import psycopg2_url
from app.extensions import db, redis
from devtools import embedded
from devtools.tables import empty_all
from tests import parallel
from tests.factories import make_user

# Browser fixtures: chromium for pytest-playwright, and the live_stack processes.
pytest_plugins = ["tests.browser"]


@dataclass(frozen=True)
class Services:
    database_url: str
    redis_url: str


def pytest_configure(config: pytest.Config) -> None:
    parallel.check_redis_not_shared(config)


@pytest.fixture(scope="session")
def services():
    """PostgreSQL and Redis for this process: pytest-xdist's workers each start
    their own, or each get a database of their own on TEST_DATABASE_URL's server."""
    database_url = os.environ.get("TEST_DATABASE_URL")
    redis_url = os.environ.get("TEST_REDIS_URL")
    if database_url and parallel.WORKER:
        database_url = parallel.database_of_worker(database_url, parallel.WORKER)
    # Not under pytest's temporary root: every pytest run started as root takes
    # o+x off /tmp/pytest-of-root, and PostgreSQL, run as a user of its own,
    # then crashes at its next checkpoint, failing the rest of a run that had
    # started before (a developer's, while another runs a test).
    workdir = Path(tempfile.mkdtemp(prefix="dispatcher-test-"))
    started = []
    try:
        if not database_url:
            postgres = embedded.start_postgres(workdir / "postgres", fast=True)
            started.append(postgres)
            database_url = embedded.create_database(postgres, "dispatcher_test")
        if not redis_url:
            redis_server = embedded.start_redis(workdir / "redis", fast=True)
            started.append(redis_server)
            redis_url = redis_server.url
        yield Services(database_url, redis_url)
    finally:
        for server in reversed(started):
            server.stop()
        shutil.rmtree(workdir, ignore_errors=True)


def settings_for(services: Services) -> dict:
    """What every test app (and every process a test starts) runs with."""
    return {
        "TESTING": True,
        "SECRET_KEY": "test-secret",
        # Request tests post forms directly; test_start_without_csrf_token_is_refused
        # and the browser test cover the token.
        "WTF_CSRF_ENABLED": False,
        "SQLALCHEMY_DATABASE_URI": psycopg2_url(services.database_url),
        "REDIS_URL": services.redis_url,
        "SSE_REDIS_URL": services.redis_url,
        # The rate limiter is one object for the process, re-pointed by every
        # create_app: a test's app on another Redis must not take it along
        # for every later test.
        "RATELIMIT_STORAGE_URI": services.redis_url,
        # Without Redis the limiter would count in memory, and go back to Redis
        # when its backoff next looks, which may be in a later test, whose
        # count then starts again halfway (a sign-in test got 302 for 429).
        # A test that stops Redis is let through uncounted instead.
        "RATELIMIT_IN_MEMORY_FALLBACK_ENABLED": False,
        "RQ_QUEUE": "test-dispatch",
        "DEFAULT_REGION": "KE",
        "PROVIDER_LATENCY_MIN": 0.0,
        "PROVIDER_LATENCY_MAX": 0.0,
        "PROVIDER_FAILURE_RATE": 0.1,
        "DISPATCH_CONCURRENCY": 8,
        # Transient failures are retried at once; tests of backoff set their own.
        "RETRY_BASE_SECONDS": 0.0,
        "RETRY_CAP_SECONDS": 0.0,
        "SSE_KEEPALIVE_SECONDS": 15.0,
        # Webhook receivers in tests listen on 127.0.0.1; tests/test_webhook_delivery.py turns it off.
        "WEBHOOK_ALLOW_PRIVATE_ADDRESSES": True,
    }


def worker_env(services: Services, **settings) -> dict[str, str]:
    """The environment for a worker or reconciler process a test starts: the
    test's services and settings, with ``settings`` on top."""
    base = settings_for(services)
    values = {
        "DATABASE_URL": services.database_url,
        "REDIS_URL": services.redis_url,
        "SECRET_KEY": "worker-test",
        # Its web process is served over plain http: no HTTPS-only session cookie.
        "APP_ENV": "development",
        **{
            name: base[name]
            for name in (
                "RQ_QUEUE",
                "DEFAULT_REGION",
                "PROVIDER_LATENCY_MIN",
                "PROVIDER_LATENCY_MAX",
                "PROVIDER_FAILURE_RATE",
                "DISPATCH_CONCURRENCY",
                "RETRY_BASE_SECONDS",
                "RETRY_CAP_SECONDS",
                "WEBHOOK_ALLOW_PRIVATE_ADDRESSES",
            )
        },
        **settings,
    }
    return {**os.environ, **{name: str(value) for name, value in values.items()}}


class RequestScopedClient(FlaskClient):
    """A test client whose requests each start with an empty ``flask.g``.

    pytest-flask keeps a context pushed around each test, and Flask reuses an
    active app context for the test client's requests, so ``g`` would carry
    over from one request to the next: Flask-Login caches the signed-in user
    there, Flask-Limiter its state. In production every request has its own.
    """

    def open(self, *args, **kwargs):
        if has_app_context():
            g.__dict__.clear()
        return super().open(*args, **kwargs)


@pytest.fixture(scope="session")
def app(services):
    app = create_app(settings_for(services))
    app.test_client_class = RequestScopedClient
    with app.app_context():
        # The committed migrations build the schema, so they are tested too.
        flask_migrate.upgrade()
    yield app
    # Before its Redis stops: left running, the reader logged a traceback a
    # second against it while this worker waited for the others to finish.
    app.extensions["live-broker"].stop()


@pytest.fixture(autouse=True)
def _clean_state(request):
    """Each test that uses the app starts from empty tables and an empty Redis."""
    yield
    if "app" not in request.fixturenames:
        return
    app = request.getfixturevalue("app")
    if has_app_context():
        # pytest-flask's per-test context owns the session the test and its
        # requests used; an open transaction there would block the TRUNCATE.
        db.session.remove()
    with app.app_context():
        db.session.remove()
        with db.engine.begin() as conn:
            conn.execute(text("SET LOCAL lock_timeout = '10s'"))
            empty_all(conn)
        redis.client.flushdb()


def signed_in(app, user: User) -> FlaskClient:
    """A test client carrying the session Flask-Login gives ``user`` at sign-in.

    Signing in itself is tested through the form (test_auth.py); here it is
    skipped so that every request test does not pay for a password hash.
    """
    client = app.test_client()
    with client.session_transaction() as session:
        session["_user_id"] = user.get_id()
        session["_fresh"] = True
        session.permanent = True  # as the sign-in view makes it
    return client


@pytest.fixture
def config(app, monkeypatch):
    """``config(NAME=value, …)`` changes the test app's settings for this test only."""

    def change(**settings) -> None:
        for name, value in settings.items():
            monkeypatch.setitem(app.config, name, value)

    return change


@pytest.fixture
def client(app) -> FlaskClient:
    """Most tests act as an operator: someone who may create and start campaigns."""
    return signed_in(app, make_user(Role.OPERATOR))


@pytest.fixture
def anonymous(app) -> FlaskClient:
    return app.test_client()


@pytest.fixture
def redis_client(app) -> Redis:
    return app.extensions["redis"]


@pytest.fixture
def run_worker(app):
    """Run queued jobs through a real RQ worker in burst mode, until the queue is empty."""

    def run(max_jobs: int | None = None) -> None:
        connection = app.extensions["redis"]
        queue = Queue(app.config["RQ_QUEUE"], connection=connection)
        with app.app_context():
            SimpleWorker([queue], connection=connection).work(burst=True, max_jobs=max_jobs)

    return run


@pytest.fixture
def closed_port() -> Iterator[int]:
    """A loopback port that refuses connections, for a server that is not
    there. Bound and never listening, held until the test ends: a port only
    found free could meanwhile get a server of another pytest-xdist worker."""
    with socket.socket() as held:
        held.bind((embedded.HOST, 0))
        yield held.getsockname()[1]


@pytest.fixture
def fill_redis(redis_client):
    """``fill_redis()`` makes Redis answer as it does when full under
    ``maxmemory`` with ``noeviction`` (as the README recommends): every write
    refused (OOM), reads and deletes still served. Restored afterwards."""
    before = redis_client.config_get("maxmemory*")

    def fill() -> None:
        redis_client.set("filler", b"x" * 2 * 1024 * 1024)
        redis_client.config_set("maxmemory-policy", "noeviction")
        redis_client.config_set("maxmemory", "1mb")
        with pytest.raises(OutOfMemoryError):
            redis_client.set("probe", "1")

    yield fill
    redis_client.config_set("maxmemory", before["maxmemory"])
    redis_client.config_set("maxmemory-policy", before["maxmemory-policy"])
