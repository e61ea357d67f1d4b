"""A personal message in a real browser: type a template and watch the
preview follow, read the numbers in Start's dialog, and find each recipient's
own text once sent."""

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import select

from app.auth.models import Role
from app.campaigns.models import Campaign, Recipient
from app.extensions import db
from tests.browser import MARK_BLOCK_RELOADED, needs_chromium, sign_in
from tests.factories import make_user
from tests.helpers import reread

pytestmark = [pytest.mark.slow, needs_chromium]


@pytest.mark.stack(SMS_PRICE=0.01, PRICE_CURRENCY="EUR")
def test_a_template_is_previewed_priced_and_sent_as_each_recipient_s_own_text(live_stack, browser: Browser):
    make_user(Role.OPERATOR, email="nurse@example.com")
    page = browser.new_context().new_page()
    page.add_init_script(MARK_BLOCK_RELOADED)
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    sign_in(page, live_stack, "nurse@example.com")
    page.goto(f"{live_stack}/campaigns/new")
    page.get_by_label("Title", exact=True).fill("Clinic")
    page.get_by_label("Recipients", exact=True).fill("Ada Lovelace, +1 202 555 0143\n+1 202 555 0144")
    expect(page.get_by_label("Subject")).to_be_hidden()  # SMS: no subject

    message = page.get_by_label("Message", exact=True)
    message.fill("Hi {first_name}, see you")
    preview = page.get_by_test_id("preview-message")
    expect(preview.first).to_contain_text("Hi Ada, see you")
    # The second line has no name, and {first_name} no fallback: marked.
    expect(preview.nth(1).locator("mark.empty-placeholder")).to_have_text("{first_name}")
    message.fill("Hi {first_name|there}, see you tomorrow at 10 ✓")
    expect(preview.nth(1)).to_contain_text("Hi there, see you tomorrow at 10 ✓")
    expect(preview.nth(1).locator("mark")).to_have_count(0)
    expect(page.get_by_test_id("preview-range")).to_contain_text("1 segment a message (UCS-2), 2 segments in all.")

    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_text("Campaign created with 2 recipients.")).to_be_visible()
    expect(page.get_by_test_id("rendered").first).to_have_text("Hi Ada, see you tomorrow at 10 ✓")

    # Pressed before the page's scripts are up, Start dispatch is the page without JavaScript's.
    expect(page.locator("body[data-block-reloaded]")).to_be_attached()
    page.get_by_role("button", name="Start dispatch").click()
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Send to 2 recipients: 2 SMS messages, 2 segments in all, about 0.020 EUR.")
    dialog.get_by_role("button", name="Send to 2 recipients").click()
    expect(page.get_by_test_id("campaign-status")).to_have_text("Completed", timeout=30_000)

    campaign = db.session.scalar(select(Campaign).where(Campaign.title == "Clinic"))
    assert str(reread(campaign).estimated_cost) == "0.0200"
    second = db.session.scalar(select(Recipient.id).where(Recipient.line == 2))
    page.goto(f"{live_stack}/campaigns/{campaign.id}/recipients/{second}")
    expect(page.get_by_test_id("rendered-content")).to_have_text("Hi there, see you tomorrow at 10 ✓")
    assert errors == []
