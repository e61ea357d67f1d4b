"""Every page, as a new member of staff meets it: no accessibility violation
axe-core can find, no sideways scrolling on a phone-sized screen, and focus
where the next key press is expected."""

import io

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select, text

from app import jobqueue
from app.auth.models import Role
from app.campaigns import live
from app.campaigns.models import Recipient
from app.contacts import importing
from app.contacts.models import Contact, ContactImport
from app.extensions import db
from app.hooks import endpoints, outbox
from app.optouts.models import OptOut
from app.saved_templates.models import SavedTemplate
from app.segments.models import Segment
from devtools.procfile import ROOT
from tests.browser import goto_live, needs_chromium, sign_in
from tests.factories import make_campaign, make_started_campaign, make_user
from tests.helpers import reread, wait_for

pytestmark = [pytest.mark.slow, needs_chromium]

AXE = (ROOT / "node_modules" / "axe-core" / "axe.min.js").read_text()
PHONE = {"width": 390, "height": 844}
DESKTOP = {"width": 1280, "height": 900}


def reread_import(contact_import: ContactImport) -> ContactImport:
    db.session.commit()
    db.session.refresh(contact_import)
    return contact_import


def violations(page: Page) -> list[str]:
    """What axe-core finds on the page as it is now, one line each."""
    page.evaluate(AXE)
    found = page.evaluate("axe.run().then((result) => result.violations)")
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])}× e.g. {v['nodes'][0]['target']})" for v in found]


def sideways(page: Page) -> int:
    """How far the page itself scrolls sideways, in pixels (a table may scroll inside its box)."""
    return page.evaluate("document.documentElement.scrollWidth - window.innerWidth")


