"""What each pytest-xdist worker has of its own (``make test`` runs the suite
in several worker processes). Embedded servers are started by each process,
so each worker has its own; servers given in TEST_DATABASE_URL or
TEST_REDIS_URL are shared, and every test empties every table and its Redis
database when it ends."""

import contextlib
import os
from urllib.parse import urlsplit, urlunsplit

import psycopg2
import pytest
from psycopg2 import errors, sql

# gw0, gw1, … in a worker process; None in a run without workers.
WORKER = os.environ.get("PYTEST_XDIST_WORKER")

SHARED_REDIS = (
    "TEST_REDIS_URL names one Redis server, and the tests' workers cannot share one: a database number "
    "each would part their keys, but not what belongs to the server (pub/sub channels, which carry live "
    "updates; CONFIG, which the Redis-full tests change; CLIENT LIST). Leave TEST_REDIS_URL unset, so that "
    "each worker starts a Redis of its own, or run one worker (-n 0, or PYTEST_WORKERS=0 make test)."
)


def check_redis_not_shared(config: pytest.Config) -> None:
    """Refuse a run whose workers would share the Redis server in TEST_REDIS_URL."""
    workers = config.getoption("numprocesses", default=None) or 0
    if os.environ.get("TEST_REDIS_URL") and workers > 1:
        raise pytest.UsageError(SHARED_REDIS)


def database_of_worker(url: str, worker: str) -> str:
    """A database of ``worker``'s own on ``url``'s server, named after
    ``url``'s with the worker's name added (dispatcher_test_gw0), created
    unless it exists; its URL."""
    parts = urlsplit(url)
    name = f"{parts.path.lstrip('/')}_{worker}"
    with contextlib.closing(psycopg2.connect(url)) as conn:
        conn.autocommit = True  # CREATE DATABASE cannot run inside a transaction
        with contextlib.suppress(errors.DuplicateDatabase), conn.cursor() as cur:
            cur.execute(sql.SQL("CREATE DATABASE {}").format(sql.Identifier(name)))
    return urlunsplit(parts._replace(path=f"/{name}"))
