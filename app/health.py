"""``/healthz`` and ``/readyz``, the endpoints load balancers and scripts may
call without signing in.

``/healthz`` is liveness: the process answers, and it touches nothing else,
so a PostgreSQL or Redis outage never gets a web process restarted.
``/readyz`` is readiness: PostgreSQL and Redis answer, a worker and each
periodic process reported in time (``app.heartbeats``), and the database's
migrations are the code's. ``check`` is shared with the API's ``/api/v1/health``.
"""

import functools
import json
import time

from alembic.script import ScriptDirectory
from flask import Flask, Response, current_app
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app import heartbeats
from app.auth.access import public
from app.extensions import db, redis

NO_POSTGRES = "PostgreSQL does not answer"
NO_REDIS = "Redis does not answer"


def init_app(app: Flask) -> None:
    app.add_url_rule("/healthz", "health", healthz)
    app.add_url_rule("/readyz", "ready", readyz)


@public
def healthz() -> Response:
    """200 while the process answers. Reveals nothing else."""
    return Response("ok\n", 200, mimetype="text/plain")


@public
def readyz() -> Response:
    """200 ``{"status": "ready"}``, or 503 with what is missing, part by part."""
    missing = {part: problem for part, problem in check().items() if problem is not None}
    if missing:
        body, status = {"status": "not ready", "missing": missing}, 503
    else:
        body, status = {"status": "ready"}, 200
    answer = Response(json.dumps(body), status, mimetype="application/json")
    answer.headers["Cache-Control"] = "no-store"
    return answer


def check() -> dict[str, str | None]:
    """What is wrong with each part the service needs, or None where nothing
    is: ``database`` (PostgreSQL), ``redis``, ``workers``, each periodic
    process by name, and ``migrations``."""
    try:
        applied = _applied_migrations()
        database = None
    except SQLAlchemyError:
        applied, database = set(), NO_POSTGRES
    finally:
        db.session.remove()
    return {"database": database, **_processes(), "migrations": _migrations(applied, database)}


def _processes() -> dict[str, str | None]:
    """Redis, and the processes whose heartbeats it holds."""
    config = current_app.config
    stale = config["WORKER_STALE_SECONDS"]
    client = redis.client
    try:
        workers = heartbeats.workers_alive(client, config["RQ_QUEUE"], stale)
        alive = heartbeats.periodic_processes_alive(client)
        passes = heartbeats.periodic_passes(client)
    except RedisError:
        unknown = f"not known: {NO_REDIS}"
        return {"redis": NO_REDIS, "workers": unknown, **dict.fromkeys(heartbeats.PERIODIC_PROCESSES, unknown)}
    found: dict[str, str | None] = {
        "redis": None,
        "workers": None if workers else f"no worker has reported in the last {stale:g} s",
    }
    for process in heartbeats.PERIODIC_PROCESSES:
        found[process] = None if process in alive else _silent(process, passes)
    return found


def _silent(process: str, passes: dict[str, heartbeats.Pass]) -> str:
    """Why a periodic process counts as missing, with how long ago its last task ran if one did."""
    last = max((each.at for each in passes.values() if each.process == process), default=None)
    if last is None:
        return f"no {process} has reported"
    return f"no {process} has reported in time (its last task ran {max(time.time() - last, 0):.0f} s ago)"


def _applied_migrations() -> set[str]:
    """The revisions the database is at: none before its first migration."""
    if not db.session.scalar(text("SELECT to_regclass('alembic_version') IS NOT NULL")):
        return set()
    return set(db.session.scalars(text("SELECT version_num FROM alembic_version")))


@functools.cache
def _code_heads(directory: str) -> frozenset[str]:
    """The head revisions of the migrations in ``directory``; read once, as they
    do not change while the process runs."""
    return frozenset(ScriptDirectory(directory).get_heads())


def _migrations(applied: set[str], database: str | None) -> str | None:
    if database is not None:
        return f"not known: {database}"
    code = _code_heads(current_app.extensions["migrate"].directory)
    if applied == code:
        return None
    return f"database at {', '.join(sorted(applied)) or 'none'}, code at {', '.join(sorted(code))}"
