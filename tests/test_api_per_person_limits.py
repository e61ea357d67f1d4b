"""Limits that more tokens must not multiply (issue 23): the rate limits count
per person as well as per token."""

from types import SimpleNamespace

import pytest
from flask import g

from app.api import limits
from app.api.problems import Problem
from app.auth.models import Role
from tests.api import ApiClient, api_client, assert_problem, make_token


def _second_token(api: ApiClient) -> ApiClient:
    return ApiClient(api.client, make_token(api.user, "second"), api.user)


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
