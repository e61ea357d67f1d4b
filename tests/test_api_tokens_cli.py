"""``flask tokens create|list|revoke`` (contract B.1)."""

import pytest

from app.auth.models import Role
from app.extensions import db
from app.tokens import models as tokens
from tests.factories import make_user


@pytest.fixture
def runner(app):
    return app.test_cli_runner()


def test_create_prints_the_token_alone_on_the_last_line(app, runner):
    user = make_user(Role.OPERATOR, email="ana@example.com")
    result = runner.invoke(args=["tokens", "create", "--email", "ANA@example.com", "--name", "ci"])
    assert result.exit_code == 0, result.output
    secret = result.output.strip().splitlines()[-1]
    assert secret.startswith(tokens.PREFIX) and len(secret) >= 43 + len(tokens.PREFIX)
    found = tokens.authenticate(secret)
    assert found is not None and found.user_id == user.id
    # Only its hash is stored.
    assert secret not in str(db.session.execute(db.text("SELECT * FROM api_tokens")).all())


def test_create_for_an_unknown_or_deactivated_person_fails(app, runner):
    make_user(Role.OPERATOR, email="gone@example.com", active=False)
    assert runner.invoke(args=["tokens", "create", "--email", "nobody@example.com", "--name", "x"]).exit_code != 0
    assert runner.invoke(args=["tokens", "create", "--email", "gone@example.com", "--name", "x"]).exit_code != 0
    assert tokens.active_of() == []


def test_list_shows_names_and_dates_never_the_token(app, runner):
    make_user(Role.VIEWER, email="vi@example.com")
    created = runner.invoke(args=["tokens", "create", "--email", "vi@example.com", "--name", "reports"])
    secret = created.output.strip().splitlines()[-1]
    listed = runner.invoke(args=["tokens", "list", "--email", "vi@example.com"])
    assert listed.exit_code == 0
    assert "reports" in listed.output and "last used never" in listed.output
    assert secret not in listed.output


def test_revoke_revokes_every_token_with_the_name_and_fails_when_there_is_none(app, runner):
    make_user(Role.OPERATOR, email="op@example.com")
    secrets_ = [
        runner.invoke(args=["tokens", "create", "--email", "op@example.com", "--name", "ci"]).output.split()[-1]
        for _ in range(2)
    ]
    revoked = runner.invoke(args=["tokens", "revoke", "--email", "op@example.com", "--name", "ci"])
    assert revoked.exit_code == 0 and "2 tokens" in revoked.output
    assert all(tokens.authenticate(secret) is None for secret in secrets_)
    again = runner.invoke(args=["tokens", "revoke", "--email", "op@example.com", "--name", "ci"])
    assert again.exit_code != 0
