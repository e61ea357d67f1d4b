"""Pooled connections: the web's checked before every use; a worker's only
after sitting idle (app.extensions.check_when_idle), so a restart of
PostgreSQL while its pool slept costs nothing, and a busy send loop pays no
check per transaction."""

import time
from collections.abc import Iterator

import pytest
from flask import Flask
from sqlalchemy import create_engine, text
from sqlalchemy.exc import OperationalError

from app import create_app
from app.config import psycopg2_url
from app.extensions import IDLE_BEFORE_CHECK_SECONDS, db
from tests.conftest import settings_for


def one_connection_app(services, **settings) -> Iterator[Flask]:
    """The app with a pool of one connection, so each checkout is the one before."""
    one = {"SQLALCHEMY_ENGINE_OPTIONS": {"pool_size": 1, "max_overflow": 0}}
    app = create_app({**settings_for(services), **one, **settings})
    yield app
    app.extensions["live-broker"].stop()
    with app.app_context():
        db.engine.dispose()


@pytest.fixture
def worker_app(services):
    yield from one_connection_app(services, PROCESS_NAME="worker", CHECK_CONNECTIONS_WHEN_IDLE=True)


@pytest.fixture
def web_app(services):
    yield from one_connection_app(services, PROCESS_NAME="web")


def backend_pid() -> int:
    pid = db.session.execute(text("SELECT pg_backend_pid()")).scalar_one()
    db.session.commit()  # back to the pool
    return pid


def terminate(services, pid: int) -> None:
    """End a backend from outside the app's pool, as a PostgreSQL restart would."""
    engine = create_engine(psycopg2_url(services.database_url))
    with engine.begin() as conn:
        assert conn.execute(text("SELECT pg_terminate_backend(:pid)"), {"pid": pid}).scalar_one()
    engine.dispose()


def test_a_worker_connection_idle_a_while_is_checked_and_replaced_when_its_backend_is_gone(worker_app, services):
    with worker_app.app_context():
        pid = backend_pid()
        terminate(services, pid)
        time.sleep(IDLE_BEFORE_CHECK_SECONDS + 0.2)
        # No error: the check found the connection dead, and the pool gave another.
        assert backend_pid() != pid


def test_a_worker_connection_returned_a_moment_ago_is_used_unchecked(worker_app, services):
    with worker_app.app_context():
        pid = backend_pid()
        terminate(services, pid)
        # Checked, it would have been replaced; unchecked, its statement fails,
        # as the send loop expects (jobs.send.through_outages) ...
        with pytest.raises(OperationalError):
            backend_pid()
        db.session.rollback()
        # ... and the pool replaces it for the next.
        assert backend_pid() != pid


def test_a_web_connection_is_checked_at_every_use(web_app, services):
    with web_app.app_context():
        pid = backend_pid()
        terminate(services, pid)
        assert backend_pid() != pid
