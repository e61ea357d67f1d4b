"""Forms kept while signed out (app.kept) are kept only for a browser whose
session ended, only up to a size and a rate, compactly, and are shown only to
the browser that sent them: no one can fill Redis with them, nor plant a
filled-in form and send someone its link. Refused, a form is not kept, and
Sign in says why."""

import random
import re
import secrets

import pytest

from app import kept
from app.auth.models import Role
from app.extensions import db
from tests.conftest import signed_in
from tests.factories import PASSWORD, make_campaign, make_user

FORM = {"title": "Flu shots", "channel": "email", "message": "See you tomorrow.", "recipients": "ada@example.com"}
KEPT_LINK = re.compile(r"/sign-in\?next=/campaigns/new\?kept%3D([\w-]+)")
GO_BACK = "Go back to the form to copy what you typed, then sign in."


def kept_forms(redis_client) -> list[bytes]:
    return [redis_client.get(key) for key in redis_client.scan_iter("kept-form:*")]


def signed_out(app, email: str = "nurse@example.com", **environ):
    """A browser that was signed in here, and signed out (in another tab, say)."""
    person = signed_in(app, make_user(Role.OPERATOR, email=email))
    person.environ_base.update(environ)
    assert person.post("/sign-out").status_code == 302
    return person


def test_a_strangers_form_is_not_kept_and_sign_in_says_it_was_not_sent(app, anonymous, redis_client):
    draft = make_campaign()
    anonymous.get("/sign-in")  # a cookie anyone can have: not one of someone signed in
    for url in ("/campaigns/new", f"/campaigns/{draft.id}/edit"):
        sent = anonymous.post(url, data=FORM)
        assert sent.status_code == 302 and sent.headers["Location"] == "/sign-in"
        page = anonymous.get("/sign-in").get_data(as_text=True)
        assert f"You are not signed in, so your form was not sent. {GO_BACK}" in page
    # Nothing at all: not the form, not even a count against a rate.
    assert redis_client.dbsize() == 0


@pytest.mark.parametrize("ended", ["signed out in this browser", "signed out everywhere on another device"])
def test_a_form_is_kept_for_a_browser_whose_session_ended(app, redis_client, ended):
    nurse = make_user(Role.OPERATOR, email="nurse@example.com")
    browser = signed_in(app, nurse)
    if ended == "signed out in this browser":
        browser.post("/sign-out")
    else:
        nurse.end_sessions()
        db.session.commit()
    sent = browser.post("/campaigns/new", data=FORM)
    assert KEPT_LINK.fullmatch(sent.headers["Location"])
    assert len(kept_forms(redis_client)) == 1


def test_a_form_over_the_cap_as_stored_is_not_kept(app, redis_client):
    """Random text barely compresses: 2 MB typed is well over 1 MB stored."""
    nurse = signed_out(app)
    sent = nurse.post("/campaigns/new", data={**FORM, "recipients": secrets.token_urlsafe(1_500_000)})
    assert sent.headers["Location"] == "/sign-in"
    page = nurse.get("/sign-in").get_data(as_text=True)
    assert (
        "Your session had ended, so your form was not sent, and it is larger than the 1 MB "
        f"that can be kept while you sign in. {GO_BACK}"
    ) in page
    assert kept_forms(redis_client) == []


def test_the_longest_paste_a_campaign_takes_fits_the_cap_as_stored(app, redis_client):
    """50,000 lines, nearly 2 MB typed: the cap is on what Redis holds, and a list of recipients compresses."""
    lines = "\n".join(f"Patient {i}, person{i}@example.com" for i in range(1, 50_001))
    assert len(lines) > app.config["KEPT_FORM_MAX_BYTES"]
    sent = signed_out(app).post("/campaigns/new", data={**FORM, "recipients": lines})
    assert KEPT_LINK.fullmatch(sent.headers["Location"])
    (stored,) = kept_forms(redis_client)
    assert len(stored) <= app.config["KEPT_FORM_MAX_BYTES"]


def test_control_characters_are_stored_in_at_most_a_byte_each(app, redis_client):
    """JSON wrote each as six (\\u0001): a 20 MB body became 120 MB in Redis.
    Random ones, so that compressing a run of one character is not what passes."""
    typed = "".join(random.Random(23).choices([chr(c) for c in range(32)], k=500_000))
    sent = signed_out(app).post("/campaigns/new", data={**FORM, "recipients": typed})
    assert KEPT_LINK.fullmatch(sent.headers["Location"])
    (stored,) = kept_forms(redis_client)
    assert len(stored) <= len(typed) + 200
    assert dict(kept.unpack(stored))["recipients"] == typed


