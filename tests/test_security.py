"""Headers, CSRF, escaping of what users typed, request size, and streams of the signed-out."""

import re
import time
from collections import Counter

import pytest

from app import create_app
from app.auth.models import Role, User
from app.campaigns import rollup
from app.campaigns.models import Campaign
from app.extensions import db
from app.live.broker import KEEPALIVE
from app.security import CONTENT_SECURITY_POLICY
from tests.conftest import settings_for, signed_in
from tests.factories import make_campaign, make_user, start_campaign
from tests.helpers import open_stream, read_until

TITLE = '<script>alert("title")</script>'
MESSAGE = "\"><img src=x onerror=alert(1)>'--"
NAME = "</td><script>alert('name')</script>"
BAD_ADDRESS = "<svg onload=alert(2)>"


@pytest.mark.parametrize("url", ["/sign-in", "/campaigns", "/campaigns/999", "/static/app.css", "/healthz"])
def test_every_response_carries_the_security_headers(client, url):
    response = client.get(url)
    assert response.headers["Content-Security-Policy"] == CONTENT_SECURITY_POLICY
    assert response.headers["X-Content-Type-Options"] == "nosniff"
    assert response.headers["Referrer-Policy"] == "same-origin"
    assert "frame-ancestors 'none'" in CONTENT_SECURITY_POLICY
    assert "script-src 'self'" in CONTENT_SECURITY_POLICY and "unsafe-inline" not in CONTENT_SECURITY_POLICY


def test_pages_have_no_inline_script_or_style(app, anonymous):
    admin = signed_in(app, make_user(Role.ADMIN, email="root@example.com"))
    make_user(Role.VIEWER, email="vera@example.com")
    campaign = make_campaign(2)
    # A campaign that sent, with its charts: drawn by charts.js from their tables, no style attribute.
    sent = start_campaign(make_campaign(2), enqueue=False)
    rollup.add(sent.id, sent.channel, Counter({("sent", ""): 1, ("failed", "timeout"): 1}))
    db.session.commit()
    pages = [(anonymous, "/sign-in")] + [
        (admin, url)
        for url in [
            "/campaigns",
            "/campaigns/new",
            f"/campaigns/{campaign.id}",
            f"/campaigns/{sent.id}",
            "/staff",
            "/staff/new",
            "/account/password",
        ]
    ]
    for client, url in pages:
        response = client.get(url)
        assert response.status_code == 200, url
        page = response.get_data(as_text=True)
        assert page.count("<script") == page.count("<script src="), url
        assert not re.search(r"\son[a-z]+=", page), url
        assert "style=" not in page, url


def test_sign_in_and_state_changes_need_the_csrf_token(app, anonymous, config):
    make_user(Role.OPERATOR, email="otto@example.com")
    config(WTF_CSRF_ENABLED=True)
    form = anonymous.post("/sign-in", data={"email": "otto@example.com", "password": "x" * 20})
    # The form comes back, saying why it was not sent, with the email as typed.
    assert "it was not sent" in form.get_data(as_text=True) and 'value="otto@example.com"' in form.get_data(
        as_text=True
    )
    assert anonymous.get("/campaigns").status_code == 302
    operator = signed_in(app, make_user(Role.OPERATOR, email="olga@example.com"))
    campaign = make_campaign(1)
    refused = operator.post(f"/campaigns/{campaign.id}/start", headers={"HX-Request": "true"})
    assert refused.status_code == 400
    # htmx sends the token from the page's hx-headers; with it, the same request goes through.
    page = operator.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    token = page.split('"X-CSRFToken": "', 1)[1].split('"', 1)[0]
    accepted = operator.post(f"/campaigns/{campaign.id}/start", headers={"HX-Request": "true", "X-CSRFToken": token})
    assert accepted.status_code == 200
    assert "Dispatch started." in accepted.get_data(as_text=True)


def test_what_users_typed_arrives_as_text_in_pages(client):
    paste = f"{NAME}, ann@example.com\nEve, {BAD_ADDRESS}\n"
    review = client.post(
        "/campaigns/new", data={"title": TITLE, "channel": "email", "message": MESSAGE, "recipients": paste}
    )
    page = review.get_data(as_text=True)
    assert BAD_ADDRESS not in page and TITLE not in page
    assert "&lt;svg onload=alert(2)&gt;" in page  # in the line error and in the kept textarea
    assert "&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;" in page

    created = client.post(
        "/campaigns/new",
        data={
            "title": TITLE,
            "channel": "email",
            "message": MESSAGE,
            "recipients": paste,
            "skip_invalid": "y",
        },
    )
    show = client.get(created.headers["Location"]).get_data(as_text=True)
    listing = client.get("/campaigns").get_data(as_text=True)
    for html in (show, listing):
        assert TITLE not in html and "&lt;script&gt;alert(&#34;title&#34;)" in html
    assert MESSAGE not in show and "&#34;&gt;&lt;img src=x onerror=alert(1)&gt;&#39;--" in show
    assert NAME not in show and "&lt;/td&gt;&lt;script&gt;alert(&#39;name&#39;)&lt;/script&gt;" in show


