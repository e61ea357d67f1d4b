"""Every API endpoint, one line each: the API's surface at a glance.

An endpoint is a function in a module named for its resource
(``app/api/campaigns.py``…), wearing ``@requires(Role…)`` or ``@public`` and
``@endpoint(...)`` (``app/api/spec.py``); it is listed here. Path ids are
``ID`` rules: 1..2^63-1, anything else is 404 before the view runs.

Each endpoint's name, verb first, is its operationId in the document
(``list_campaigns`` is ``listCampaigns``): clients generated from the document
name their functions after it, so a name, once published, stays.
"""

from collections.abc import Callable
from typing import Any

from flask import Blueprint, Flask
from werkzeug.wrappers import Response

from app.api import (
    auth,
    campaigns,
    controls,
    customers,
    docs,
    exports,
    health,
    idempotency,
    limits,
    problems,
    recipients,
    sending,
)
from app.extensions import csrf, db

ID = "int(min=1, max=9223372036854775807)"

bp = Blueprint("api", __name__, url_prefix="/api/v1")

bp.add_url_rule("/health", "get_health", health.show, methods=["GET"])
bp.add_url_rule("/openapi.json", "openapi", docs.openapi, methods=["GET"])

bp.add_url_rule("/customers", "create_customer", customers.create, methods=["POST"])
bp.add_url_rule("/customers", "list_customers", customers.index, methods=["GET"])
bp.add_url_rule("/customers.csv", "export_customers", exports.customers, methods=["GET"])
bp.add_url_rule(f"/customers/<{ID}:customer_id>", "get_customer", customers.show, methods=["GET"])

bp.add_url_rule("/campaigns", "create_campaign", campaigns.create, methods=["POST"])
bp.add_url_rule("/campaigns", "list_campaigns", campaigns.index, methods=["GET"])
bp.add_url_rule(f"/campaigns/<{ID}:campaign_id>", "get_campaign", campaigns.show, methods=["GET"])

CAMPAIGN = f"/campaigns/<{ID}:campaign_id>"
bp.add_url_rule(f"{CAMPAIGN}/events", "list_campaign_events", campaigns.events, methods=["GET"])
bp.add_url_rule(f"{CAMPAIGN}/send", "send_campaign", sending.send, methods=["POST"])
bp.add_url_rule(f"{CAMPAIGN}/start", "start_campaign", sending.start, methods=["POST"])
bp.add_url_rule(f"{CAMPAIGN}/personalized-preview", "preview_campaign", sending.preview, methods=["POST"])

bp.add_url_rule(f"{CAMPAIGN}/recipients", "add_recipients", recipients.add, methods=["POST"])
bp.add_url_rule(f"{CAMPAIGN}/recipients", "list_recipients", recipients.index, methods=["GET"])
bp.add_url_rule(f"{CAMPAIGN}/recipients.csv", "export_recipients", exports.recipients, methods=["GET"])
bp.add_url_rule(f"{CAMPAIGN}/recipients/<{ID}:recipient_id>", "get_recipient", recipients.show, methods=["GET"])

bp.add_url_rule(f"{CAMPAIGN}/pause", "pause_campaign", controls.pause, methods=["POST"])
bp.add_url_rule(f"{CAMPAIGN}/resume", "resume_campaign", controls.resume, methods=["POST"])
bp.add_url_rule(f"{CAMPAIGN}/cancel", "cancel_campaign", controls.cancel, methods=["POST"])
bp.add_url_rule(f"{CAMPAIGN}/retry-failed", "retry_failed", controls.retry_failed, methods=["POST"])


@bp.before_request
def _before() -> Response | None:
    # In this order: who (401/403), how often (429), then a replay or a claim of the Idempotency-Key.
    auth.authenticate()
    limits.check_request()
    return idempotency.claim()


@bp.after_request
def _after(response: Response) -> Response:
    response = idempotency.finish(response)
    response = limits.add_headers(response)
    response.headers["Cache-Control"] = "no-store"
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response


def _undone(answer: Callable[[Any], Response]) -> Callable[[Any], Response]:
    """An error answer keeps nothing the view had not committed (a draft
    created before its schedule was refused, say)."""

    def handle(error: Any) -> Response:
        db.session.rollback()
        return answer(error)

    return handle


bp.register_error_handler(problems.Problem, _undone(problems.response))
bp.register_error_handler(problems.HTTPException, _undone(problems.from_http_error))
bp.register_error_handler(Exception, _undone(problems.from_exception))


def init_app(app: Flask) -> None:
    # Bearer tokens, not cookies, so there is no cross-site request to forge.
    csrf.exempt(bp)
    app.register_blueprint(bp)
