"""Every API error is ``application/problem+json`` (RFC 9457), never a page.

A view raises ``Problem``; HTTP errors Flask or Werkzeug raise (404, 405, 413)
and unexpected exceptions become one here too, so a client only ever parses
one error shape.
"""

from __future__ import annotations

import json
import logging
from typing import Any

from flask import Response, request
from werkzeug.exceptions import HTTPException

PREFIX = "/api/"
TYPE_BASE = "https://campaign-dispatcher.example/problems/"
MIMETYPE = "application/problem+json"

# The contract's slugs. It names none for 405: a wrong method is an invalid request.
SLUGS = {
    400: "invalid-request",
    401: "unauthorized",
    403: "forbidden",
    404: "not-found",
    405: "invalid-request",
    409: "conflict",
    413: "payload-too-large",
    415: "unsupported-media-type",
    422: "idempotency-key-reused",
    429: "rate-limited",
    503: "unavailable",
}
TITLES = {
    400: "Invalid request",
    401: "Unauthorized",
    403: "Forbidden",
    404: "Not found",
    405: "Method not allowed",
    409: "Conflict",
    413: "Payload too large",
    415: "Unsupported media type",
    422: "Idempotency key reused",
    429: "Too many requests",
    500: "Internal error",
    503: "Unavailable",
}
GENERIC_DETAIL = "Something went wrong on our side. It has been logged; try again later."

log = logging.getLogger(__name__)


class Problem(Exception):
    """An error answer: ``raise Problem(404, "There is no campaign 7.")``.

    ``errors`` items are ``{"field": "customer_ids[2]", "message": …}`` or
    ``{"line": 4, "message": …}``.
    """

    def __init__(
        self,
        status: int,
        detail: str,
        *,
        errors: list[dict[str, Any]] | None = None,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__(detail)
        self.status, self.detail, self.errors, self.headers = status, detail, errors, headers or {}


def invalid(field: str, message: str, detail: str | None = None) -> Problem:
    """A 400 naming the one field at fault."""
    return Problem(400, detail or message, errors=[{"field": field, "message": message}])


def response(problem: Problem) -> Response:
    body: dict[str, Any] = {
        "type": TYPE_BASE + SLUGS.get(problem.status, "internal-error"),
        "title": TITLES.get(problem.status, "Error"),
        "status": problem.status,
        "detail": problem.detail,
    }
    if problem.errors:
        body["errors"] = problem.errors
    answer = Response(json.dumps(body, ensure_ascii=False), problem.status, mimetype=MIMETYPE)
    answer.headers.update(problem.headers)
    answer.headers["Cache-Control"] = "no-store"
    return answer


def is_api_request() -> bool:
    return request.path == PREFIX.rstrip("/") or request.path.startswith(PREFIX)


def from_http_error(error: HTTPException) -> Response:
    status = error.code or 500
    if status >= 500:
        original = getattr(error, "original_exception", None)
        if original is not None:
            log.error("API request %s %s failed", request.method, request.path, exc_info=original)
        return response(Problem(500 if status == 500 else status, GENERIC_DETAIL))
    headers = {}
    if status == 405 and error.valid_methods:  # type: ignore[attr-defined]
        headers["Allow"] = ", ".join(error.valid_methods)  # type: ignore[attr-defined]
    detail = {
        404: "There is nothing at this address. The API's paths are in /api/v1/openapi.json.",
        405: f"{request.method} is not allowed here.",
        413: "The request body is over the size limit.",
    }.get(status, error.description or error.name)
    return response(Problem(status, detail, headers=headers))


def from_exception(error: Exception) -> Response:
    """An unexpected error: logged with its traceback, answered without it."""
    log.error("API request %s %s failed", request.method, request.path, exc_info=error)
    return response(Problem(500, GENERIC_DETAIL))
