"""``/healthz``: the one endpoint load balancers and scripts may call without
signing in; ``check`` is shared with the API's ``/api/v1/health``."""

from flask import Flask, Response
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.auth.access import public
from app.extensions import db, redis


def init_app(app: Flask) -> None:
    app.add_url_rule("/healthz", "health", healthz)


def check() -> dict[str, bool]:
    """Whether PostgreSQL (``database``) and Redis (``queue``) answer."""
    found = {"database": True, "queue": True}
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        found["database"] = False
    finally:
        db.session.remove()
    try:
        redis.client.ping()
    except RedisError:
        found["queue"] = False
    return found


@public
def healthz() -> Response:
    """200 when PostgreSQL and Redis answer; 503 naming what does not. Reveals nothing else."""
    found = check()
    names = {"database": "database unreachable", "queue": "redis unreachable"}
    problems = [names[name] for name, ok in found.items() if not ok]
    if problems:
        return Response(", ".join(problems) + "\n", 503, mimetype="text/plain")
    return Response("ok\n", 200, mimetype="text/plain")
