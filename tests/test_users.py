"""Staff accounts: the admin page, the command line, and the audit trail."""

import html
import re

import pytest
from sqlalchemy import select

from app.audit import AuditEvent
from app.auth.models import Role, User
from app.extensions import db
from tests.conftest import signed_in
from tests.factories import make_campaign, make_user


def admin_client(app):
    return signed_in(app, make_user(Role.ADMIN, email="root@example.com"))


def user(email: str) -> User:
    db.session.expire_all()
    return db.session.scalar(select(User).where(User.email == email))


def test_an_admin_creates_an_account_that_can_sign_in(app, anonymous):
    admin = admin_client(app)
    response = admin.post(
        "/staff/new", data={"email": " Nia@Example.com", "role": "operator", "password": "twelve chars ok"}
    )
    assert response.headers["Location"] == "/staff"
    assert "nia@example.com can now sign in as operator." in admin.get("/staff").get_data(as_text=True)
    signed = anonymous.post("/sign-in", data={"email": "nia@example.com", "password": "twelve chars ok"})
    assert signed.headers["Location"] == "/"


def test_bad_account_details_are_reported_per_field_and_kept(app):
    admin = admin_client(app)
    short = admin.post("/staff/new", data={"email": "nia@example.com", "role": "viewer", "password": "short"})
    page = short.get_data(as_text=True)
    assert "A password needs at least 12 characters." in page
    assert 'value="nia@example.com"' in page
    invalid = admin.post("/staff/new", data={"email": "nia@", "role": "viewer", "password": "twelve chars ok"})
    assert "nia@ is not a valid email address" in invalid.get_data(as_text=True)
    taken = admin.post(
        "/staff/new", data={"email": "ROOT@example.com", "role": "viewer", "password": "twelve chars ok"}
    )
    assert "root@example.com already has an account." in taken.get_data(as_text=True)
    assert db.session.scalar(select(User.id).where(User.email == "nia@example.com")) is None


@pytest.mark.parametrize(
    ("email", "said"),
    [("nia@", "nia@ is not a valid email address"), ("ROOT@example.com", "root@example.com already has an account.")],
)
def test_every_field_s_error_shows_at_once(app, email, said):
    admin = admin_client(app)
    page = admin.post("/staff/new", data={"email": email, "role": "operator", "password": "short"}).get_data(
        as_text=True
    )
    errors = dict(re.findall(r'<small class="field-error" id="([a-z]+)-error">([^<]*)</small>', html.unescape(page)))
    assert {field: error.split(":")[0] for field, error in errors.items()} == {
        "email": said,
        "password": "A password needs at least 12 characters.",
    }
    assert 'aria-describedby="email-error"' in page and 'aria-describedby="password-help password-error"' in page
    assert 'value="operator" selected' in page or '<option selected value="operator">' in page


def test_an_admin_changes_roles_and_deactivates_and_it_is_recorded(app):
    admin = admin_client(app)
    target = make_user(Role.VIEWER, email="vera@example.com")
    vera = signed_in(app, target)

    admin.post(f"/staff/{target.id}/role", data={"role": "operator"})
    assert user("vera@example.com").role == "operator"
    assert vera.get("/campaigns/new").status_code == 200  # the new role applies at once

    admin.post(f"/staff/{target.id}/deactivate")
    assert not user("vera@example.com").active
    assert vera.get("/campaigns").status_code == 302

    admin.post(f"/staff/{target.id}/reactivate")
    assert user("vera@example.com").active
    page = admin.get("/staff").get_data(as_text=True)
    changes = re.findall(
        r"· (Changed the role|Deactivated the account|Reactivated the account) "
        r"of <strong>vera@example.com</strong> by root@example.com",
        page,
    )
    assert changes == ["Reactivated the account", "Deactivated the account", "Changed the role"]
    assert "viewer → operator" in page


