"""Limits that more tokens must not multiply (issue 23): the rate limits count
per person as well as per token, and the Idempotency-Key answers one person
may have kept are bounded in number and in bytes."""

from types import SimpleNamespace

import pytest
from flask import g
from sqlalchemy import func, select

from app.api import limits
from app.api.problems import Problem
from app.auth.models import Role
from app.campaigns.models import Campaign
from app.extensions import db
from tests.api import ApiClient, api_client, assert_problem, make_token

CAMPAIGN = {"name": "Test Campaign", "channel": "sms", "base_template": "Hi {first_name}!"}


def _second_token(api: ApiClient) -> ApiClient:
    return ApiClient(api.client, make_token(api.user, "second"), api.user)


def _campaigns() -> int:
    return db.session.scalar(select(func.count()).select_from(Campaign))


# ---- rate limits ----


def test_a_persons_tokens_share_the_request_limit(app, config):
    config(API_RATE_LIMIT="3 per minute")
    first = api_client(app, Role.VIEWER)
    second = _second_token(first)
    answers = [first.get("/api/v1/campaigns"), second.get("/api/v1/campaigns"), first.get("/api/v1/campaigns")]
    assert [answer.status_code for answer in answers] == [200, 200, 200]
    # The headers report the person's window, the tighter: the second token's own has 2 left.
    assert [answer.headers["X-RateLimit-Remaining"] for answer in answers] == ["2", "1", "0"]
    limited = assert_problem(second.get("/api/v1/campaigns"), 429, "rate-limited")
    assert "for this person's tokens together" in limited["detail"]
    # A new token buys nothing more.
    assert_problem(_second_token(first).get("/api/v1/campaigns"), 429)
    assert api_client(app, Role.VIEWER, email="else@example.com").get("/api/v1/campaigns").status_code == 200


def test_a_persons_tokens_share_the_send_limit(app, config):
    config(API_SEND_RATE_LIMIT="2 per minute")

    @limits.counts_as_send
    def send():
        return app.response_class("{}", 202)

    person = SimpleNamespace(id=1)
    with app.test_request_context("/api/v1/campaigns/1/send", method="POST"):
        for token_id in (1, 2):
            g.api_token_id, g.api_user = token_id, person
            assert send().status_code == 202
        g.api_token_id = 3
        with pytest.raises(Problem) as limited:
            send()
        g.api_token_id, g.api_user = 4, SimpleNamespace(id=2)
        assert send().status_code == 202
    assert limited.value.status == 429 and "this person's tokens together" in limited.value.detail


# ---- Idempotency-Key answers kept per person ----


def test_new_keys_past_the_most_kept_are_429_and_run_nothing(app, config):
    config(API_IDEMPOTENCY_KEYS_PER_PERSON=2)
    api = api_client(app)
    for key in ("one", "two"):
        assert api.post("/api/v1/campaigns", json=CAMPAIGN, headers={"Idempotency-Key": key}).status_code == 201
    refused = _second_token(api).post("/api/v1/campaigns", json=CAMPAIGN, headers={"Idempotency-Key": "three"})
    problem = assert_problem(refused, 429, "rate-limited")
    assert "You have 2 Idempotency-Key answers kept (for 24 hours), the most one person may." in problem["detail"]
    assert 86_000 < int(refused.headers["Retry-After"]) <= 86_400
    assert _campaigns() == 2
    # A kept key still replays, and a request without a key is unaffected.
    replay = api.post("/api/v1/campaigns", json=CAMPAIGN, headers={"Idempotency-Key": "one"})
    assert replay.status_code == 201 and replay.headers["Idempotent-Replayed"] == "true"
    assert api.post("/api/v1/campaigns", json=CAMPAIGN).status_code == 201
    # Another person keeps their own.
    other = api_client(app, email="other@example.com")
    assert other.post("/api/v1/campaigns", json=CAMPAIGN, headers={"Idempotency-Key": "three"}).status_code == 201


def test_new_keys_past_the_bytes_kept_are_429(app, config):
    api = api_client(app)
    assert api.post("/api/v1/campaigns", json=CAMPAIGN, headers={"Idempotency-Key": "one"}).status_code == 201
    kept = db.session.scalar(db.text("SELECT octet_length(body) FROM api_idempotency_keys"))
    config(API_IDEMPOTENCY_BYTES_PER_PERSON=kept)
    refused = api.post("/api/v1/campaigns", json=CAMPAIGN, headers={"Idempotency-Key": "two"})
    problem = assert_problem(refused, 429, "rate-limited")
    assert f"Your kept Idempotency-Key answers hold {kept} bytes" in problem["detail"]
    assert _campaigns() == 1


def test_keys_older_than_a_day_make_room_for_new_ones(app, config):
    config(API_IDEMPOTENCY_KEYS_PER_PERSON=1)
    api = api_client(app)
    assert api.post("/api/v1/campaigns", json=CAMPAIGN, headers={"Idempotency-Key": "old"}).status_code == 201
    assert_problem(api.post("/api/v1/campaigns", json=CAMPAIGN, headers={"Idempotency-Key": "new"}), 429)
    db.session.execute(db.text("UPDATE api_idempotency_keys SET created_at = now() - interval '25 hours'"))
    db.session.commit()
    assert api.post("/api/v1/campaigns", json=CAMPAIGN, headers={"Idempotency-Key": "new"}).status_code == 201


def test_the_bounds_have_their_defaults(app):
    assert app.config["API_IDEMPOTENCY_KEYS_PER_PERSON"] == 10_000
    assert app.config["API_IDEMPOTENCY_BYTES_PER_PERSON"] == 10 * 1024 * 1024
