"""Signing in and out, throttling, sessions and the secret key."""

import pytest
from sqlalchemy import select

from app import create_app
from app.auth import throttling
from app.auth.models import Role, User
from app.extensions import db
from app.security import MissingSecretKey
from tests.conftest import settings_for, signed_in
from tests.factories import PASSWORD, make_user

WRONG = "That email and password do not match an active account."


def sign_in(client, email: str, password: str = PASSWORD, next: str | None = None, **headers):
    url = "/sign-in" + (f"?next={next}" if next else "")
    return client.post(url, data={"email": email, "password": password}, headers=headers)


def test_a_page_sends_a_signed_out_person_to_sign_in_and_back_after(anonymous):
    make_user(Role.VIEWER, email="vera@example.com")
    response = anonymous.get("/campaigns?page=2")
    assert response.status_code == 302
    assert response.headers["Location"] == "/sign-in?next=/campaigns?page%3D2"

    signed = sign_in(anonymous, "Vera@Example.com ", next="/campaigns?page%3D2")
    assert signed.status_code == 302
    assert signed.headers["Location"] == "/campaigns?page=2"
    assert "vera@example.com · viewer" in anonymous.get("/campaigns").get_data(as_text=True)


@pytest.mark.parametrize(
    "target", ["https://evil.example/", "//evil.example/", "/\\evil.example", "javascript:alert(1)"]
)
def test_next_never_leads_off_the_site(anonymous, target):
    make_user(Role.VIEWER, email="vera@example.com")
    response = anonymous.post(
        "/sign-in", query_string={"next": target}, data={"email": "vera@example.com", "password": PASSWORD}
    )
    assert response.headers["Location"] == "/"


def test_wrong_password_and_unknown_email_get_the_same_message(anonymous):
    make_user(Role.VIEWER, email="vera@example.com")
    wrong_password = sign_in(anonymous, "vera@example.com", "not the password").get_data(as_text=True)
    unknown_email = sign_in(anonymous, "nobody@example.com", "not the password").get_data(as_text=True)
    assert WRONG in wrong_password and WRONG in unknown_email
    # The typed email stays in the form.
    assert 'value="nobody@example.com"' in unknown_email
    assert anonymous.get("/campaigns").status_code == 302


def test_sign_in_records_last_login_and_starts_a_new_session(anonymous):
    user = make_user(Role.VIEWER, email="vera@example.com")
    with anonymous.session_transaction() as session:
        session["planted"] = "by someone else"
    sign_in(anonymous, "vera@example.com")
    with anonymous.session_transaction() as session:
        assert "planted" not in session
        assert session["_user_id"] == user.session_token
        assert session.permanent
    db.session.refresh(user)
    assert user.last_login_at is not None


def cookies(response) -> dict[str, str]:
    """Each cookie the response sets, by name: the session's, and at sign-in
    the one that marks a browser as known for the account."""
    return {header.split("=", 1)[0]: header for header in response.headers.getlist("Set-Cookie")}


def test_session_cookie_is_httponly_and_samesite_lax(anonymous):
    make_user(Role.VIEWER, email="vera@example.com")
    set_now = cookies(sign_in(anonymous, "vera@example.com"))
    assert set_now.keys() == {"session", throttling.KNOWN_DEVICE}
    for cookie in set_now.values():
        assert "HttpOnly" in cookie
        assert "SameSite=Lax" in cookie
        assert "Secure" not in cookie


def test_session_cookie_is_secure_when_configured_for_https(app, services):
    https = create_app({**settings_for(services), "SESSION_COOKIE_SECURE": True})
    with https.app_context():
        make_user(Role.VIEWER, email="vera@example.com")
    response = https.test_client().post(
        "/sign-in", data={"email": "vera@example.com", "password": PASSWORD}, base_url="https://localhost"
    )
    set_now = cookies(response)
    assert set_now.keys() == {"session", throttling.KNOWN_DEVICE}
    assert all("; Secure" in cookie for cookie in set_now.values())


def test_static_files_health_and_metrics_never_set_the_session_cookie(client):
    assert "Set-Cookie" in client.get("/campaigns").headers  # renewed on every page
    for url in ("/static/app.css", "/static/favicon.svg", "/healthz", "/metrics"):
        assert "Set-Cookie" not in client.get(url).headers, url


def test_sign_out_ends_this_browsers_session_only(app):
    user = make_user(Role.VIEWER, email="vera@example.com")
    laptop, phone = signed_in(app, user), signed_in(app, user)
    response = laptop.post("/sign-out")
    assert response.headers["Location"] == "/sign-in"
    assert "You are signed out in this browser." in laptop.get("/sign-in").get_data(as_text=True)
    assert laptop.get("/campaigns").status_code == 302
    assert phone.get("/campaigns").status_code == 200


