"""GET /api/v1/health: public, as [001] and [003] call it."""

from enum import StrEnum

from flask import Response
from pydantic import BaseModel

from app import health
from app.api.shapes import json_response
from app.api.spec import endpoint
from app.auth.access import public


class HealthStatus(StrEnum):
    HEALTHY = "healthy"
    UNHEALTHY = "unhealthy"


class CheckOut(BaseModel):
    status: HealthStatus


class ChecksOut(BaseModel):
    database: CheckOut
    queue: CheckOut


class HealthOut(BaseModel):
    status: HealthStatus
    checks: ChecksOut


@public
@endpoint({200: HealthOut, 503: HealthOut}, public=True, tags=["health"])
def show() -> Response:
    """Check health

    Whether the database and the queue (Redis) answer: 200, or 503 naming the one that does
    not. Public: no token needed."""
    found = health.check()
    checks = {name: {"status": "healthy" if ok else "unhealthy"} for name, ok in found.items()}
    healthy = all(found.values())
    return json_response({"status": "healthy" if healthy else "unhealthy", "checks": checks}, 200 if healthy else 503)
