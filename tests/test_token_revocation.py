"""What ends a person's sessions for safety revokes their API tokens too
(issue 23): a token made with a stolen session must not outlive the person's
answer to the theft."""

import re

import flask_migrate
import pytest
from sqlalchemy import select

from app.audit import AuditEvent
from app.auth.models import Role, User
from app.extensions import db
from app.tokens import models as tokens
from app.tokens.models import ApiToken
from tests.api import make_token
from tests.conftest import signed_in
from tests.factories import PASSWORD, make_user


def _works(app, secret: str) -> bool:
    answer = app.test_client().get("/api/v1/campaigns", headers={"Authorization": f"Bearer {secret}"})
    return answer.status_code == 200


def _bulk_events(user_id: int) -> list[str]:
    found = select(AuditEvent.detail).where(
        AuditEvent.action == "token.revoked_all", AuditEvent.subject_user_id == user_id
    )
    return list(db.session.scalars(found))


def test_changing_ones_password_revokes_ones_tokens_and_says_why(app):
    vera = make_user(Role.VIEWER, email="vera@example.com")
    other = make_user(Role.VIEWER, email="other@example.com")
    mine = [make_token(vera, "laptop"), make_token(vera, "ci")]
    theirs = make_token(other, "theirs")
    here = signed_in(app, vera)
    changed = here.post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "a new long password", "confirm": "a new long password"},
    )
    assert changed.status_code == 302
    assert "Your API tokens (2) are revoked too" in here.get("/campaigns").get_data(as_text=True)
    assert not any(_works(app, secret) for secret in mine)
    assert _works(app, theirs)
    assert _bulk_events(vera.id) == ["(2: password changed)"]
    page = here.get("/account/tokens").get_data(as_text=True)
    assert page.count("Revoked: password changed, ") == 2
    assert not re.search(r'data-testid="api-token"', page)


def test_a_password_set_from_the_command_line_revokes_the_tokens(app):
    ana = make_user(Role.OPERATOR, email="ana@example.com")
    secret = make_token(ana)
    result = app.test_cli_runner().invoke(
        args=["users", "set-password", "--email", "ana@example.com", "--password", "another long password"]
    )
    assert result.exit_code == 0, result.output
    assert "1 API token of theirs revoked." in result.output
    assert not _works(app, secret)
    token = db.session.scalar(select(ApiToken))
    assert token.revoked_reason == "password_changed"
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "token.revoked_all"))
    assert event.via == "cli" and event.actor_id is None and event.detail == "(1: password changed)"


def test_signing_out_everywhere_revokes_the_tokens(app):
    vera = make_user(Role.VIEWER, email="vera@example.com")
    secret = make_token(vera)
    laptop = signed_in(app, vera)
    assert laptop.post("/sign-out-everywhere").status_code == 302
    assert "Your API tokens (1) are revoked too" in laptop.get("/sign-in").get_data(as_text=True)
    assert not _works(app, secret)
    assert _bulk_events(vera.id) == ["(1: signed out everywhere)"]
    again = signed_in(app, vera)
    assert "Revoked: signed out everywhere, " in again.get("/account/tokens").get_data(as_text=True)


def test_deactivation_revokes_the_tokens_and_reactivation_brings_none_back(app):
    admin = make_user(Role.ADMIN, email="root@example.com")
    op = make_user(Role.OPERATOR, email="op@example.com")
    secret = make_token(op)
    staff = signed_in(app, admin)
    assert staff.post(f"/staff/{op.id}/deactivate").status_code == 302
    assert staff.post(f"/staff/{op.id}/reactivate").status_code == 302
    db.session.refresh(op)
    assert op.active
    assert not _works(app, secret)
    event = db.session.scalar(select(AuditEvent).where(AuditEvent.action == "token.revoked_all"))
    assert event.actor_id == admin.id and event.detail == "(1: account deactivated)"
    everyone = staff.get("/account/tokens").get_data(as_text=True)
    assert "Revoked: account deactivated, " in everyone
    assert "Revoked every API token (1: account deactivated) of <strong>op@example.com</strong>" in everyone
    # A token made after reactivating works: the person is trusted again, their old tokens are not.
    assert _works(app, make_token(op, "new"))


def test_with_nothing_to_revoke_nothing_is_recorded(app):
    vera = make_user(Role.VIEWER, email="vera@example.com")
    assert signed_in(app, vera).post("/sign-out-everywhere").status_code == 302
    assert _bulk_events(vera.id) == []


@pytest.mark.parametrize("already", ["revoked", "expired"])
def test_tokens_already_ended_keep_their_ending(app, already):
    vera = make_user(Role.VIEWER, email="vera@example.com")
    make_token(vera)
    token = db.session.scalar(select(ApiToken))
    if already == "revoked":
        tokens.revoke([token], actor=vera)
    else:
        token.expires_at = token.created_at
    db.session.commit()
    assert tokens.revoke_all_for(vera, tokens.RevokeReason.PASSWORD_CHANGED, actor=vera) == 0
    db.session.commit()
    db.session.refresh(token)
    assert token.revoked_reason == ("by_hand" if already == "revoked" else None)
    assert _bulk_events(vera.id) == []


def test_the_migration_revokes_the_tokens_of_people_deactivated_before_it(app):
    """Before 0017 a deactivated person's tokens were refused only while they
    stayed deactivated; reactivating them must not bring those back."""
    gone = make_user(Role.OPERATOR, email="gone@example.com")
    here = make_user(Role.OPERATOR, email="here@example.com")
    dormant, working, revoked = make_token(gone, "dormant"), make_token(here, "working"), make_token(here, "revoked")
    tokens.revoke(tokens.named(here.id, "revoked"), actor=None)
    gone.active = False
    db.session.commit()
    gone_id = gone.id
    db.session.remove()
    try:
        flask_migrate.downgrade(revision="0016")
    finally:
        flask_migrate.upgrade()
    reasons = dict(db.session.execute(select(ApiToken.name, ApiToken.revoked_reason)).all())
    assert reasons == {"dormant": "deactivated", "working": None, "revoked": "by_hand"}
    db.session.get(User, gone_id).active = True
    db.session.commit()
    assert not _works(app, dormant) and not _works(app, revoked) and _works(app, working)
