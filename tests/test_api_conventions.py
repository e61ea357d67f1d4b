"""Contract B.1 across endpoints: tokens, bad input, idempotency, rate limits."""

import json
from datetime import timedelta
from types import SimpleNamespace

import pytest
from flask import g
from pydantic import ValidationError
from sqlalchemy import update

from app.api import body, limits
from app.api.problems import Problem
from app.auth.models import Role
from app.extensions import db
from app.tokens import models as tokens
from app.tokens.models import ApiToken
from tests.api import api_client, assert_problem, make_token
from tests.factories import make_user
from tests.helpers import reconciler_pass

CUSTOMER = {"phone": "+254712345678", "first_name": "Alice"}
CAMPAIGN = {"name": "Test Campaign", "channel": "sms", "base_template": "Hi {first_name}!"}


# ---- tokens ----


@pytest.mark.parametrize(
    "authorization", [None, "", "Bearer", "Bearer ", "Basic dXNlcjpwYXNz", "Bearer cdt_unknown", "Token abc"]
)
def test_missing_malformed_or_unknown_tokens_are_401_with_a_bearer_challenge(app, anonymous, authorization):
    headers = {"Authorization": authorization} if authorization is not None else {}
    response = anonymous.get("/api/v1/campaigns", headers=headers)
    assert_problem(response, 401, "unauthorized")
    assert response.headers["WWW-Authenticate"].startswith("Bearer")


def test_the_session_cookie_and_a_query_parameter_do_not_count(app, client):
    assert_problem(client.get("/api/v1/campaigns"), 401)
    secret = make_token(make_user(Role.VIEWER, email="v@example.com"))
    assert_problem(client.get(f"/api/v1/campaigns?access_token={secret}"), 401)


def test_a_revoked_token_or_a_deactivated_person_is_401(app):
    api = api_client(app)
    assert api.get("/api/v1/campaigns").status_code == 200
    api.user.active = False
    db.session.commit()
    assert_problem(api.get("/api/v1/campaigns"), 401)
    api.user.active = True
    db.session.commit()
    tokens.revoke(tokens.active_of(api.user.id), actor=None)
    db.session.commit()
    assert_problem(api.get("/api/v1/campaigns"), 401)


def test_a_token_acts_with_its_persons_current_role(app):
    api = api_client(app, Role.OPERATOR)
    assert api.post("/api/v1/campaigns", json=CAMPAIGN).status_code == 201
    api.user.role = Role.VIEWER.value
    db.session.commit()
    assert_problem(api.post("/api/v1/campaigns", json=CAMPAIGN), 403, "forbidden")


def test_last_used_is_kept_but_written_at_most_once_a_minute(app):
    api = api_client(app, Role.VIEWER)
    api.get("/api/v1/campaigns")
    token = db.session.scalar(db.select(ApiToken))
    first = token.last_used_at
    assert first is not None
    api.get("/api/v1/campaigns")
    db.session.refresh(token)
    assert token.last_used_at == first
    db.session.execute(update(ApiToken).values(last_used_at=first - timedelta(minutes=2)))
    db.session.commit()
    api.get("/api/v1/campaigns")
    db.session.refresh(token)
    assert token.last_used_at > first - timedelta(minutes=2)


# ---- bad input ----


def _raw(api, data: bytes | str, content_type: str = "application/json"):
    return api.post("/api/v1/customers", data=data, headers={"Content-Type": content_type})


@pytest.mark.parametrize(
    "data",
    [
        "{",
        "[]",
        '"text"',
        '{"phone": NaN}',
        '{"phone": "1", "phone": "2"}',
        b'{"first_name": "\xff"}',
        '{"phone": "+254712345678", "first_name": "A\\u0000"}',
        '{"phone": "+254712345678", "first_name": "\\ud800"}',
        '{"phone": "+254712345678", "nickname": "Al"}',
        '{"phone": 254712345678}',
        '{"phone": "+254712345678", "first_name": true}',
        '{"phone": "+254712345678", "attributes": {"a": {"b": {}}}}',
        '{"phone": "+254712345678", "attributes": ' + "[" * 100 + "]" * 100 + "}",
        '{"phone": "+254712345678", "attributes": ' + "[" * 5000 + "]" * 5000 + "}",
    ],
)
def test_bad_bodies_are_400_problems(app, data):
    assert_problem(_raw(api_client(app), data), 400, "invalid-request")


