"""Delivery receipts end to end, as `make run` has them: the worker's simulated
provider owes a receipt for each message, the provider's receipts process posts
them to the web process, the reconciler applies them, and a watching page
shows each badge go Sent → Delivered (or Not delivered) without a reload."""

import re

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from app.auth.models import Role
from app.campaigns.models import Recipient
from app.extensions import db
from devtools import procfile
from tests.browser import needs_chromium, screenshot, start_dispatch
from tests.conftest import worker_env
from tests.factories import make_campaign, make_user
from tests.helpers import assert_counters_match_rows, reread, wait_for
from tests.test_live_page import assert_never_reloaded_and_no_errors, open_page

pytestmark = [pytest.mark.slow, needs_chromium]

RECEIPTS = {
    "RECEIPTS_WEBHOOK_SECRET": "browser-receipts-secret",
    # The worker's provider only asks whether receipts are wanted; the receipts
    # process, started once the web process has its port, is given the real URL.
    "PROVIDER_RECEIPTS_URL": "http://127.0.0.1:9/set-by-the-test",
    "PROVIDER_RECEIPT_DELAY_MIN": 1.0,
    "PROVIDER_RECEIPT_DELAY_MAX": 2.5,
    "PROVIDER_UNDELIVERED_RATE": 0.3,
}


@pytest.mark.reconciler
@pytest.mark.stack(**RECEIPTS)
def test_a_badge_goes_from_sent_to_delivered_live(live_stack, browser: Browser, services, tmp_path):
    env = worker_env(services, **{**RECEIPTS, "PROVIDER_RECEIPTS_URL": f"{live_stack}/webhooks/provider/status"})
    with open(tmp_path / "receipts.log", "w") as log:
        receipts = procfile.start("receipts", env, log)
        try:
            campaign = make_campaign(8, title="Clinic reminders")
            make_user(Role.OPERATOR, email="nurse@example.com")
            page = open_page(browser, live_stack, "nurse@example.com", f"/campaigns/{campaign.id}")
            start_dispatch(page)
            first = db.session.scalar(select(Recipient.id).where(Recipient.campaign_id == campaign.id).limit(1))
            badge = page.locator(f"#recipient-{first}-status")
            # Sent first, with no word yet on whether it arrived; then the receipt's word.
            # (The receipt comes at least a second after the provider accepted the message.)
            expect(badge).to_have_text("Sent", timeout=20_000)
            expect(badge.get_by_test_id("delivery")).to_have_text(re.compile(r"^(Not d|D)elivered$"), timeout=20_000)

            def all_receipts_in() -> bool:
                db.session.expire_all()
                counted = reread(campaign)
                return counted.status == "completed" and (
                    counted.delivered_count + counted.undelivered_count == counted.sent_count
                )

            wait_for(
                all_receipts_in, 60, "every sent message's receipt", lambda: (tmp_path / "receipts.log").read_text()
            )
            campaign = reread(campaign)
            assert_counters_match_rows(campaign)
            expect(page.get_by_test_id("delivery-counts")).to_contain_text(f"{campaign.delivered_count} delivered")
            for recipient in db.session.scalars(select(Recipient).where(Recipient.campaign_id == campaign.id)):
                shown = page.locator(f"#recipient-{recipient.id}-status")
                if shown.count() == 0:
                    continue  # on the other page of recipients
                word = {"delivered": "Delivered", "undelivered": "Not delivered"}[recipient.delivery]
                expect(shown.get_by_test_id("delivery")).to_have_text(word)
                if recipient.delivery == "undelivered":
                    expect(shown).to_contain_text(recipient.delivery_error)
            screenshot(page, "receipts-campaign")
            assert_never_reloaded_and_no_errors(page)
        finally:
            procfile.stop(receipts, timeout=3)
