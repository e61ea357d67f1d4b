"""Schemathesis, driven by /api/v1/openapi.json, against the app on real
PostgreSQL and Redis: every operation in the document (the action endpoints
too, once they are in it) gets generated requests, valid and not, and must
never answer 5xx or outside the document.

Driven by hand with hypothesis rather than through schemathesis' pytest
plugin, which does not run under pytest 9 (``Function._nodeid``).
"""

import schemathesis
from hypothesis import HealthCheck, given, settings
from schemathesis.checks import not_a_server_error
from schemathesis.specs.openapi.checks import positive_data_acceptance

from app.auth.models import Role
from tests.api import make_token
from tests.factories import make_user

# Schema-valid is not always valid: a phone must be a real number, a template's
# placeholders known, scheduled_at in the future. Those are 400s by design.
# Per operation: with the twenty operations, the whole test stays within about 40 s.
EXAMPLES = 15


def excluded_checks(path: str) -> list:
    if path.endswith("/health"):
        # Its 503 is documented, and here no worker or periodic process runs.
        return [positive_data_acceptance, not_a_server_error]
    return [positive_data_acceptance]


def test_every_operation_conforms_to_the_document(app, config):
    # Generous, so that generated requests test the document, not the limit.
    config(API_RATE_LIMIT="100000 per minute", API_SEND_RATE_LIMIT="100000 per minute")
    headers = {"Authorization": f"Bearer {make_token(make_user(Role.ADMIN, email='schema@example.com'))}"}
    schema = schemathesis.openapi.from_wsgi("/api/v1/openapi.json", app, headers=headers)
    operations = [result.ok() for result in schema.get_all_operations()]
    assert len(operations) >= 6
    for operation in operations:

        @given(case=operation.as_strategy())
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            suppress_health_check=list(HealthCheck),
        )
        def conforms(case) -> None:
            case.call_and_validate(headers=headers, excluded_checks=excluded_checks(case.operation.path))

        conforms()