def test_an_admin_cannot_lock_themselves_out(app):
    admin = admin_client(app)
    me = user("root@example.com")
    refused = admin.post(f"/staff/{me.id}/deactivate")
    assert "You cannot deactivate your own account; ask another admin." in admin.get(
        refused.headers["Location"]
    ).get_data(as_text=True)
    admin.post(f"/staff/{me.id}/role", data={"role": "viewer"})
    me = user("root@example.com")
    assert me.active and me.role == "admin"


def test_unknown_role_and_unknown_account_are_refused(app):
    admin = admin_client(app)
    target = make_user(Role.VIEWER, email="vera@example.com")
    assert admin.post(f"/staff/{target.id}/role", data={"role": "owner"}).status_code == 400
    assert admin.post("/staff/999/deactivate").status_code == 404


def test_users_create_and_set_password_on_the_command_line(app, anonymous):
    runner = app.test_cli_runner()
    created = runner.invoke(
        args=["users", "create", "--email", "ops@example.com", "--role", "operator"],
        input="first password ok\nfirst password ok\n",
    )
    assert created.exit_code == 0 and "Created ops@example.com as operator." in created.output
    again = runner.invoke(
        args=["users", "create", "--email", "ops@example.com"], input="first password ok\nfirst password ok\n"
    )
    assert again.exit_code != 0 and "ops@example.com already has an account." in again.output

    reset = runner.invoke(
        args=["users", "set-password", "--email", "OPS@example.com"], input="second password ok\nsecond password ok\n"
    )
    assert reset.exit_code == 0, reset.output
    assert (
        anonymous.post("/sign-in", data={"email": "ops@example.com", "password": "second password ok"}).status_code
        == 302
    )
    unknown = runner.invoke(
        args=["users", "set-password", "--email", "nobody@example.com"],
        input="second password ok\nsecond password ok\n",
    )
    assert unknown.exit_code != 0 and "No account has the email nobody@example.com." in unknown.output
    short = runner.invoke(args=["users", "set-password", "--email", "ops@example.com"], input="short\nshort\n")
    assert short.exit_code != 0 and "at least 12 characters" in short.output


def test_demo_load_creates_a_first_admin_once_and_prints_its_password_once(app, anonymous):
    runner = app.test_cli_runner()
    first = runner.invoke(args=["demo", "load"])
    assert first.exit_code == 0, first.output
    password = re.search(r"password: (\S+)", first.output).group(1)
    assert anonymous.post("/sign-in", data={"email": "admin@example.com", "password": password}).status_code == 302
    second = runner.invoke(args=["demo", "load"])
    assert password not in second.output
    assert "Staff accounts exist already" in second.output
    assert db.session.query(User).count() == 1


def test_the_campaign_page_shows_who_created_started_and_completed_it(app, client, run_worker):
    client.post(
        "/campaigns/new",
        data={"title": "Audit me", "channel": "email", "message": "Hi", "recipients": "a@example.com\nb@example.com"},
    )
    campaign_id = db.session.scalar(select(AuditEvent.campaign_id).where(AuditEvent.campaign_id.is_not(None)))
    client.post(f"/campaigns/{campaign_id}/start", headers={"HX-Request": "true"})
    # The page reloads its block in place, and the history comes with it.
    block = client.get(f"/campaigns/{campaign_id}", headers={"HX-Request": "true", "HX-Target": "recipients"})
    assert "Started dispatch by <strong>operator@example.com</strong>" in block.get_data(as_text=True)
    run_worker()
    page = client.get(f"/campaigns/{campaign_id}").get_data(as_text=True)
    history = re.findall(r"· (.+?) by <strong>(.+?)</strong>", page)
    assert history == [
        ("Created the campaign", "operator@example.com"),
        ("Started dispatch", "operator@example.com"),
        ("Completed", "the dispatcher"),
    ]
    assert "2 recipients" in page


def test_refused_starts_leave_no_trace_in_the_history(client):
    campaign = make_campaign(1)
    for _ in range(3):
        client.post(f"/campaigns/{campaign.id}/start")
    actions = db.session.scalars(select(AuditEvent.action).where(AuditEvent.campaign_id == campaign.id)).all()
    assert actions == ["campaign.created", "campaign.started"]