def test_sign_out_everywhere_ends_every_session_and_every_copy_of_its_cookie(app):
    user = make_user(Role.VIEWER, email="vera@example.com")
    laptop, phone = signed_in(app, user), signed_in(app, user)
    response = laptop.post("/sign-out-everywhere")
    assert response.headers["Location"] == "/sign-in"
    assert "You are signed out on every device." in laptop.get("/sign-in").get_data(as_text=True)
    assert laptop.get("/campaigns").status_code == 302
    assert phone.get("/campaigns").status_code == 302


def test_five_failures_in_a_minute_make_the_form_say_wait(anonymous):
    make_user(Role.VIEWER, email="vera@example.com")
    for _ in range(5):
        assert WRONG in sign_in(anonymous, "vera@example.com", "guess").get_data(as_text=True)
    # Now even the right password waits: the allowance is spent.
    throttled = sign_in(anonymous, "vera@example.com")
    assert throttled.status_code == 429
    page = throttled.get_data(as_text=True)
    assert "Too many failed sign-ins for this account from your address. Wait" in page
    assert 'value="vera@example.com"' in page
    # Another account from the same address is not held up.
    make_user(Role.VIEWER, email="olga@example.com")
    assert sign_in(anonymous, "olga@example.com").status_code == 302


def test_behind_a_trusted_proxy_failures_count_per_forwarded_address(app, services):
    # ``app`` is asked for so that the tables are emptied afterwards.
    proxied = create_app({**settings_for(services), "TRUSTED_PROXIES": 1})
    with proxied.app_context():
        make_user(Role.VIEWER, email="vera@example.com")
    client = proxied.test_client()
    for _ in range(5):
        sign_in(client, "vera@example.com", "guess", **{"X-Forwarded-For": "203.0.113.7"})
    assert sign_in(client, "vera@example.com", **{"X-Forwarded-For": "203.0.113.7"}).status_code == 429
    assert sign_in(client, "vera@example.com", **{"X-Forwarded-For": "198.51.100.2"}).status_code == 302


ACCOUNT_PAUSED = "Too many failed sign-ins for this account, from several addresses: signing in to it is paused for"


def spray(client, email: str, addresses: int) -> None:
    """One wrong password for ``email`` from each of many addresses: none of
    them reaches its own address's limit."""
    for n in range(addresses):
        failed = sign_in_from(client, f"203.0.113.{n + 1}", email, "guess")
        assert failed.status_code == 200 and WRONG in failed.get_data(as_text=True)


def sign_in_from(client, address: str, email: str, password: str = PASSWORD):
    return client.post("/sign-in", data={"email": email, "password": password}, environ_base={"REMOTE_ADDR": address})


def test_failures_from_many_addresses_pause_signing_in_to_the_account(anonymous):
    make_user(Role.VIEWER, email="vera@example.com")
    make_user(Role.VIEWER, email="olga@example.com")
    spray(anonymous, "vera@example.com", 20)
    # From a new address, and with the right password: the account's allowance is spent.
    paused = sign_in_from(anonymous, "198.51.100.9", "Vera@Example.com")
    assert paused.status_code == 429
    page = paused.get_data(as_text=True)
    assert ACCOUNT_PAUSED in page and "If the failures were not yours, tell an admin." in page
    assert 'value="Vera@Example.com"' in page
    # Another account, from any of those addresses, is not held up.
    assert sign_in_from(anonymous, "203.0.113.1", "olga@example.com").status_code == 302


def test_a_browser_that_signed_in_before_is_not_held_to_the_accounts_count(app, anonymous):
    """Anyone can spend an account's allowance on purpose; its owner still
    signs in from their own browser."""
    make_user(Role.VIEWER, email="vera@example.com")
    own = app.test_client()
    assert sign_in_from(own, "192.0.2.10", "vera@example.com").status_code == 302
    own.post("/sign-out")
    spray(anonymous, "vera@example.com", 20)
    assert sign_in_from(anonymous, "192.0.2.10", "vera@example.com").status_code == 429
    # Its cookie is signed: one made up does not count.
    anonymous.set_cookie(throttling.KNOWN_DEVICE, "vera@example.com", path="/sign-in")
    assert sign_in_from(anonymous, "192.0.2.10", "vera@example.com").status_code == 429
    assert sign_in_from(own, "192.0.2.10", "vera@example.com").status_code == 302
    # Signing out everywhere (as a new password does) forgets every browser.
    own.post("/sign-out-everywhere")
    assert sign_in_from(own, "192.0.2.10", "vera@example.com").status_code == 429


# Failures are counted by the email typed, normalised: email_validator read all
# of this one, microseconds a character, before anything checked its length,
# holding the process for 40 s. The bound only tells that from an answer.
@pytest.mark.timeout(10)
def test_an_email_megabytes_long_is_refused_at_once(anonymous):
    response = sign_in(anonymous, "a" + " " * 8_000_000 + "@example.com", "guess")
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Field cannot be longer than 320 characters." in page, page[-3000:]