def test_what_users_typed_arrives_as_text_in_live_updates(app, client, run_worker, config):
    config(SSE_KEEPALIVE_SECONDS=0.2)
    campaign = make_campaign(3, title=TITLE)
    response, chunks = open_stream(client, f"campaign-{campaign.id}")
    client.post(f"/campaigns/{campaign.id}/start")
    run_worker()
    events = read_until(chunks, lambda text: "Completed" in text)
    response.close()
    assert TITLE not in events
    assert "<h1>&lt;script&gt;alert(&#34;title&#34;)&lt;/script&gt;</h1>" in events


def test_a_request_body_over_the_limit_gets_413_with_a_message(app, client, config):
    config(MAX_CONTENT_LENGTH=2_000)
    big = {"title": "Big", "channel": "email", "message": "Hi", "recipients": "a@example.com\n" * 500}
    page = client.post("/campaigns/new", data=big)
    fragment = client.post("/campaigns/new", data=big, headers={"HX-Request": "true"})
    assert page.status_code == 413
    assert "That request is over the limit of 1.95 kB." in page.get_data(as_text=True)
    assert fragment.status_code == 413 and fragment.headers["HX-Retarget"] == "#notices"
    assert db.session.query(Campaign).count() == 0


def test_an_open_stream_ends_when_its_user_is_deactivated(app, redis_client, config):
    config(SSE_KEEPALIVE_SECONDS=0.2)
    user = make_user(Role.VIEWER, email="vera@example.com")
    response, chunks = open_stream(signed_in(app, user), "campaign-5")
    # The stream handed its database session back, and in tests that is the
    # test's own session too (one shared app context): change the user afresh.
    with app.app_context():
        fresh = db.session.get(User, user.id)
        fresh.active = False
        fresh.end_sessions()
        db.session.commit()
    deadline = time.monotonic() + 5
    for chunk in chunks:  # a chunk at least every 0.2 s while the stream lives
        assert chunk == KEEPALIVE.encode()
        assert time.monotonic() < deadline, "the stream outlived its user's deactivation"
    response.close()


def started(services, **settings):
    """A web app started as a host starts it: not under test, and (so that
    only what a test sets is warned about) with inbound webhooks configured."""
    configured = {"INBOUND_WEBHOOK_SECRET": "inbound-secret"}
    return create_app({**settings_for(services), **configured, "TESTING": False, **settings})


def test_production_sends_the_session_cookie_over_https_only_and_asks_for_https(app, services, caplog):
    production = started(services, APP_ENV="production")
    response = signed_in(production, make_user(Role.VIEWER, email="vera@example.com")).get(
        "/campaigns", base_url="https://localhost"
    )
    assert response.status_code == 200
    assert "; Secure" in response.headers["Set-Cookie"]
    assert response.headers["Strict-Transport-Security"] == "max-age=31536000"
    assert production.test_client().get("/healthz").headers["Strict-Transport-Security"] == "max-age=31536000"
    assert not [record for record in caplog.records if record.levelname == "WARNING"]


def test_development_and_tests_keep_the_session_cookie_over_plain_http(app, services, client):
    development = started(services, APP_ENV="development")
    response = signed_in(development, make_user(Role.VIEWER, email="vera@example.com")).get("/campaigns")
    assert response.status_code == 200 and "Set-Cookie" in response.headers
    assert "Secure" not in response.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in response.headers
    under_test = client.get("/campaigns")
    assert "Secure" not in under_test.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in under_test.headers


def test_production_without_tls_is_possible_and_warned_about_at_start(app, services, monkeypatch, caplog):
    monkeypatch.setenv("SESSION_COOKIE_SECURE", "false")
    monkeypatch.setenv("HSTS_SECONDS", "0")
    production = started(services, APP_ENV="production")
    response = signed_in(production, make_user(Role.VIEWER, email="vera@example.com")).get("/campaigns")
    assert response.status_code == 200
    assert "Secure" not in response.headers["Set-Cookie"]
    assert "Strict-Transport-Security" not in response.headers
    warnings = [record.getMessage() for record in caplog.records if record.levelname == "WARNING"]
    assert len(warnings) == 2
    assert warnings[0].startswith("SESSION_COOKIE_SECURE is off in production")
    assert warnings[1].startswith("HSTS_SECONDS is 0 in production")


def test_hsts_seconds_is_a_setting(app, services):
    production = started(services, APP_ENV="production", HSTS_SECONDS=600)
    assert production.test_client().get("/healthz").headers["Strict-Transport-Security"] == "max-age=600"