@pytest.mark.stack(PROVIDER_FAILURE_RATE=0.3)
def test_every_page_has_no_axe_violation_and_fits_a_phone(live_stack, browser: Browser):
    make_user(Role.ADMIN, email="admin@example.com")
    make_user(Role.VIEWER, email="vera@example.com")
    draft = make_campaign(3, title="A draft")
    sent = make_started_campaign(8, title="Sent already")
    wait_for(lambda: reread(sent).status == "completed", 30, "the campaign to be sent")
    recipient = db.session.scalar(select(Recipient.id).where(Recipient.campaign_id == sent.id).limit(1))
    template = SavedTemplate(name="Reminder", channel="email", subject="For {first_name}", message="See you.")
    contact = Contact(phone="+12025550143", first_name="Ada", location="London", attributes={"plan": "gold"})
    opt_out = OptOut(channel="whatsapp", address="+12025550143", source="reply", note="replied STOP")
    segment = Segment(name="Gold in London", filters={"location": "London", "attribute": ["plan=gold"]})
    db.session.add_all([template, contact, opt_out, segment])
    hook = endpoints.register("http://127.0.0.1:9/hook", "The CRM", ["campaign.started"], actor=None)
    outbox.add_test(hook, actor="admin@example.com")
    people = b"phone,first name,plan\n+12025550150,Bo,gold\n12,Bad,\n"
    finished = importing.store(io.BytesIO(people), "people.csv", actor=None)
    waiting = importing.store(io.BytesIO(people), "later.csv", actor=None)
    db.session.commit()
    assert importing.start(finished, finished.mapping)
    db.session.commit()
    jobqueue.enqueue_import(finished.id)
    wait_for(lambda: reread_import(finished).status == "done", 30, "the import to finish")
    pages = {
        "sign in": "/sign-in",
        "dashboard": "/",
        "dashboard, 7 days": "/?days=7",
        "campaigns": "/campaigns",
        "campaigns with more filters set": "/campaigns?channel=email&sort=oldest",
        "a draft": f"/campaigns/{draft.id}",
        "a completed campaign": f"/campaigns/{sent.id}",
        "its failed tab": f"/campaigns/{sent.id}?status=failed",
        "a recipient's attempts": f"/campaigns/{sent.id}/recipients/{recipient}",
        "new campaign": "/campaigns/new",
        "editing a draft": f"/campaigns/{draft.id}/edit",
        "start dispatch, without JavaScript's dialog": f"/campaigns/{draft.id}/start",
        "contacts": "/contacts",
        "a contact search that finds none": "/contacts?q=nobody",
        "filtered contacts, an attribute column, a bad filter": "/contacts?location=London&column=plan&opted_out=x",
        "segments": "/segments",
        "saving filters as a segment": "/segments/new?location=London&attribute=plan%3Dgold",
        "renaming a segment": f"/segments/{segment.id}/edit",
        "add contact": "/contacts/new",
        "a contact": f"/contacts/{contact.id}",
        "editing a contact": f"/contacts/{contact.id}/edit",
        "opt-outs": "/opt-outs",
        "an opt-out search that finds none": "/opt-outs?q=nobody",
        "its skipped tab": f"/campaigns/{sent.id}?status=skipped",
        "imports": "/contacts/imports",
        "import contacts": "/contacts/imports/new",
        "an import's columns and preview": f"/contacts/imports/{waiting.id}",
        "a finished import with a failed row": f"/contacts/imports/{finished.id}",
        "templates": "/templates",
        "new template": "/templates/new",
        "editing a template": f"/templates/{template.id}/edit",
        "a campaign from a template": f"/campaigns/new?template={template.id}",
        "staff": "/staff",
        "add a staff member": "/staff/new",
        "change password": "/account/password",
        "operations": "/operations",
        "webhooks": "/webhooks",
        "add a webhook endpoint": "/webhooks/new",
        "a webhook endpoint and its delivery log": f"/webhooks/{hook.id}",
        "not found": "/campaigns/999999",
    }
    found = {}
    for size in (DESKTOP, PHONE):
        context = browser.new_context(viewport=size, bypass_csp=True)  # axe runs as an injected script
        page = context.new_page()
        for name, path in pages.items():
            if name != "sign in" and "signed-in-as" not in page.content():
                sign_in(page, live_stack, "admin@example.com")
            page.goto(f"{live_stack}{path}")
            page.wait_for_load_state()
            if problems := violations(page):
                found[f"{name} at {size['width']} px"] = problems
            if size is PHONE:
                assert sideways(page) <= 0, f"{name} scrolls sideways at 390 px"
        # A failed form, with its errors shown.
        page.goto(f"{live_stack}/campaigns/new")
        page.get_by_role("button", name="Create campaign").click()
        if problems := violations(page):
            found[f"a refused form at {size['width']} px"] = problems
        page.goto(f"{live_stack}/opt-outs")
        page.get_by_text("Opt out an address").click()
        page.get_by_role("button", name="Opt out", exact=True).click()
        # The refusal has arrived, not the page between the two.
        expect(page.locator('[aria-invalid="true"]').first).to_be_visible()
        if problems := violations(page):
            found[f"a refused opt-out at {size['width']} px"] = problems
        if size is PHONE:
            page.goto(f"{live_stack}/campaigns")
            page.get_by_role("button", name="Menu").click()
            expect(page.get_by_role("link", name="Contacts", exact=True)).to_be_visible()
            if problems := violations(page):
                found["the menu open at 390 px"] = problems
            assert sideways(page) <= 0, "the menu open scrolls sideways at 390 px"
        page.goto(f"{live_stack}/contacts/imports/new")
        page.get_by_label("CSV file").set_input_files(
            files=[{"name": "photo.csv", "mimeType": "text/csv", "buffer": b"\x89PNG\r\n\x1a\n"}]
        )
        page.get_by_role("button", name="Upload and preview").click()
        expect(page.get_by_text("it looks like a PNG image")).to_be_visible()
        if problems := violations(page):
            found[f"a refused upload at {size['width']} px"] = problems
        if size is PHONE:
            assert sideways(page) <= 0, "a refused upload scrolls sideways at 390 px"
        context.close()
    assert found == {}


