"""The API's conventions (contract B.1): health, the document, problems for
every error, headers, tokens and roles."""

import pytest

from app.auth.models import Role
from tests.api import api_client, assert_problem
from tests.conftest import signed_in
from tests.factories import make_user


def test_health_is_public_in_the_seeds_shape_and_503_naming_what_does_not_run(anonymous):
    """No worker, reconciler or scheduler runs here; with them, it is 200 and all
    healthy (tests/test_readiness.py)."""
    response = anonymous.get("/api/v1/health")
    assert response.status_code == 503
    assert response.mimetype == "application/json"
    assert response.get_json() == {
        "status": "unhealthy",
        "checks": {
            "database": {"status": "healthy"},
            "queue": {"status": "healthy"},
            "workers": {"status": "unhealthy", "detail": "no worker has reported in the last 60 s"},
            "periodic": {"status": "unhealthy", "detail": "no reconciler has reported; no scheduler has reported"},
            "migrations": {"status": "healthy"},
        },
    }
    assert response.headers["Cache-Control"] == "no-store"
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in response.headers


def test_the_openapi_document_is_3_1_and_lists_health(app):
    document = api_client(app, Role.VIEWER).get("/api/v1/openapi.json").get_json()
    assert document["openapi"].startswith("3.1")
    assert "/api/v1/health" in document["paths"]
    assert document["paths"]["/api/v1/health"]["get"]["security"] == []
    assert document["components"]["securitySchemes"]["bearer"] == {"type": "http", "scheme": "bearer"}


def test_the_openapi_document_is_for_token_holders_and_signed_in_staff(app, anonymous):
    """Only /health is public (contract B.1). The reference page reads its own
    copy with the session, which the API itself never accepts."""
    response = anonymous.get("/api/v1/openapi.json")
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")
    staff = signed_in(app, make_user(Role.VIEWER, email="reader@example.com"))
    assert_problem(staff.get("/api/v1/openapi.json"), 401)
    for_staff = staff.get("/account/api-reference/openapi.json")
    assert for_staff.status_code == 200 and for_staff.mimetype == "application/json"
    assert for_staff.get_json() == api_client(app, Role.VIEWER).get("/api/v1/openapi.json").get_json()
    assert anonymous.get("/account/api-reference/openapi.json").status_code in (302, 401)
    assert 'data-spec-url="/account/api-reference/openapi.json"' in staff.get("/account/api-reference").get_data(
        as_text=True
    )


def test_an_unknown_path_under_the_api_is_a_404_problem(anonymous):
    assert_problem(anonymous.get("/api/v1/nothing-here"), 404, "not-found")
    assert_problem(anonymous.get("/api/v2/campaigns"), 404, "not-found")


def test_a_wrong_method_is_a_405_problem(anonymous):
    response = anonymous.delete("/api/v1/health")
    assert_problem(response, 405)
    assert "GET" in response.headers["Allow"]


@pytest.mark.parametrize("role", list(Role))
def test_every_role_may_read_health_with_a_token_too(app, role):
    api = api_client(app, role)
    # 503 only because no worker runs here.
    assert api.get("/api/v1/health").get_json()["checks"]["database"] == {"status": "healthy"}


def test_every_api_endpoint_declares_a_role_or_public(app):
    from app.auth.access import required_role

    with app.app_context():
        api = [rule.endpoint for rule in app.url_map.iter_rules() if rule.endpoint.startswith("api.")]
        assert api and all(required_role(endpoint) is not None for endpoint in api)


def test_the_api_is_exempt_from_csrf_and_ignores_the_session_cookie(app, client, anonymous):
    # ``client`` is signed in with a session cookie; the API does not care.
    response = client.post("/api/v1/health")
    assert_problem(response, 405)
    assert "Set-Cookie" not in response.headers
