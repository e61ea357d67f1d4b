"""An admin adds a webhook endpoint in the browser, keeps its secret, and
watches its delivery log fill by itself as events are sent: a test event, and a
campaign started by someone else."""

import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import ClassVar

import pytest
from playwright.sync_api import Browser, expect
from standardwebhooks import Webhook

from app.auth.models import Role
from tests.browser import needs_chromium, screenshot, sign_in
from tests.factories import make_campaign, make_user, start_campaign

pytestmark = [pytest.mark.slow, needs_chromium]


class Receiver(BaseHTTPRequestHandler):
    received: ClassVar[list[tuple[bytes, dict[str, str]]]] = []

    def do_POST(self) -> None:
        body = self.rfile.read(int(self.headers["Content-Length"]))
        self.received.append((body, {name.lower(): value for name, value in self.headers.items()}))
        self.send_response(204)
        self.end_headers()

    def log_message(self, *args) -> None:
        pass


@pytest.fixture
def receiver():
    Receiver.received = []
    server = ThreadingHTTPServer(("127.0.0.1", 0), Receiver)
    threading.Thread(target=server.serve_forever, daemon=True).start()
    yield f"http://127.0.0.1:{server.server_address[1]}/hook"
    server.shutdown()
    server.server_close()


@pytest.mark.reconciler
def test_the_delivery_log_follows_the_events_sent_without_a_reload(live_stack, browser: Browser, receiver):
    make_user(Role.ADMIN, email="chief@example.com")
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    errors: list[str] = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    sign_in(page, live_stack, "chief@example.com")
    page.goto(f"{live_stack}/webhooks")
    expect(page.get_by_text("No endpoints yet.")).to_be_visible()
    page.get_by_role("link", name="Add endpoint").first.click()
    page.get_by_label("URL").fill(receiver)
    page.get_by_label("campaign.started", exact=False).check()
    page.get_by_role("button", name="Add endpoint").click()
    secret = page.get_by_test_id("webhook-secret").input_value()
    assert secret.startswith("whsec_")
    page.get_by_role("button", name="Go to its delivery log").click()
    page.evaluate("window.__sameDocument = true")
    log = page.locator("#delivery-log")
    expect(log).not_to_contain_text("campaign.started")

    # Someone else starts a campaign: its event is sent, and the open log shows it.
    start_campaign(make_campaign(2))
    row = log.locator("tr", has_text="campaign.started")
    expect(row).to_contain_text("Delivered", timeout=20_000)
    expect(row).to_contain_text("HTTP 204")
    assert page.evaluate("window.__sameDocument") is True, "the page reloaded"
    body, headers = next((b, h) for b, h in Receiver.received if b"campaign.started" in b)
    Webhook(secret).verify(body, headers)
    screenshot(page, "webhooks-log")
    assert errors == []
