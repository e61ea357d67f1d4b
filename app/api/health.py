"""GET /api/v1/health: public, as [001] and [003] call it, in their shape,
with the readiness checks of ``/readyz`` (``app.health``) beside theirs."""

from enum import StrEnum

from flask import Response
from pydantic import BaseModel, Field

from app import health
from app.api.shapes import json_response
from app.api.spec import endpoint
from app.auth.access import public
from app.heartbeats import PERIODIC_PROCESSES


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class CheckOut(BaseModel):
    status: HealthStatus
    detail: str | None = Field(None, description="What is wrong; only when unhealthy.")


class ChecksOut(BaseModel):
    database: CheckOut = Field(description="PostgreSQL answers.")
    queue: CheckOut = Field(description="Redis answers.")
    workers: CheckOut = Field(description="At least one worker reported within WORKER_STALE_SECONDS.")
    periodic: CheckOut = Field(description="The reconciler and the scheduler each reported lately.")
    migrations: CheckOut = Field(description="The database's migrations are the code's.")


class HealthOut(BaseModel):
    status: HealthStatus
    checks: ChecksOut


def _check(*problems: str | None) -> dict[str, str]:
    found = "; ".join(problem for problem in problems if problem is not None)
    return {"status": "unhealthy", "detail": found} if found else {"status": "healthy"}


@public
@endpoint({200: HealthOut, 503: HealthOut}, public=True, tags=["health"])
def show() -> Response:
    """Check health

    Whether the service can do its work: the database and the queue (Redis) answer, a worker
    and the periodic processes (reconciler, scheduler) reported lately, and the database's
    migrations are the code's. 200, or 503 with each failing check unhealthy and its detail.
    Public: no token needed."""
    found = health.check()
    checks = {
        "database": _check(found["database"]),
        "queue": _check(found["redis"]),
        "workers": _check(found["workers"]),
        "periodic": _check(*(found[process] for process in PERIODIC_PROCESSES)),
        "migrations": _check(found["migrations"]),
    }
    healthy = all(check["status"] == "healthy" for check in checks.values())
    return json_response({"status": "healthy" if healthy else "unhealthy", "checks": checks}, 200 if healthy else 503)