def test_a_sixth_form_in_a_minute_from_one_address_is_not_kept(app, redis_client):
    nurse = signed_out(app, REMOTE_ADDR="203.0.113.7")
    for _ in range(5):
        assert KEPT_LINK.fullmatch(nurse.post("/campaigns/new", data=FORM).headers["Location"])
    sixth = nurse.post("/campaigns/new", data=FORM)
    assert sixth.headers["Location"] == "/sign-in"
    page = nurse.get("/sign-in").get_data(as_text=True)
    assert (
        "Your session had ended, so your form was not sent, and no more forms are kept for your address "
        f"for now (at most 5 per minute; 20 per hour). {GO_BACK}"
    ) in page
    assert len(kept_forms(redis_client)) == 5
    # Another address has its own allowance.
    other = signed_out(app, "olga@example.com", REMOTE_ADDR="198.51.100.2")
    assert KEPT_LINK.fullmatch(other.post("/campaigns/new", data=FORM).headers["Location"])


def test_the_hourly_limit_bounds_how_many_forms_one_address_holds(app, config, redis_client):
    config(KEPT_FORM_RATE_LIMIT="100 per minute; 3 per hour")
    nurse = signed_out(app)
    for _ in range(3):
        assert KEPT_LINK.fullmatch(nurse.post("/campaigns/new", data=FORM).headers["Location"])
    assert nurse.post("/campaigns/new", data=FORM).headers["Location"] == "/sign-in"
    assert len(kept_forms(redis_client)) == 3


def test_a_kept_form_is_shown_only_to_the_browser_that_sent_it(app, anonymous, redis_client):
    nurse = signed_out(app)
    sent = nurse.post("/campaigns/new", data=FORM)
    link = KEPT_LINK.fullmatch(sent.headers["Location"])
    assert link
    kept_url = f"/campaigns/new?kept={link.group(1)}"

    # Planted: another person opens the link, signed in or on the way to it.
    colleague = signed_in(app, make_user(Role.OPERATOR, email="olga@example.com"))
    page = colleague.get(kept_url).get_data(as_text=True)
    assert "Here it is" not in page and "Flu shots" not in page
    sign_in_page = anonymous.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Your session had ended" not in sign_in_page
    assert len(kept_forms(redis_client)) == 1

    # Still there for the browser that sent it, after signing in.
    back = nurse.post(sent.headers["Location"], data={"email": "nurse@example.com", "password": PASSWORD})
    assert back.headers["Location"] == kept_url
    form = nurse.get(kept_url).get_data(as_text=True)
    assert "Here it is as you typed it" in form and 'value="Flu shots"' in form


def test_packing_gives_back_exactly_the_fields_packed():
    fields = [
        ("title", "3:a,b:c,"),
        ("recipients", "Zoë, +254 712\x00\x01\r\n😀"),
        ("empty", ""),
        ("channel", "sms"),
        ("channel", "email"),
    ]
    stored = kept.pack(fields, 10_000)
    assert stored is not None and kept.unpack(stored) == fields
    assert kept.pack(fields, 10) is None


def test_a_form_is_kept_for_a_browser_whose_session_expired_while_its_tab_stayed_open(app, anonymous, redis_client):
    """An idle session's cookie is gone (the browser drops it when it expires),
    but the browser still carries the signed mark of having signed in here."""
    make_user(Role.OPERATOR, email="nurse@example.com")
    signed = anonymous.post("/sign-in", data={"email": "nurse@example.com", "password": PASSWORD})
    assert signed.status_code == 302
    anonymous.delete_cookie("session")
    sent = anonymous.post("/campaigns/new", data=FORM)
    assert KEPT_LINK.fullmatch(sent.headers["Location"])
    assert len(kept_forms(redis_client)) == 1


def test_a_made_up_mark_of_having_signed_in_keeps_nothing(app, anonymous, redis_client):
    anonymous.set_cookie("known_device", "nurse@example.com")
    sent = anonymous.post("/campaigns/new", data=FORM)
    assert sent.status_code == 302 and sent.headers["Location"] == "/sign-in"
    assert kept_forms(redis_client) == []
