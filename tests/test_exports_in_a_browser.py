"""Export CSV in a real browser: a viewer picks a status tab and a search on a
campaign's page, presses Export CSV from the keyboard and gets the file of
exactly those recipients, every page of them; the contacts list's export
carries its filters the same way."""

import re

import pytest
from playwright.sync_api import Browser, expect
from sqlalchemy import text

from app.auth.models import Role
from app.contacts.models import Contact
from app.extensions import db
from tests.browser import goto_live, needs_chromium, sign_in
from tests.exports import HEADER, in_database, rows_of, sent_through
from tests.factories import make_campaign, make_user

pytestmark = [pytest.mark.slow, needs_chromium]


def test_export_downloads_the_rows_of_the_tab_and_search_shown(live_stack, browser: Browser, tmp_path):
    make_user(Role.VIEWER, email="viewer@example.com")
    campaign = make_campaign(40, title="Clinic reminder")
    sent_through(campaign)
    db.session.execute(text("UPDATE campaigns SET status = 'completed' WHERE id = :id"), {"id": campaign.id})
    gold = {"plan": "gold"}
    db.session.add(Contact(phone="+254712000001", first_name="Wanjiru", location="Nairobi", attributes=gold))
    db.session.add(Contact(phone="+254712000002", first_name="Otieno", location="Kisumu"))
    db.session.commit()
    context = browser.new_context(accept_downloads=True)
    page = context.new_page()
    errors = []
    context.on("console", lambda message: message.type == "error" and errors.append(message.text))
    sign_in(page, live_stack, "viewer@example.com")
    # Live: its first reload done, so the tab's click does not cut one short.
    goto_live(page, f"{live_stack}/campaigns/{campaign.id}")
    page.get_by_role("link", name=re.compile(r"^Failed")).click()
    expect(page).to_have_url(re.compile(r"status=failed"))
    page.get_by_label(re.compile("Search recipients")).press_sequentially("person", delay=30)
    expect(page).to_have_url(re.compile(r"\?q=person&status=failed$"))
    expect(page.locator(".recipients tbody tr")).to_have_count(5)

    export = page.get_by_role("link", name="Export CSV")
    expect(export).to_have_attribute("href", re.compile(r"recipients\.csv\?status=failed&q=person$"))
    export.focus()
    with page.expect_download() as download:
        page.keyboard.press("Enter")
    assert re.fullmatch(r"clinic-reminder-\d{4}-\d{2}-\d{2}\.csv", download.value.suggested_filename)
    saved = tmp_path / "recipients.csv"
    download.value.save_as(saved)
    rows = rows_of(saved.read_bytes())
    # Every third line failed: 13 of them, on three pages of five.
    assert rows[0] == HEADER
    assert rows[1:] == in_database(campaign, "failed", "person") and len(rows) == 14

    # In a page of its own: leaving the live page could cut short a reload it makes by itself.
    listing = context.new_page()
    listing.goto(f"{live_stack}/contacts?location=Nairobi")
    with listing.expect_download() as download:
        listing.get_by_role("link", name="Export CSV").click()
    contacts = download.value.path().read_text(encoding="utf-8-sig").splitlines()
    assert contacts[0].split(",")[-1] == "plan" and len(contacts) == 2
    assert contacts[1].startswith("Wanjiru,,'+254712000001,")
    assert errors == []