@pytest.mark.stack(PROVIDER_LATENCY_MIN=2.0, PROVIDER_LATENCY_MAX=3.0)
def test_focus_goes_to_the_first_error_and_to_the_controls_after_a_press(live_stack, browser: Browser):
    make_user(Role.OPERATOR, email="nurse@example.com")
    page = browser.new_context(viewport=DESKTOP).new_page()
    sign_in(page, live_stack, "nurse@example.com")
    page.goto(f"{live_stack}/campaigns/new")
    expect(page.get_by_label("Title", exact=True)).to_be_focused()
    page.get_by_label("Title", exact=True).fill("Flu shots")
    page.get_by_label("Message", exact=True).fill("Hello")
    page.get_by_label("Recipients", exact=True).fill("Bad line, 12345")
    page.get_by_role("button", name="Create campaign").click()
    expect(page.get_by_label("Recipients", exact=True)).to_be_focused()

    campaign = make_campaign(20, title="By keyboard")
    goto_live(page, f"{live_stack}/campaigns/{campaign.id}")
    page.get_by_role("button", name="Start dispatch").focus()
    page.keyboard.press("Enter")
    # Start asks in a modal dialog, the safe choice focused; Escape leaves it.
    dialog = page.get_by_role("dialog")
    expect(dialog).to_contain_text("Send to 20 recipients: 20 emails, about 0.0020 USD.")
    expect(dialog.get_by_role("button", name="Not now")).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.locator("dialog[open]")).to_have_count(0)
    expect(page.get_by_role("button", name="Start dispatch")).to_be_focused()
    page.keyboard.press("Enter")
    expect(dialog.get_by_role("button", name="Not now")).to_be_focused()
    page.keyboard.press("Tab")
    expect(dialog.get_by_role("button", name="Send to 20 recipients")).to_be_focused()
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")
    # The button pressed is gone; focus is on the toolbar that replaced it, not lost.
    expect(page.get_by_role("button", name="Pause")).to_be_focused()
    # A change reloads the block twice (the answer's trigger, the stream's
    # refresh): press on once both are in, as a person would.
    page.wait_for_timeout(1000)
    page.keyboard.press("Enter")
    expect(page.get_by_test_id("campaign-status")).to_have_text("Paused")
    expect(page.get_by_role("button", name="Resume")).to_be_focused()
    # The campaign changes again (sends in flight finishing, a colleague), and
    # the block reloads with a new toolbar: focus stays on Resume, not lost.
    version = db.session.execute(
        text("UPDATE campaigns SET version = version + 1 WHERE id = :id RETURNING version"), {"id": campaign.id}
    ).scalar()
    db.session.commit()
    live.show_campaign_change(campaign.id)
    # At this version or a later one: calls still finishing after the pause move it too.
    page.wait_for_function(
        "version => Number(document.querySelector('#recipients')?.dataset.version) >= version", arg=version
    )
    expect(page.get_by_role("button", name="Resume")).to_be_focused()


def test_deactivating_someone_asks_first(live_stack, browser: Browser):
    make_user(Role.ADMIN, email="admin@example.com")
    make_user(Role.VIEWER, email="vera@example.com")
    page = browser.new_context(viewport=DESKTOP).new_page()
    sign_in(page, live_stack, "admin@example.com")
    page.goto(f"{live_stack}/staff")
    asked = []
    page.once("dialog", lambda dialog: (asked.append(dialog.message), dialog.dismiss()))
    page.get_by_role("button", name="Deactivate vera@example.com").click()
    expect(page.get_by_role("button", name="Deactivate vera@example.com")).to_be_visible()
    assert asked == [
        "Deactivate vera@example.com? They are signed out everywhere at once and cannot sign in until reactivated."
    ]
    page.once("dialog", lambda dialog: dialog.accept())
    page.get_by_role("button", name="Deactivate vera@example.com").click()
    expect(page.get_by_text("vera@example.com is deactivated and signed out everywhere.")).to_be_visible()
    expect(page.get_by_role("button", name="Reactivate vera@example.com")).to_be_visible()
