"""The API tokens page (/account/tokens) and the API reference page."""

import re

import pytest
from playwright.sync_api import Page, expect

from app.auth.models import Role
from app.tokens import models as tokens
from tests.browser import needs_chromium, sign_in
from tests.conftest import signed_in
from tests.factories import make_user


def _create(client, name: str = "CRM sync"):
    return client.post("/account/tokens", data={"name": name})


def test_a_new_token_is_shown_once_and_works(app):
    user = make_user(Role.VIEWER, email="vi@example.com")
    client = signed_in(app, user)
    page = _create(client).get_data(as_text=True)
    secret = re.search(r'value="(cdt_[^"]+)"', page).group(1)
    assert app.test_client().get("/api/v1/campaigns", headers={"Authorization": f"Bearer {secret}"}).status_code == 200
    listed = client.get("/account/tokens").get_data(as_text=True)
    assert "CRM sync" in listed and secret not in listed
    assert "Set-Cookie" not in _create(client, "second").headers or secret not in str(client.get_cookie("session"))


def test_a_token_needs_a_name(app):
    client = signed_in(app, make_user(Role.VIEWER))
    response = _create(client, "  ")
    assert response.status_code == 400 and tokens.active_of() == []


def test_revoking_refuses_the_token_and_is_in_the_history(app):
    admin = make_user(Role.ADMIN, email="root@example.com")
    op = make_user(Role.OPERATOR, email="op@example.com")
    issued = tokens.create(op, "deploy", actor=op)
    from app.extensions import db

    db.session.commit()
    op_client = signed_in(app, op)
    assert "deploy" in op_client.get("/account/tokens").get_data(as_text=True)
    admin_client = signed_in(app, admin)
    everyone = admin_client.get("/account/tokens").get_data(as_text=True)
    assert "op@example.com" in everyone and "Everyone" in everyone
    response = admin_client.post(f"/account/tokens/{issued.token.id}/revoke")
    assert response.status_code == 302
    assert tokens.authenticate(issued.secret) is None
    history = admin_client.get("/account/tokens").get_data(as_text=True)
    assert "Revoked an API token" in history and "Created an API token" in history


def test_only_an_admin_may_revoke_someone_elses_token(app):
    owner = make_user(Role.OPERATOR, email="owner@example.com")
    issued = tokens.create(owner, "mine", actor=owner)
    from app.extensions import db

    db.session.commit()
    other = signed_in(app, make_user(Role.OPERATOR, email="other@example.com"))
    assert other.post(f"/account/tokens/{issued.token.id}/revoke").status_code == 403
    assert "mine" not in other.get("/account/tokens").get_data(as_text=True)
    assert tokens.authenticate(issued.secret) is not None


@pytest.mark.slow
@needs_chromium
def test_the_tokens_page_and_the_reference_work_under_the_csp(live_stack, page: Page):
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    make_user(Role.OPERATOR, email="dev@example.com")
    sign_in(page, live_stack, "dev@example.com")
    page.get_by_test_id("signed-in-as").click()
    page.get_by_role("link", name="API tokens").click()
    page.get_by_label("Name").fill("Laptop")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("token-value")).to_have_value(re.compile(r"^cdt_.{43}$"))
    page.get_by_role("button", name="Revoke Laptop").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.get_by_role("dialog").get_by_role("button", name="Keep it").click()
    expect(page.get_by_test_id("api-token")).to_have_count(1)
    page.get_by_role("button", name="Revoke Laptop").click()
    page.get_by_role("dialog").get_by_role("button", name="Revoke token").click()
    expect(page.get_by_text("Token “Laptop” of dev@example.com revoked")).to_be_visible()
    expect(page.get_by_test_id("api-token")).to_have_count(0)
    page.goto(f"{live_stack}/account/api-reference")
    expect(page.get_by_text("Campaign Dispatcher API").first).to_be_visible(timeout=15_000)
    expect(page.get_by_text("/api/v1/campaigns").first).to_be_visible()
    assert not errors, errors


@pytest.mark.slow
@needs_chromium
def test_revoke_asks_first_even_before_the_page_s_scripts_have_run(live_stack, page: Page):
    # CI once clicked Revoke between the page being parsed and its deferred
    # scripts running: nothing opened. The button now needs no script of ours.
    make_user(Role.OPERATOR, email="dev@example.com")
    sign_in(page, live_stack, "dev@example.com")
    page.goto(f"{live_stack}/account/tokens")
    page.get_by_label("Name").fill("Laptop")
    page.get_by_role("button", name="Create token").click()
    expect(page.get_by_test_id("token-value")).to_be_visible()
    page.route("**/static/forms.js*", lambda route: route.abort())
    page.goto(f"{live_stack}/account/tokens")
    page.get_by_role("button", name="Revoke Laptop").click()
    expect(page.get_by_role("dialog")).to_be_visible()
    page.keyboard.press("Escape")
    expect(page.get_by_role("dialog")).to_be_hidden()
    expect(page.get_by_test_id("api-token")).to_have_count(1)
