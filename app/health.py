"""``/healthz``: the one endpoint load balancers and scripts may call without signing in."""

from flask import Flask, Response
from redis.exceptions import RedisError
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from app.auth.access import public
from app.extensions import db, redis


def init_app(app: Flask) -> None:
    app.add_url_rule("/healthz", "health", healthz)


@public
def healthz() -> Response:
    """200 when PostgreSQL and Redis answer; 503 naming what does not. Reveals nothing else."""
    problems = []
    try:
        db.session.execute(text("SELECT 1"))
    except SQLAlchemyError:
        problems.append("database unreachable")
    finally:
        db.session.remove()
    try:
        redis.client.ping()
    except RedisError:
        problems.append("redis unreachable")
    if problems:
        return Response(", ".join(problems) + "\n", 503, mimetype="text/plain")
    return Response("ok\n", 200, mimetype="text/plain")
