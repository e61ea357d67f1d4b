"""Tokens expire when asked to, and one person has at most
API_TOKENS_PER_PERSON that work (issue 23)."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select, update

from app.auth.models import Role
from app.clock import utcnow
from app.extensions import db
from app.tokens import models as tokens
from app.tokens.models import ApiToken
from tests.api import assert_problem, make_token
from tests.conftest import signed_in
from tests.factories import make_user


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def _count() -> int:
    return db.session.scalar(select(func.count()).select_from(ApiToken))


# ---- expiry ----


@pytest.mark.parametrize(("given", "lifetime"), [("90d", timedelta(days=90)), ("12h", timedelta(hours=12))])
def test_the_command_line_makes_a_token_that_expires(app, runner, given, lifetime):
    make_user(Role.VIEWER, email="vi@example.com")
    made = runner.invoke(args=["tokens", "create", "--email", "vi@example.com", "--name", "ci", "--expires-in", given])
    assert made.exit_code == 0, made.output
    token = db.session.scalar(select(ApiToken))
    assert abs(token.expires_at - (utcnow() + lifetime)) < timedelta(minutes=1)
    assert f"until {token.expires_at.isoformat(timespec='seconds')}" in made.output
    listed = runner.invoke(args=["tokens", "list", "--email", "vi@example.com"]).output
    assert f"expires {token.expires_at.isoformat(timespec='seconds')}" in listed


def test_without_expires_in_a_command_line_token_never_expires(app, runner):
    make_user(Role.VIEWER, email="vi@example.com")
    assert runner.invoke(args=["tokens", "create", "--email", "vi@example.com", "--name", "ci"]).exit_code == 0
    assert db.session.scalar(select(ApiToken)).expires_at is None
    assert "no expiry" in runner.invoke(args=["tokens", "list", "--email", "vi@example.com"]).output


@pytest.mark.parametrize(
    ("given", "says"),
    [
        ("3w", "is not a lifetime: give days or hours, such as 90d or 12h"),
        ("90", "is not a lifetime"),
        ("", "is not a lifetime"),
        ("-5d", "is not a lifetime"),
        ("0h", "is too short: a token lasts at least an hour"),
        ("3651d", "is too long: at most 3650 days"),
        ("9999999d", "is too long"),
        ("99999999999999d", "is not a lifetime"),
    ],
)
def test_a_bad_expires_in_is_refused_saying_what_is_wrong(app, runner, given, says):
    make_user(Role.VIEWER, email="vi@example.com")
    create = ["tokens", "create", "--email", "vi@example.com", "--name", "ci"]
    result = runner.invoke(args=[*create, "--expires-in", given])
    assert result.exit_code == 2
    assert "--expires-in" in result.output and says in result.output
    assert _count() == 0


def test_the_page_makes_a_token_expiring_when_chosen_and_lists_when(app):
    user = make_user(Role.VIEWER, email="vi@example.com")
    client = signed_in(app, user)
    page = client.get("/account/tokens").get_data(as_text=True)
    assert re.search(r'<option selected value="90d">90 days</option>', page)
    assert client.post("/account/tokens", data={"name": "reports", "expires_in": "30d"}).status_code == 200
    assert client.post("/account/tokens", data={"name": "forever", "expires_in": "never"}).status_code == 200
    made = {token.name: token.expires_at for token in tokens.active_of(user.id)}
    assert abs(made["reports"] - (utcnow() + timedelta(days=30))) < timedelta(minutes=1)
    assert made["forever"] is None
    listed = client.get("/account/tokens").get_data(as_text=True)
    assert f'<time datetime="{made["reports"].isoformat()}">' in listed


def test_the_page_refuses_a_lifetime_not_offered_and_keeps_the_name(app):
    client = signed_in(app, make_user(Role.VIEWER))
    response = client.post("/account/tokens", data={"name": "CRM sync", "expires_in": "1000d"})
    page = response.get_data(as_text=True)
    assert response.status_code == 400
    assert "Choose one of 30 days, 90 days, 1 year, Never." in page
    assert 'value="CRM sync"' in page
    assert _count() == 0


def test_an_expired_token_is_a_401_problem_saying_it_expired(app):
    user = make_user(Role.VIEWER, email="vi@example.com")
    secret = make_token(user)
    headers = {"Authorization": f"Bearer {secret}"}
    assert app.test_client().get("/api/v1/campaigns", headers=headers).status_code == 200
    db.session.execute(update(ApiToken).values(expires_at=func.now() - timedelta(seconds=1)))
    db.session.commit()
    response = app.test_client().get("/api/v1/campaigns", headers=headers)
    problem = assert_problem(response, 401, "unauthorized")
    assert problem["detail"].startswith("That token expired at ") and "Make a new one" in problem["detail"]
    assert 'error="invalid_token"' in response.headers["WWW-Authenticate"]
    assert tokens.active_of() == [] and tokens.authenticate(secret) is None
    # Revoked as well as expired: no longer told apart from unknown.
    tokens.revoke(list(db.session.scalars(select(ApiToken))), actor=None)
    db.session.commit()
    again = assert_problem(app.test_client().get("/api/v1/campaigns", headers=headers), 401)
    assert "expired" not in again["detail"]


def test_the_page_shows_an_expired_token_as_ended(app):
    user = make_user(Role.VIEWER, email="vi@example.com")
    make_token(user, "old")
    db.session.execute(update(ApiToken).values(expires_at=func.now() - timedelta(days=1)))
    db.session.commit()
    page = signed_in(app, user).get("/account/tokens").get_data(as_text=True)
    assert 'data-testid="api-token"' not in page
    assert 'data-testid="ended-token"' in page and "Expired <time" in page


# ---- at most API_TOKENS_PER_PERSON ----


def test_the_page_refuses_a_token_past_the_most_one_person_may_have(app, config):
    config(API_TOKENS_PER_PERSON=2)
    user = make_user(Role.VIEWER, email="vi@example.com")
    client = signed_in(app, user)
    for name in ("one", "two"):
        assert client.post("/account/tokens", data={"name": name, "expires_in": "90d"}).status_code == 200
    refused = client.post("/account/tokens", data={"name": "three", "expires_in": "90d"})
    page = refused.get_data(as_text=True)
    assert refused.status_code == 400
    assert "vi@example.com already has 2 active tokens, the most one person may have." in page
    assert 'value="three"' in page and "cdt_" not in page
    assert _count() == 2


def test_the_command_line_refuses_a_token_past_the_most(app, runner, config):
    config(API_TOKENS_PER_PERSON=1)
    make_user(Role.OPERATOR, email="op@example.com")
    create = ["tokens", "create", "--email", "op@example.com", "--name", "ci"]
    assert runner.invoke(args=create).exit_code == 0
    refused = runner.invoke(args=create)
    assert refused.exit_code == 1
    assert "op@example.com already has 1 active token, the most one person may have" in refused.output
    assert _count() == 1


def test_revoked_and_expired_tokens_do_not_count_toward_the_most(app, config):
    config(API_TOKENS_PER_PERSON=1)
    user = make_user(Role.VIEWER, email="vi@example.com")
    make_token(user, "revoked")
    tokens.revoke(tokens.active_of(user.id), actor=None)
    make_token(user, "expired")
    db.session.execute(update(ApiToken).where(ApiToken.name == "expired").values(expires_at=func.now()))
    db.session.commit()
    make_token(user, "works")
    with pytest.raises(tokens.TokenRefused):
        make_token(user, "one too many")
    db.session.rollback()
    assert [token.name for token in tokens.active_of(user.id)] == ["works"]


def test_the_most_is_ten_by_default(app):
    assert app.config["API_TOKENS_PER_PERSON"] == 10


# ---- the answer holding a secret ----


def test_the_page_that_shows_a_new_secret_may_not_be_stored(app):
    client = signed_in(app, make_user(Role.VIEWER))
    made = client.post("/account/tokens", data={"name": "laptop", "expires_in": "90d"})
    assert "cdt_" in made.get_data(as_text=True)
    assert made.headers["Cache-Control"] == "no-store"
    assert client.get("/account/tokens").headers["Cache-Control"] == "no-store"
