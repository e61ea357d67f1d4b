"""Every endpoint refuses the signed-out, and each role may do exactly what it should."""

import io

import pytest
from flask import url_for
from sqlalchemy import select

from app.auth import access
from app.auth.access import PUBLIC, required_role
from app.auth.models import Role
from app.campaigns.models import Recipient
from app.contacts import importing
from app.contacts.models import Contact, ContactChange
from app.extensions import db
from app.hooks import endpoints as webhook_endpoints
from app.hooks import outbox
from app.optouts.models import OptOut
from app.saved_templates.models import SavedTemplate
from app.segments.models import Segment
from app.tokens import models as api_tokens
from tests.conftest import signed_in
from tests.factories import make_campaign, make_user

# The only endpoints anyone may reach without signing in. The inbound webhook
# takes only signed requests instead (tests/test_inbound_webhook.py), and
# /metrics only loopback or its token (tests/test_metrics.py).
PUBLIC_ENDPOINTS = {
    "static",
    "auth.sign_in",
    "health",
    "ready",
    "webhooks.inbound",
    "receipts.provider_status",
    "metrics",
}

# The least role each endpoint needs. A route added without an entry here fails
# test_every_endpoint_is_in_the_role_matrix, so its access is always decided.
ROLE_MATRIX = {
    "auth.sign_out": Role.VIEWER,
    "auth.sign_out_everywhere": Role.VIEWER,
    "dashboard.index": Role.VIEWER,
    "campaigns.index": Role.VIEWER,
    "campaigns.now": Role.VIEWER,
    "campaigns.show": Role.VIEWER,
    "campaigns.recipient": Role.VIEWER,
    "exports.recipients": Role.VIEWER,
    "exports.contacts": Role.VIEWER,
    "live.events": Role.VIEWER,
    "users.change_password": Role.VIEWER,
    "users.account": Role.VIEWER,
    "users.test_addresses": Role.VIEWER,
    "saved_templates.index": Role.VIEWER,
    "contacts.index": Role.VIEWER,
    "contacts.show": Role.VIEWER,
    "contacts.new": Role.OPERATOR,
    "contacts.edit": Role.OPERATOR,
    "contacts.delete": Role.OPERATOR,
    "contacts.confirm_bulk": Role.OPERATOR,
    "contacts.bulk_change": Role.OPERATOR,
    "contacts.change": Role.VIEWER,
    "contacts.retry_change": Role.OPERATOR,
    "segments.index": Role.VIEWER,
    "segments.size": Role.VIEWER,
    "segments.new": Role.OPERATOR,
    "segments.edit": Role.OPERATOR,
    "segments.delete": Role.OPERATOR,
    "optouts.index": Role.VIEWER,
    "optouts.add": Role.OPERATOR,
    "optouts.remove": Role.OPERATOR,
    "imports.index": Role.VIEWER,
    "imports.show": Role.VIEWER,
    "imports.failed_rows": Role.VIEWER,
    "imports.new": Role.OPERATOR,
    "imports.preview": Role.OPERATOR,
    "imports.start": Role.OPERATOR,
    "imports.retry": Role.OPERATOR,
    "saved_templates.new": Role.OPERATOR,
    "saved_templates.edit": Role.OPERATOR,
    "saved_templates.delete": Role.OPERATOR,
    "campaigns.new": Role.OPERATOR,
    "campaigns.preview": Role.OPERATOR,
    "campaigns.audience_size": Role.OPERATOR,
    "campaigns.start": Role.OPERATOR,
    "campaigns.confirm_start": Role.OPERATOR,
    "campaigns.schedule": Role.OPERATOR,
    "campaigns.unschedule": Role.OPERATOR,
    "campaigns.pause": Role.OPERATOR,
    "campaigns.resume": Role.OPERATOR,
    "campaigns.cancel": Role.OPERATOR,
    "campaigns.edit": Role.OPERATOR,
    "campaigns.delete": Role.OPERATOR,
    "campaigns.retry_failed": Role.OPERATOR,
    "test_sends.send": Role.OPERATOR,
    "tokens.index": Role.VIEWER,
    "tokens.create": Role.VIEWER,
    "tokens.revoke": Role.VIEWER,
    "tokens.reference": Role.VIEWER,
    "tokens.reference_document": Role.VIEWER,
    "users.index": Role.ADMIN,
    "users.new": Role.ADMIN,
    "users.change_role": Role.ADMIN,
    "users.deactivate": Role.ADMIN,
    "users.reactivate": Role.ADMIN,
    "operations.index": Role.ADMIN,
    "hooks.index": Role.ADMIN,
    "hooks.new": Role.ADMIN,
    "hooks.show": Role.ADMIN,
    "hooks.pause": Role.ADMIN,
    "hooks.resume": Role.ADMIN,
    "hooks.delete": Role.ADMIN,
    "hooks.send_test": Role.ADMIN,
    "hooks.resend": Role.ADMIN,
}


