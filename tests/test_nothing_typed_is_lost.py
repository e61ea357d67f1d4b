"""Nothing typed is lost: a form refused for its CSRF token, or sent after its
session ended, comes back with everything typed in it."""

import re

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import func, select

from app.auth.models import Role
from app.campaigns.models import Campaign
from app.extensions import db
from tests.browser import needs_chromium, sign_in
from tests.conftest import signed_in
from tests.factories import PASSWORD, make_user

PASTE = "\n".join(f"Patient {i}, person{i}@example.com" for i in range(1, 1001))
FORM = {"title": "Flu shots", "channel": "email", "message": "Your appointment is tomorrow.", "recipients": PASTE}


def campaigns() -> int:
    return db.session.scalar(select(func.count()).select_from(Campaign))


def test_a_form_whose_token_was_refused_comes_back_filled_in_with_a_message(app, client, config):
    config(WTF_CSRF_ENABLED=True)
    page = client.post("/campaigns/new", data={**FORM, "csrf_token": "from-a-session-that-ended"})
    html = page.get_data(as_text=True)
    assert "was opened in a session that has since ended or changed, so it was not sent" in html
    assert 'value="Flu shots"' in html and "Your appointment is tomorrow." in html
    assert "Patient 1000, person1000@example.com" in html
    assert campaigns() == 0
    # It carries a fresh token: sent again, it goes through.
    token = re.search(r'name="csrf_token" type="hidden" value="([^"]+)"', html).group(1)
    sent = client.post("/campaigns/new", data={**FORM, "csrf_token": token})
    assert sent.status_code == 302 and campaigns() == 1


def test_a_form_sent_after_signing_out_comes_back_after_signing_in(app):
    nurse = signed_in(app, make_user(Role.OPERATOR, email="nurse@example.com"))
    nurse.post("/sign-out")  # in another tab: the browser has the one cookie
    sent = nurse.post("/campaigns/new", data=FORM)
    assert sent.status_code == 302 and "/sign-in?next=" in sent.headers["Location"]
    assert campaigns() == 0
    sign_in_page = nurse.get(sent.headers["Location"]).get_data(as_text=True)
    assert "Your session had ended, so your form was not sent." in sign_in_page

    back = nurse.post(sent.headers["Location"], data={"email": "nurse@example.com", "password": PASSWORD})
    assert re.fullmatch(r"/campaigns/new\?kept=[\w-]+", back.headers["Location"])
    form = nurse.get(back.headers["Location"]).get_data(as_text=True)
    assert "Here it is as you typed it" in form
    assert 'value="Flu shots"' in form and "Patient 1000, person1000@example.com" in form
    # Handed over once: the same address later shows an empty form.
    again = nurse.get(back.headers["Location"]).get_data(as_text=True)
    assert "Patient 1000" not in again and "Here it is" not in again


def test_only_forms_that_keep_what_was_typed_are_kept(app, anonymous):
    """A password is never kept: the staff form is not among those kept."""
    sent = anonymous.post(
        "/staff/new", data={"email": "x@example.com", "password": "a secret password", "role": "viewer"}
    )
    assert sent.status_code == 302 and "kept" not in sent.headers["Location"]


@pytest.mark.slow
@needs_chromium
def test_a_long_paste_survives_signing_out_and_in_from_another_tab(live_stack, browser: Browser):
    make_user(Role.OPERATOR, email="nurse@example.com")
    context = browser.new_context()
    form_tab = context.new_page()
    sign_in(form_tab, live_stack, "nurse@example.com")
    form_tab.goto(f"{live_stack}/campaigns/new")
    form_tab.get_by_label("Title", exact=True).fill("Flu shots")
    form_tab.get_by_label("Channel").select_option("Email")
    form_tab.get_by_label("Message", exact=True).fill("Your appointment is tomorrow.")
    form_tab.get_by_label("Recipients", exact=True).fill(PASTE)

    # Signed out and in again in another tab: the form's token is now another session's.
    other_tab = context.new_page()
    sign_out(other_tab, live_stack)
    sign_in(other_tab, live_stack, "nurse@example.com")
    form_tab.get_by_role("button", name="Create campaign").click()
    expect(form_tab.get_by_text("so it was not sent. Nothing you typed is lost")).to_be_visible()
    expect(form_tab.get_by_label("Recipients", exact=True)).to_have_value(PASTE)
    form_tab.get_by_role("button", name="Create campaign").click()
    expect(form_tab.get_by_text("Campaign created with 1,000 recipients.")).to_be_visible()

    # Signed out in another tab, then sent: Sign in first, then the form, as typed.
    form_tab.goto(f"{live_stack}/campaigns/new")
    form_tab.get_by_label("Title", exact=True).fill("Second")
    form_tab.get_by_label("Channel").select_option("Email")
    form_tab.get_by_label("Message", exact=True).fill("Hello again.")
    form_tab.get_by_label("Recipients", exact=True).fill(PASTE)
    sign_out(other_tab, live_stack)
    form_tab.get_by_role("button", name="Create campaign").click()
    expect(form_tab.get_by_test_id("form-kept-note")).to_be_visible()
    form_tab.get_by_label("Email").fill("nurse@example.com")
    form_tab.get_by_label("Password").fill(PASSWORD)
    form_tab.get_by_role("button", name="Sign in").click()
    expect(form_tab.get_by_text("Here it is as you typed it")).to_be_visible()
    expect(form_tab.get_by_label("Title", exact=True)).to_have_value("Second")
    expect(form_tab.get_by_label("Channel")).to_have_value("email")
    expect(form_tab.get_by_label("Recipients", exact=True)).to_have_value(PASTE)
    form_tab.get_by_role("button", name="Create campaign").click()
    expect(form_tab.get_by_text("Campaign created with 1,000 recipients.")).to_be_visible()


def sign_out(page: Page, base_url: str) -> None:
    """Signed out, and its answer in: the browser's cookie is the signed-out one.
    Navigating on at once would cancel the answer, which may then land after
    the next page's, or the form's tab may send before it."""
    page.goto(f"{base_url}/campaigns")
    page.get_by_test_id("signed-in-as").click()  # the account menu holds it
    page.get_by_role("button", name="Sign out", exact=True).click()
    expect(page.get_by_text("You are signed out in this browser.")).to_be_visible()


def test_a_viewer_is_never_shown_a_kept_form(app):
    viewer = signed_in(app, make_user(Role.VIEWER, email="vera@example.com"))
    assert viewer.get("/campaigns/new?kept=anything").status_code == 403