def test_a_body_that_is_not_json_is_415(app):
    api = api_client(app)
    assert_problem(_raw(api, "phone=1", "application/x-www-form-urlencoded"), 415, "unsupported-media-type")
    assert_problem(_raw(api, json.dumps(CUSTOMER), "text/plain"), 415)


def test_a_body_over_the_limit_is_413(app, config):
    config(MAX_CONTENT_LENGTH=1000)
    assert_problem(_raw(api_client(app), json.dumps({**CUSTOMER, "last_name": "x" * 2000})), 413, "payload-too-large")


def test_an_empty_body_where_one_is_needed_is_400(app):
    assert_problem(api_client(app).post("/api/v1/campaigns"), 400)


class Ids(body.StrictModel):
    customer_ids: list[body.Id]


@pytest.mark.parametrize("value", [0, -1, 2**63, True, 1.0, 1.5, "1", None])
def test_ids_are_json_integers_in_range(value):
    with pytest.raises(ValidationError) as refused:
        Ids.model_validate({"customer_ids": [1, 2, value]})
    problem = body.validation_problem(refused.value)
    assert problem.status == 400 and problem.errors[0]["field"] == "customer_ids[2]"
    assert Ids.model_validate({"customer_ids": [1, 2**63 - 1]}).customer_ids == [1, 2**63 - 1]


def test_a_server_error_is_a_generic_problem(app, monkeypatch):
    from app.api import shapes

    def broken(row):
        raise RuntimeError("secret detail")

    monkeypatch.setattr(shapes, "customer", broken)
    api = api_client(app)
    response = api.post("/api/v1/customers", json=CUSTOMER)
    problem = assert_problem(response, 500, "internal-error")
    assert "secret" not in response.get_data(as_text=True)
    assert problem["detail"]


# ---- Idempotency-Key ----


def test_a_repeated_key_replays_the_first_answer_and_creates_nothing_more(app):
    api = api_client(app)
    key = {"Idempotency-Key": "order-42"}
    first = api.post("/api/v1/campaigns", json=CAMPAIGN, headers=key)
    again = api.post("/api/v1/campaigns", json=CAMPAIGN, headers=key)
    assert first.status_code == again.status_code == 201
    assert again.get_json() == first.get_json()
    assert again.headers["Location"] == first.headers["Location"]
    assert again.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.headers
    assert api.get("/api/v1/campaigns").get_json()["pagination"]["total_count"] == 1


def test_the_same_key_for_another_request_is_422(app):
    api = api_client(app)
    key = {"Idempotency-Key": "k1"}
    api.post("/api/v1/campaigns", json=CAMPAIGN, headers=key)
    assert_problem(api.post("/api/v1/campaigns", json={**CAMPAIGN, "name": "Other"}, headers=key), 422)
    assert_problem(api.post("/api/v1/customers", json=CUSTOMER, headers=key), 422, "idempotency-key-reused")


def test_keys_are_per_person(app):
    one, two = api_client(app), api_client(app, email="other@example.com")
    key = {"Idempotency-Key": "same"}
    assert one.post("/api/v1/campaigns", json=CAMPAIGN, headers=key).status_code == 201
    second = two.post("/api/v1/campaigns", json=CAMPAIGN, headers=key)
    assert second.status_code == 201 and "Idempotent-Replayed" not in second.headers


def test_a_failed_request_does_not_use_up_its_key(app):
    api = api_client(app)
    key = {"Idempotency-Key": "retry-me"}
    assert_problem(api.post("/api/v1/customers", json={"phone": "12"}, headers=key), 400)
    assert_problem(api.post("/api/v1/customers", json={"phone": "12"}, headers=key), 400)
    assert api.post("/api/v1/customers", json={"phone": "12"} | CUSTOMER, headers=key).status_code == 201