def test_successful_sign_ins_use_no_allowance(app):
    make_user(Role.VIEWER, email="vera@example.com")
    for _ in range(8):
        client = app.test_client()
        assert sign_in(client, "vera@example.com").status_code == 302


def test_a_deactivated_persons_open_session_stops_working(app):
    user = make_user(Role.OPERATOR, email="otto@example.com")
    client = signed_in(app, user)
    assert client.get("/campaigns").status_code == 200
    user.active = False
    user.end_sessions()
    db.session.commit()
    assert client.get("/campaigns").status_code == 302
    # And they cannot sign in again, with the same message as a wrong password.
    assert WRONG in sign_in(app.test_client(), "otto@example.com").get_data(as_text=True)


def test_a_new_password_ends_open_sessions(app):
    user = make_user(Role.OPERATOR, email="otto@example.com")
    client = signed_in(app, user)
    user.set_password("a brand new password")
    db.session.commit()
    assert client.get("/campaigns").status_code == 302


def test_staff_change_their_own_password_and_their_other_sessions_end(app, anonymous):
    user = make_user(Role.VIEWER, email="vera@example.com")
    here, elsewhere = signed_in(app, user), signed_in(app, user)
    wrong = here.post(
        "/account/password",
        data={
            "current_password": "not it",
            "new_password": "a new long password",
            "confirm": "a new long password",
        },
    ).get_data(as_text=True)
    assert "That is not your current password." in wrong
    mismatch = here.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a new long password",
            "confirm": "another one entirely",
        },
    ).get_data(as_text=True)
    assert "The two new passwords are not the same." in mismatch

    changed = here.post(
        "/account/password",
        data={
            "current_password": PASSWORD,
            "new_password": "a new long password",
            "confirm": "a new long password",
        },
    )
    assert changed.headers["Location"] == "/campaigns"
    assert "Password changed. Your other sessions have ended." in here.get("/campaigns").get_data(as_text=True)
    assert elsewhere.get("/campaigns").status_code == 302
    assert WRONG in sign_in(anonymous, "vera@example.com").get_data(as_text=True)
    assert sign_in(anonymous, "vera@example.com", "a new long password").status_code == 302


def test_no_transaction_is_held_open_while_a_password_is_checked(app, anonymous, monkeypatch):
    """The check is slow on purpose (seconds on a busy machine); meanwhile a
    connection idle in a transaction would hold back PostgreSQL's xmin horizon."""
    from app.auth import models

    checked_inside_a_transaction = []

    def watched(password_hash: str, password: str) -> bool:
        checked_inside_a_transaction.append(db.session().in_transaction())
        return real(password_hash, password)

    real = models.check_password_hash
    monkeypatch.setattr(models, "check_password_hash", watched)
    user = make_user(Role.VIEWER, email="vera@example.com")
    db.session.commit()
    assert sign_in(anonymous, "vera@example.com").status_code == 302
    assert WRONG in sign_in(app.test_client(), "nobody@example.com", "not it").get_data(as_text=True)
    changed = signed_in(app, user).post(
        "/account/password",
        data={"current_password": PASSWORD, "new_password": "a new long password", "confirm": "a new long password"},
    )
    assert changed.status_code == 302
    assert checked_inside_a_transaction == [False, False, False]


def test_passwords_are_stored_as_slow_hashes(anonymous, app):
    runner = app.test_cli_runner()
    result = runner.invoke(
        args=["users", "create", "--email", "Ada@Example.com", "--role", "admin"],
        input="a long enough password\na long enough password\n",
    )
    assert result.exit_code == 0, result.output
    user = db.session.scalar(select(User).where(User.email == "ada@example.com"))
    assert user.password_hash.startswith(("scrypt:", "pbkdf2:"))
    assert "a long enough password" not in user.password_hash


def test_production_refuses_to_start_without_a_secret_key(app, services):
    settings = {**settings_for(services), "TESTING": False, "SECRET_KEY": None, "APP_ENV": "production"}
    with pytest.raises(MissingSecretKey, match="SECRET_KEY is not set"):
        create_app(settings)
    development = create_app({**settings, "APP_ENV": "development"})
    assert len(development.config["SECRET_KEY"]) >= 32


def test_a_pages_own_requests_do_not_renew_the_session_cookie(client):
    """One in flight while the person signs out in another tab would put the
    session back: only pages and forms renew it."""
    assert "Set-Cookie" in client.get("/campaigns").headers
    preview = client.post(
        "/campaigns/preview", data={"channel": "sms", "message": "Hi", "recipients": ""}, headers={"HX-Request": "true"}
    )
    assert preview.status_code == 200 and "Set-Cookie" not in preview.headers
    # A live stream too: a page opens it by itself, and reopens it after every drop.
    stream = client.get("/stream?channel=campaign-list", buffered=False)
    stream.close()
    assert stream.status_code == 200 and "Set-Cookie" not in stream.headers