URLS = ("http://127.0.0.1:9/hook", "http://127.0.0.1:9/other")

# Requests a page makes by itself (``@background``).
BACKGROUND_ENDPOINTS = {"campaigns.preview", "campaigns.audience_size", "imports.preview", "segments.size"}


def endpoints(app):
    """(endpoint, method, url) for every route, with ids that exist."""
    with app.test_request_context():
        for rule in app.url_map.iter_rules():
            # The JSON API answers with problems, not redirects: tests/test_api_basics.py.
            if rule.endpoint == "static" or rule.endpoint.startswith("api."):
                continue
            values = {name: 1 for name in rule.arguments}
            for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
                yield rule.endpoint, method, url_for(rule.endpoint, **values)


def test_every_endpoint_is_in_the_role_matrix(app):
    found = {endpoint for endpoint, _, _ in endpoints(app)}
    assert found - PUBLIC_ENDPOINTS == set(ROLE_MATRIX)
    with app.app_context():
        for endpoint, role in ROLE_MATRIX.items():
            assert required_role(endpoint) == role, endpoint
        for endpoint in PUBLIC_ENDPOINTS:
            assert required_role(endpoint) == PUBLIC


def test_every_endpoint_but_sign_in_static_and_health_refuses_an_anonymous_request(app, anonymous):
    checked = 0
    for endpoint, method, url in endpoints(app):
        if endpoint in PUBLIC_ENDPOINTS:
            continue
        if endpoint in BACKGROUND_ENDPOINTS:
            # A page's own request: a plain 401, never a redirect away from the page.
            for headers in ({"Accept": "text/html"}, {"HX-Request": "true"}):
                refused = anonymous.open(url, method=method, headers=headers)
                assert refused.status_code == 401 and "HX-Redirect" not in refused.headers, (method, url)
            checked += 1
            continue
        page = anonymous.open(url, method=method, headers={"Accept": "text/html"})
        assert page.status_code == 302, (method, url)
        assert page.headers["Location"].startswith("/sign-in"), (method, url)
        fragment = anonymous.open(
            url, method=method, headers={"HX-Request": "true", "HX-Current-URL": "http://localhost/campaigns/1"}
        )
        assert fragment.status_code == 401, (method, url)
        assert fragment.headers["HX-Redirect"] == "/sign-in?next=/campaigns/1", (method, url)
        other = anonymous.open(url, method=method, headers={"Accept": "application/json"})
        assert other.status_code == 401, (method, url)
        checked += 1
    assert checked >= len(ROLE_MATRIX)


def test_public_endpoints_answer_without_signing_in(anonymous):
    assert anonymous.get("/sign-in").status_code == 200
    assert anonymous.get("/healthz").get_data(as_text=True) == "ok\n"
    assert anonymous.get("/readyz").mimetype == "application/json"
    assert anonymous.get("/static/app.css").status_code == 200


def test_the_event_stream_answers_401_to_the_signed_out(anonymous):
    response = anonymous.get("/stream?channel=campaign-1", headers={"Accept": "text/event-stream"})
    assert response.status_code == 401
    assert response.mimetype == "text/plain"


def test_an_endpoint_without_an_access_rule_is_refused_to_everyone(app, monkeypatch):
    """Default deny: a view that declares no role is 403 even for an admin."""
    admin = signed_in(app, make_user(Role.ADMIN, email="root@example.com"))
    monkeypatch.delitem(access.RULES, app.view_functions["campaigns.index"])
    response = admin.get("/campaigns")
    assert response.status_code == 403
    assert "no access rule" in response.get_data(as_text=True)


def action_allowed(endpoint: str, response) -> bool:
    if response.status_code == 403:
        return False
    # Signing out is the one action whose success leads to Sign in.
    if endpoint not in ("auth.sign_out", "auth.sign_out_everywhere"):
        assert response.status_code != 401 and "/sign-in" not in response.headers.get("Location", ""), response
    return True