def test_a_key_still_running_is_409(app):
    api = api_client(app)
    db.session.execute(
        db.text("INSERT INTO api_idempotency_keys (user_id, key, fingerprint) VALUES (:u, 'busy', :f)"),
        {"u": api.user.id, "f": _fingerprint("POST", "/api/v1/campaigns", json.dumps(CAMPAIGN).encode())},
    )
    db.session.commit()
    response = api.post(
        "/api/v1/campaigns",
        data=json.dumps(CAMPAIGN),
        headers={"Idempotency-Key": "busy", "Content-Type": "application/json"},
    )
    assert_problem(response, 409, "conflict")


def test_keys_older_than_a_day_are_removed_by_the_reconciler_whoever_used_them(app):
    api, quiet = api_client(app), api_client(app, email="quiet@example.com")
    assert quiet.post("/api/v1/campaigns", json=CAMPAIGN, headers={"Idempotency-Key": "old"}).status_code == 201
    assert api.post("/api/v1/campaigns", json=CAMPAIGN, headers={"Idempotency-Key": "new"}).status_code == 201
    db.session.execute(
        db.text("UPDATE api_idempotency_keys SET created_at = now() - interval '25 hours' WHERE key = 'old'")
    )
    db.session.commit()
    assert reconciler_pass(app)["idempotency-keys"] == 1
    assert db.session.scalars(db.text("SELECT key FROM api_idempotency_keys")).all() == ["new"]


def _fingerprint(method: str, path: str, raw: bytes) -> str:
    import hashlib

    return hashlib.sha256(f"{method} {path} {hashlib.sha256(raw).hexdigest()}".encode()).hexdigest()


@pytest.mark.parametrize("key", ["", "x" * 256, "with space", "naïve"])
def test_a_malformed_key_is_400(app, key):
    api = api_client(app)
    response = api.client.post(
        "/api/v1/campaigns",
        json=CAMPAIGN,
        headers={"Authorization": f"Bearer {api.token}", "Idempotency-Key": key.encode("utf-8").decode("latin-1")},
    )
    assert_problem(response, 400)


# ---- rate limits ----


def test_over_the_request_limit_is_429_with_retry_after(app, config):
    config(API_RATE_LIMIT="3 per minute")
    api = api_client(app, Role.VIEWER)
    answers = [api.get("/api/v1/campaigns") for _ in range(4)]
    assert [a.status_code for a in answers[:3]] == [200, 200, 200]
    assert [a.headers["X-RateLimit-Remaining"] for a in answers[:3]] == ["2", "1", "0"]
    assert answers[0].headers["X-RateLimit-Limit"] == "3"
    assert 1 <= int(answers[0].headers["X-RateLimit-Reset"]) <= 60
    limited = assert_problem(answers[3], 429, "rate-limited")
    assert 1 <= int(answers[3].headers["Retry-After"]) <= 60
    assert limited["detail"]
    # Per token: another person's token is not limited.
    assert api_client(app, Role.VIEWER, email="else@example.com").get("/api/v1/campaigns").status_code == 200


def test_only_accepted_sends_count_against_the_send_limit(app, config):
    config(API_SEND_RATE_LIMIT="2 per minute")
    outcomes = iter([409, 202, 202, 202])

    @limits.counts_as_send
    def send():
        status = next(outcomes)
        if status != 202:
            raise Problem(status, "refused")
        return app.response_class("{}", status)

    with app.test_request_context("/api/v1/campaigns/1/send", method="POST"):
        g.api_token_id, g.api_user = 1, SimpleNamespace(id=1)
        with pytest.raises(Problem):
            send()
        assert send().status_code == 202
        assert send().status_code == 202
        with pytest.raises(Problem) as limited:
            send()
    assert limited.value.status == 429 and int(limited.value.headers["Retry-After"]) >= 1


def test_limits_parse_the_settings_format():
    assert limits.parse("600 per minute") == (600, 60)
    assert limits.parse("5/10 seconds") == (5, 10)
    with pytest.raises(ValueError):
        limits.parse("often")
