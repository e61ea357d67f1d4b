"""Importing contacts in a real browser: upload a file with a bad row, read
the line's error in the preview, confirm, and watch the progress bar reach
the end with no reload; then download the failed row."""

import pytest
from playwright.sync_api import Browser, expect

from app.auth.models import Role
from tests.browser import needs_chromium, sign_in
from tests.factories import make_user

pytestmark = [pytest.mark.slow, needs_chromium]

ROWS = 20_000


def people() -> bytes:
    lines = ["Full name,Mobile,Email,City"]
    for i in range(ROWS):
        phone = "0712 345" if i == 5 else f"+2547{10_000_000 + i}"  # line 7: too short
        lines.append(f"Person {i} Example,{phone},person{i}@example.com,Nairobi")
    return ("\n".join(lines) + "\n").encode()


# Small batches: many progress events, over a few seconds.
@pytest.mark.stack(IMPORT_BATCH_ROWS=200)
def test_an_import_is_previewed_confirmed_and_followed_live_to_its_end(live_stack, browser: Browser, tmp_path):
    make_user(Role.OPERATOR, email="nurse@example.com")
    page = browser.new_context(accept_downloads=True).new_page()
    errors = []
    page.on("console", lambda message: message.type == "error" and errors.append(message.text))
    sign_in(page, live_stack, "nurse@example.com")
    page.goto(f"{live_stack}/contacts")
    page.get_by_role("button", name="Import contacts").click()
    page.get_by_label("CSV file").set_input_files(
        files=[{"name": "people.csv", "mimeType": "text/csv", "buffer": people()}]
    )
    page.get_by_role("button", name="Upload and preview").click()

    expect(page.get_by_test_id("preview-errors")).to_contain_text('Line 7: "0712 345" is not a valid phone number')
    expect(page.get_by_test_id("preview-row").first).to_contain_text("Person 0")
    # The mapping changes the preview as it is chosen: the city kept as an attribute instead.
    page.wait_for_load_state()  # htmx is listening
    page.get_by_label("City").select_option("attribute")
    expect(page.get_by_test_id("preview-row").first).to_contain_text("city: Nairobi")
    confirm = page.get_by_role("button", name=f"Import {ROWS:,} rows")

    navigations = []
    confirm.click()
    expect(page.get_by_test_id("import-status")).to_be_visible()
    page.on("framenavigated", lambda frame: frame == page.main_frame and navigations.append(frame.url))
    status = page.get_by_test_id("import-status").inner_text()
    assert status in ("Waiting for a worker", "Importing"), "the import ended before its page could follow it"
    expect(page.get_by_test_id("import-status")).to_have_text("Done", timeout=60_000)
    expect(page.get_by_test_id("import-progress")).to_have_text(f"Read {ROWS:,} of {ROWS:,} rows")
    expect(page.locator("progress")).to_have_attribute("value", str(ROWS))
    expect(page.get_by_test_id("failed-count")).to_have_text("1 failed")
    expect(page.get_by_test_id("created-count")).to_have_text(f"{ROWS - 1:,} created")
    assert navigations == [], "the page reloaded instead of following the import live"

    with page.expect_download() as download:
        page.get_by_test_id("failed-rows-link").click()
    saved = tmp_path / "failed.csv"
    download.value.save_as(saved)
    text = saved.read_text(encoding="utf-8-sig")
    assert (
        text.splitlines()[1]
        == '7,"""0712 345"" is not a valid phone number",Person 5 Example,0712 345,person5@example.com,Nairobi'
    )

    page.get_by_role("link", name="Back to contacts").click()
    expect(page.get_by_test_id("contact-total")).to_have_text(f"{ROWS - 1:,} contacts")
    expect(page.get_by_role("link", name="Person 19999 Example")).to_be_visible()
    assert errors == []