@pytest.mark.parametrize("role", list(Role))
def test_role_matrix(app, role):
    """Each role × each action: allowed exactly when the role is at least the one needed."""
    campaign = make_campaign(2)
    target = make_user(Role.VIEWER, email="target@example.com")
    user = make_user(role, email=f"acting-{role.value}@example.com")
    client = signed_in(app, user)
    first_recipient = db.session.scalars(select(Recipient.id).where(Recipient.campaign_id == campaign.id)).first()
    template = SavedTemplate(name="T", channel="sms", message="Hi")
    contact, other_contact = Contact(phone="+12025550100"), Contact(phone="+12025550101")
    opt_out = OptOut(channel="sms", address="+12025550103", source="staff")
    segment, other_segment = Segment(name="Gold", filters={"attribute": ["plan=gold"]}), Segment(name="Tea")
    stopped = ContactChange(action="delete", filters={"location": "Nowhere"}, status="failed", error="test")
    db.session.add_all([template, contact, other_contact, opt_out, segment, other_segment, stopped])
    contact_import = importing.store(io.BytesIO(b"phone\n+12025550102\n"), "t.csv", actor=None)
    db.session.commit()
    imported = f"/contacts/imports/{contact_import.id}"
    own_token = api_tokens.create(user, "mine", actor=user).token
    hook, other_hook = (webhook_endpoints.register(url, "", ["campaign.started"], actor=None) for url in URLS)
    sent = outbox.add_test(hook, actor="someone")
    db.session.commit()
    actions = {
        "dashboard.index": ("GET", "/"),
        "campaigns.index": ("GET", "/campaigns"),
        "campaigns.now": ("GET", "/campaigns/now"),
        "campaigns.show": ("GET", f"/campaigns/{campaign.id}"),
        "live.events": ("GET", f"/stream?channel=campaign-{campaign.id}"),
        "users.change_password": ("GET", "/account/password"),
        "users.account": ("GET", "/account"),
        "users.test_addresses": ("POST", "/account/test-addresses"),
        "campaigns.new": ("POST", "/campaigns/new"),
        "campaigns.preview": ("POST", "/campaigns/preview"),
        "campaigns.audience_size": ("POST", "/campaigns/audience"),
        "campaigns.recipient": ("GET", f"/campaigns/{campaign.id}/recipients/{first_recipient}"),
        "exports.recipients": ("GET", f"/campaigns/{campaign.id}/recipients.csv?status=queued"),
        "exports.contacts": ("GET", "/contacts/export.csv?q=example"),
        "campaigns.confirm_start": ("GET", f"/campaigns/{campaign.id}/start"),
        "campaigns.schedule": ("POST", f"/campaigns/{campaign.id}/schedule"),
        "campaigns.unschedule": ("POST", f"/campaigns/{campaign.id}/unschedule"),
        "campaigns.start": ("POST", f"/campaigns/{campaign.id}/start"),
        "campaigns.pause": ("POST", f"/campaigns/{campaign.id}/pause"),
        "campaigns.resume": ("POST", f"/campaigns/{campaign.id}/resume"),
        "campaigns.retry_failed": ("POST", f"/campaigns/{campaign.id}/retry-failed"),
        "test_sends.send": ("POST", f"/campaigns/{campaign.id}/send-test"),
        "campaigns.cancel": ("POST", f"/campaigns/{campaign.id}/cancel"),
        "campaigns.edit": ("GET", f"/campaigns/{campaign.id}/edit"),
        "campaigns.delete": ("POST", f"/campaigns/{campaign.id}/delete"),
        "contacts.index": ("GET", "/contacts"),
        "contacts.show": ("GET", f"/contacts/{contact.id}"),
        "contacts.new": ("POST", "/contacts/new"),
        "contacts.edit": ("GET", f"/contacts/{contact.id}/edit"),
        "contacts.delete": ("POST", f"/contacts/{other_contact.id}/delete"),
        "contacts.confirm_bulk": ("GET", "/contacts/bulk?location=Nowhere&change=delete"),
        "contacts.bulk_change": ("POST", "/contacts/bulk"),
        "contacts.change": ("GET", f"/contacts/changes/{stopped.id}"),
        "contacts.retry_change": ("POST", f"/contacts/changes/{stopped.id}/retry"),
        "segments.index": ("GET", "/segments"),
        "segments.size": ("GET", f"/segments/{segment.id}/size"),
        "segments.new": ("POST", "/segments/new?location=Nairobi"),
        "segments.edit": ("GET", f"/segments/{segment.id}/edit"),
        "segments.delete": ("POST", f"/segments/{other_segment.id}/delete"),
        "optouts.index": ("GET", "/opt-outs"),
        "optouts.add": ("POST", "/opt-outs"),
        "optouts.remove": ("POST", f"/opt-outs/{opt_out.id}/remove"),
        "imports.index": ("GET", "/contacts/imports"),
        "imports.show": ("GET", imported),
        "imports.failed_rows": ("GET", f"{imported}/failed-rows.csv"),
        "imports.new": ("GET", "/contacts/imports/new"),
        "imports.preview": ("POST", f"{imported}/preview"),
        "imports.start": ("POST", f"{imported}/start"),
        "imports.retry": ("POST", f"{imported}/retry"),
        "saved_templates.index": ("GET", "/templates"),
        "saved_templates.new": ("POST", "/templates/new"),
        "saved_templates.edit": ("GET", f"/templates/{template.id}/edit"),
        "saved_templates.delete": ("POST", f"/templates/{template.id}/delete"),
        "tokens.index": ("GET", "/account/tokens"),
        "tokens.create": ("POST", "/account/tokens"),
        "tokens.revoke": ("POST", f"/account/tokens/{own_token.id}/revoke"),
        "tokens.reference": ("GET", "/account/api-reference"),
        "tokens.reference_document": ("GET", "/account/api-reference/openapi.json"),
        "users.index": ("GET", "/staff"),
        "users.new": ("POST", "/staff/new"),
        "users.change_role": ("POST", f"/staff/{target.id}/role"),
        "users.deactivate": ("POST", f"/staff/{target.id}/deactivate"),
        "users.reactivate": ("POST", f"/staff/{target.id}/reactivate"),
        "operations.index": ("GET", "/operations"),
        "hooks.index": ("GET", "/webhooks"),
        "hooks.new": ("GET", "/webhooks/new"),
        "hooks.show": ("GET", f"/webhooks/{hook.id}"),
        "hooks.pause": ("POST", f"/webhooks/{hook.id}/pause"),
        "hooks.resume": ("POST", f"/webhooks/{hook.id}/resume"),
        "hooks.send_test": ("POST", f"/webhooks/{hook.id}/test"),
        "hooks.resend": ("POST", f"/webhooks/{hook.id}/deliveries/{sent.id}/resend"),
        "hooks.delete": ("POST", f"/webhooks/{other_hook.id}/delete"),
        # Last: it ends the session.
        "auth.sign_out_everywhere": ("POST", "/sign-out-everywhere"),
        "auth.sign_out": ("POST", "/sign-out"),
    }
    assert set(actions) == set(ROLE_MATRIX)
    for endpoint, (method, url) in actions.items():
        data = {"role": "operator"} if endpoint == "users.change_role" else {}
        response = client.open(url, method=method, data=data, buffered=False)
        allowed = action_allowed(endpoint, response)
        response.close()
        assert allowed == role.allows(ROLE_MATRIX[endpoint]), (role, endpoint, response.status_code)


def test_a_role_failure_is_a_clear_403_page_and_an_htmx_notice(app):
    viewer = signed_in(app, make_user(Role.VIEWER, email="vera@example.com"))
    campaign = make_campaign(1)
    page = viewer.post(f"/campaigns/{campaign.id}/start")
    assert page.status_code == 403
    assert "You are signed in as viewer, and this needs the operator role." in page.get_data(as_text=True)
    fragment = viewer.post(f"/campaigns/{campaign.id}/start", headers={"HX-Request": "true"})
    assert fragment.status_code == 403
    assert fragment.headers["HX-Retarget"] == "#notices"
    assert "this needs the operator role" in fragment.get_data(as_text=True)


def test_viewers_are_not_offered_actions_they_cannot_take(app):
    viewer = signed_in(app, make_user(Role.VIEWER, email="vera@example.com"))
    campaign = make_campaign(1)
    page = viewer.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Start dispatch" not in page
    assert "waits for an operator" in page
    listing = viewer.get("/campaigns").get_data(as_text=True)
    assert "New campaign" not in listing and "Staff" not in listing
