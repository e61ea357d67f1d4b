"""A campaign page follows the campaign live, whoever changes it: two operators
in two browsers, one pressing the controls, both watching, neither reloading."""

import itertools
import re

import pytest
from playwright.sync_api import Browser, Page, expect
from sqlalchemy import select

from app.auth.models import Role
from app.campaigns import drafts
from app.campaigns.models import Campaign, Recipient
from app.campaigns.parsing import ParsedRecipient
from app.extensions import db
from app.formatting import plural
from app.messaging.addresses import normalize_phone
from tests.browser import goto_live, needs_chromium, sign_in, start_dispatch
from tests.factories import PASSWORD, make_campaign, make_user
from tests.helpers import reread

pytestmark = [pytest.mark.slow, needs_chromium]

CONTROLS = ("Start dispatch", "Pause", "Resume", "Retry failed", "Cancel campaign")
# Retry failed is offered as a button per choice, each with its count ("Retry 7 permanent failures").
RETRY = re.compile(r"^Retry (all )?[\d,]+ ")


def open_page(browser: Browser, base_url: str, email: str, path: str) -> Page:
    """A signed-in page of its own browser context, marked so a reload would
    show, once its stream is open and it has reloaded its block for it."""
    page = browser.new_context(viewport={"width": 1280, "height": 900}).new_page()
    page.console_errors = []
    page.on("console", lambda message: message.type == "error" and page.console_errors.append(message.text))
    sign_in(page, base_url, email)
    goto_live(page, f"{base_url}{path}")
    page.evaluate("window.__sameDocument = true")
    return page


def people_watching(browser: Browser, base_url: str, campaign_id: int, **roles: Role) -> list[Page]:
    """A page of the campaign for each ``name=role``, each in a browser of its own."""
    pages = []
    for name, role in roles.items():
        make_user(role, email=f"{name}@example.com")
        pages.append(open_page(browser, base_url, f"{name}@example.com", f"/campaigns/{campaign_id}"))
    return pages


def assert_never_reloaded_and_no_errors(*pages: Page) -> None:
    for page in pages:
        assert page.evaluate("window.__sameDocument") is True, "the page never reloaded"
        # A click on a tab or pager link replaces a reload of the block still in
        # flight (hx-sync "#recipients:replace"): htmx logs that abort as an
        # error, by design. Any other error fails.
        aborted = {"htmx:sendAbort, [object HTMLDivElement]", "htmx:afterRequest, [object HTMLDivElement]"}
        assert [error for error in page.console_errors if error not in aborted] == []


def expect_controls(page: Page, *offered: str, unless_failed: bool = False) -> None:
    """The page offers exactly these controls (and so none of the others).
    ``unless_failed``: Retry failed may be offered too, as soon as a send has failed."""
    for name in CONTROLS:
        if name == "Retry failed" and unless_failed:
            continue
        button = (
            page.get_by_role("button", name=RETRY)
            if name == "Retry failed"
            else page.get_by_role("button", name=name, exact=True)
        )
        expect(button).to_have_count(1 if name in offered else 0)


def expect_attempts_follow_the_rows(page: Page, campaign_id: int) -> None:
    """Every row on the page shows the attempts the database has for it."""
    db.session.commit()
    rows = db.session.execute(
        select(Recipient.id, Recipient.attempts).where(Recipient.campaign_id == campaign_id)
    ).all()
    shown = 0
    for rid, attempts in rows:
        cell = page.locator(f"#recipient-{rid}-attempts")
        if cell.count():
            expect(cell).to_have_text(str(attempts))
            shown += 1
    assert shown == 5, "the page shows a page of five recipients"


def expect_header_to_match_the_database(page: Page, campaign: Campaign) -> None:
    """The header's numbers are the database's, at the end, with no reload."""
    campaign = reread(campaign)
    expect(page.get_by_test_id("sent-of")).to_have_text(f"Sent {campaign.sent_count:,} of {campaign.recipient_count:,}")
    for testid, count, words in (
        ("failed-count", campaign.failed_count, "failed"),
        ("cancelled-count", campaign.cancelled_count, "cancelled"),
    ):
        if count:
            expect(page.get_by_test_id(testid)).to_have_text(f" · {count:,} {words}")
        else:
            expect(page.get_by_test_id(testid)).to_have_count(0)
    for status in ("queued", "sending", "retrying", "sent", "failed", "cancelled"):
        expect(page.locator(f"#count-{status}")).to_have_text(f"{campaign.count_for(status):,}")


@pytest.mark.stack(PROVIDER_ERROR_RATES="invalid_address=0.5", DISPATCH_CONCURRENCY=2, AUTO_PAUSE_FAILURE_RATE=0)
def test_every_control_shows_live_in_every_role_s_page(live_stack, browser: Browser):
    """An operator starts and pauses, an admin resumes and retries, a viewer
    watches: each change shows in all three pages, controls by role."""
    campaign = make_campaign(16, title="Flu shots")
    nurse, chief, visitor = people_watching(
        browser, live_stack, campaign.id, nurse=Role.OPERATOR, chief=Role.ADMIN, visitor=Role.VIEWER
    )
    staff, everyone = (nurse, chief), (nurse, chief, visitor)
    for page in staff:
        # A draft is deleted, not cancelled (Delete draft is not among CONTROLS).
        expect_controls(page, "Start dispatch")
    expect_controls(visitor)

    start_dispatch(nurse)
    expect(nurse.get_by_text("Dispatch started.")).to_be_visible()
    for page in everyone:
        expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")
    for page in staff:
        expect_controls(page, "Pause", "Cancel campaign", unless_failed=True)

    nurse.get_by_role("button", name="Pause").click()
    for page in everyone:
        expect(page.get_by_test_id("campaign-status")).to_have_text("Paused")
    for page in staff:
        expect_controls(page, "Resume", "Cancel campaign", unless_failed=True)
    # Sends in flight finish after the pause; the attempts column follows them.
    expect(visitor.locator("#count-sending")).to_have_text("0", timeout=10_000)
    expect_attempts_follow_the_rows(visitor, campaign.id)

    chief.get_by_role("button", name="Resume").click()
    for page in everyone:
        expect(page.get_by_test_id("campaign-status")).to_have_text("Sending")
    for page in staff:
        expect_controls(page, "Pause", "Cancel campaign", unless_failed=True)

    # Completion, by the dispatcher: the controls and the notice follow.
    for page in everyone:
        expect(page.get_by_test_id("campaign-status")).to_have_text("Completed", timeout=30_000)
    # Half the sends fail (at a quarter, none of 16 did in about one run of 100).
    assert reread(campaign).failed_count > 0, "half the sends fail, so Retry failed has something to do"
    for page in staff:
        expect_controls(page, "Retry failed")
    for page in everyone:
        expect_attempts_follow_the_rows(page, campaign.id)
        expect_header_to_match_the_database(page, campaign)
    expect(nurse.get_by_text("Dispatch started.")).to_have_count(0)

    # Retry failed, from the admin's page: every failure was permanent, so that is the one choice.
    chief.once("dialog", lambda dialog: dialog.accept())
    chief.get_by_role("button", name=f"Retry {plural(campaign.failed_count, 'permanent failure')}").click()
    for page in everyone:
        # Created, started, paused, resumed, completed; then queued again.
        expect(page.get_by_test_id("history-event").nth(5)).to_contain_text(
            "Queued failed recipients again by chief@example.com"
        )
        expect(page.get_by_test_id("history-event").last).to_contain_text("Completed by the dispatcher", timeout=30_000)
        expect(page.get_by_test_id("campaign-status")).to_have_text("Completed")
        expect_attempts_follow_the_rows(page, campaign.id)
        expect_header_to_match_the_database(page, campaign)

    assert_never_reloaded_and_no_errors(*everyone)


@pytest.mark.stack(PROVIDER_LATENCY_MIN=1.0, PROVIDER_LATENCY_MAX=1.5, DISPATCH_CONCURRENCY=2)
def test_a_cancel_shows_on_both_pages_and_the_sends_in_flight_finish_there_too(live_stack, browser: Browser):
    campaign = make_campaign(12, title="Recall")
    nurse, visitor = people_watching(browser, live_stack, campaign.id, nurse=Role.OPERATOR, visitor=Role.VIEWER)
    expect_controls(visitor)  # a viewer is offered nothing

    start_dispatch(nurse)
    expect(visitor.locator("#count-sending")).to_have_text("2")
    nurse.once("dialog", lambda dialog: dialog.accept())
    nurse.get_by_role("button", name="Cancel campaign").click()
    for page in (nurse, visitor):
        expect(page.get_by_test_id("campaign-status")).to_have_text("Cancelled")
        expect_controls(page)
        # The two sends in flight finish after the cancel, and both pages show it.
        expect(page.locator("#count-sending")).to_have_text("0", timeout=10_000)
    db.session.commit()
    db.session.refresh(campaign)
    for page in (nurse, visitor):
        expect(page.get_by_test_id("sent-of")).to_have_text(f"Sent {campaign.sent_count} of 12")
        expect(page.get_by_test_id("cancelled-count")).to_have_text(f" · {campaign.cancelled_count} cancelled")
        expect_attempts_follow_the_rows(page, campaign.id)
    assert_never_reloaded_and_no_errors(nurse, visitor)


def test_the_controls_are_one_toolbar_and_addresses_do_not_wrap(live_stack, browser: Browser):
    make_user(Role.OPERATOR, email="nurse@example.com")
    numbers = ["+254 712 345 678", "+44 20 7946 0958 ext. 1234", "+1 (202) 555-0143"]
    recipients = [
        ParsedRecipient(
            line, f"Patient with a long name {line}", number, normalize_phone(number.split(" ext")[0], "KE")
        )
        for line, number in enumerate(numbers, start=1)
    ]
    campaign = drafts.create_campaign("Layout", "sms", "Hello", recipients, created_by=None)
    db.session.commit()
    page = open_page(browser, live_stack, "nurse@example.com", f"/campaigns/{campaign.id}")
    page.set_viewport_size({"width": 1000, "height": 800})
    # Start, Edit and Delete (a draft is not cancelled) side by side on one
    # row, each right after the one before: not spread across the page.
    boxes = [item.bounding_box() for item in page.locator("#campaign-controls > :not(.toolbar-note)").all()]
    assert len(boxes) == 3
    for before, after in itertools.pairwise(boxes):
        assert abs(before["y"] - after["y"]) < 2
        assert 0 < after["x"] - (before["x"] + before["width"]) < 40
    page.set_viewport_size({"width": 700, "height": 800})
    # Each address cell is one line, however narrow the window.
    lines = page.evaluate(
        """() => [...document.querySelectorAll("td.address")].map((cell) => {
            const tops = new Set();
            const walker = document.createTreeWalker(cell, NodeFilter.SHOW_TEXT);
            while (walker.nextNode()) {
                const range = document.createRange();
                range.selectNodeContents(walker.currentNode);
                for (const rect of range.getClientRects()) tops.add(Math.round(rect.top));
            }
            return tops.size;
        })"""
    )
    assert lines and set(lines) == {1}


@pytest.mark.stack(PROVIDER_LATENCY_MIN=0.3, PROVIDER_LATENCY_MAX=0.6, DISPATCH_CONCURRENCY=2)
def test_a_status_tab_follows_its_count_as_recipients_join_it(live_stack, browser: Browser):
    """Open on the Sent tab before anything is sent: the list fills as the count grows."""
    campaign = make_campaign(12, title="Tabs")
    nurse, visitor = people_watching(browser, live_stack, campaign.id, nurse=Role.OPERATOR, visitor=Role.VIEWER)
    start_dispatch(nurse)
    visitor.get_by_role("link", name="Sent (").click()
    expect(visitor).to_have_url(f"{live_stack}/campaigns/{campaign.id}?status=sent")
    expect(visitor.get_by_test_id("campaign-status")).to_have_text("Completed", timeout=30_000)
    # The list is the tab's first page, as the database has it: five of the twelve sent.
    sent = db.session.scalars(
        select(Recipient.id)
        .where(Recipient.campaign_id == campaign.id, Recipient.status == "sent")
        .order_by(Recipient.id)
        .limit(5)
    ).all()
    expect(visitor.locator("#recipients tbody tr")).to_have_count(5)
    for rid in sent:
        expect(visitor.locator(f"#recipient-{rid}-status")).to_have_text("Sent")
    expect(visitor.get_by_text("Page 1 of 3")).to_be_visible()
    expect_header_to_match_the_database(visitor, campaign)
    assert_never_reloaded_and_no_errors(nurse, visitor)


@pytest.mark.stack(PROVIDER_LATENCY_MIN=1.5, PROVIDER_LATENCY_MAX=2.0, DISPATCH_CONCURRENCY=4)
def test_a_reload_answered_after_the_completion_does_not_put_sending_back(live_stack, browser: Browser):
    """Under load, a reload of the block rendered while the campaign sent can
    land after the stream brought the completion: its header and controls are
    older than the page's. Forced here by holding that answer back."""
    campaign = make_campaign(4, title="Late answer")
    [nurse] = people_watching(browser, live_stack, campaign.id, nurse=Role.OPERATOR)
    start_dispatch(nurse)
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Sending")

    held = []

    def hold_one_reload(route):
        # The charts ask the same address for themselves: hold the block's.
        if held or route.request.headers.get("hx-target") != "recipients":
            route.continue_()
        else:
            held.append((route, route.fetch()))  # rendered now, while it sends

    nurse.route(re.compile(rf"/campaigns/{campaign.id}(\?.*)?$"), hold_one_reload)
    nurse.evaluate("htmx.trigger(document.body, 'campaign-changed')")
    for _ in range(100):
        if held:
            break
        nurse.wait_for_timeout(50)
    assert held, "the block asked for a reload"
    route, answer = held[0]
    assert 'data-campaign-status="sending"' in answer.text()
    # The completion comes by the stream while that answer is held.
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Completed", timeout=20_000)
    # Every status the header shows from here on.
    nurse.evaluate(
        """window.__headerStatuses = [];
        new MutationObserver(function () {
          var header = document.getElementById("campaign-header");
          window.__headerStatuses.push(header && header.dataset.status);
        }).observe(document.body, {subtree: true, childList: true, attributes: true});"""
    )
    route.fulfill(response=answer)
    # The older header is not put back, and the block, rendered for Sending,
    # reloads for the status the header says: no Pause for a completed campaign.
    expect(nurse.locator("#recipients")).to_have_attribute("data-campaign-status", "completed")
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Completed")
    expect_controls(nurse)
    expect_header_to_match_the_database(nurse, campaign)
    shown = nurse.evaluate("window.__headerStatuses")
    assert shown and set(shown) == {"completed"}, shown
    assert_never_reloaded_and_no_errors(nurse)


@pytest.mark.stack(PROVIDER_LATENCY_MIN=1.0, PROVIDER_LATENCY_MAX=3.0, DISPATCH_CONCURRENCY=5, PROVIDER_FAILURE_RATE=0)
def test_a_reload_answered_after_a_pause_s_last_sends_does_not_put_them_back(live_stack, browser: Browser):
    """A paused campaign's last sends finish and the stream says so; a reload
    of the block rendered while some were still in flight, answered after,
    must not put their "Sending" badges and count back: a paused campaign
    sends no more updates to correct them. (CI saw "1 sending" stay so.)"""
    campaign = make_campaign(6, title="Paused late")
    [nurse] = people_watching(browser, live_stack, campaign.id, nurse=Role.OPERATOR)
    start_dispatch(nurse)
    expect(nurse.locator("#count-sending")).to_have_text("5")
    nurse.get_by_role("button", name="Pause").click()
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Paused")
    # Some of the five have finished (1-3 s each), not all: the block on the
    # page was rendered before, the reload below is rendered now.
    expect(nurse.locator("#count-sending")).to_have_text(re.compile(r"^[1-4]$"))

    held = []

    def hold_one_reload(route):
        if held or route.request.headers.get("hx-target") != "recipients":
            route.continue_()
        else:
            held.append((route, route.fetch()))

    nurse.route(re.compile(rf"/campaigns/{campaign.id}(\?.*)?$"), hold_one_reload)
    nurse.evaluate("htmx.trigger(document.body, 'campaign-changed')")
    for _ in range(100):
        if held:
            break
        nurse.wait_for_timeout(50)
    assert held, "the block asked for a reload"
    route, answer = held[0]
    assert re.search(r'<span id="count-sending">[1-4]</span>', answer.text()), "rendered with sends in flight"
    # htmx says on the block that asked when its answer has been dealt with,
    # swapped or not (a listener on the element hears it even once replaced).
    nurse.evaluate(
        """document.getElementById("recipients").addEventListener("htmx:afterRequest", function () {
          window.__heldLanded = true;
        });"""
    )
    # The rest finish; the stream brings their badges and the counts.
    expect(nurse.locator("#count-sending")).to_have_text("0", timeout=10_000)
    route.fulfill(response=answer)
    for _ in range(100):
        if nurse.evaluate("window.__heldLanded === true"):
            break
        nurse.wait_for_timeout(50)
    assert nurse.evaluate("window.__heldLanded === true"), "the held answer was dealt with"
    expect(nurse.locator("#count-sending")).to_have_text("0")
    expect(nurse.locator("#count-sent")).to_have_text("5")
    db.session.commit()
    # The first page: the five sent.
    for rid, status, attempts in db.session.execute(
        select(Recipient.id, Recipient.status, Recipient.attempts)
        .where(Recipient.campaign_id == campaign.id)
        .order_by(Recipient.id)
        .limit(5)
    ).all():
        expect(nurse.locator(f"#recipient-{rid}-status")).to_have_text(status.capitalize())
        expect(nurse.locator(f"#recipient-{rid}-attempts")).to_have_text(str(attempts))
    expect_header_to_match_the_database(nurse, campaign)
    assert_never_reloaded_and_no_errors(nurse)


@pytest.mark.stack(PROVIDER_LATENCY_MIN=2.0, PROVIDER_LATENCY_MAX=3.0)
def test_a_control_pressed_the_moment_it_is_swapped_in_is_sent_by_htmx(live_stack, browser: Browser):
    """A reload of the block swaps in new controls as the person presses one
    (CI caught a key press landing so). The press must go by htmx, not as the
    plain form's submit: that would load the whole page and lose the focus."""
    campaign = make_campaign(10, title="Quick hands")
    [nurse] = people_watching(browser, live_stack, campaign.id, nurse=Role.OPERATOR)
    start_dispatch(nurse)
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Sending")
    # The next toolbar swapped in with a Pause button: pressed in the very next task.
    nurse.evaluate(
        """document.body.addEventListener("htmx:oobAfterSwap", function press(event) {
          var button = event.target.querySelector && event.target.querySelector("#control-pause");
          if (!button) return;
          document.body.removeEventListener("htmx:oobAfterSwap", press);
          window.__pressed = true;
          setTimeout(function () { button.click(); }, 0);
        });"""
    )
    nurse.evaluate("htmx.trigger(document.body, 'campaign-changed')")
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Paused")
    assert nurse.evaluate("window.__pressed") is True, "pressed as the toolbar came in, not after"
    assert_never_reloaded_and_no_errors(nurse)


@pytest.mark.stack(PROVIDER_LATENCY_MIN=1.0, PROVIDER_LATENCY_MAX=1.5, DISPATCH_CONCURRENCY=1)
def test_a_page_whose_stream_is_refused_says_so_and_offers_to_sign_in(live_stack, browser: Browser):
    campaign = make_campaign(10, title="Watched")
    [nurse] = people_watching(browser, live_stack, campaign.id, nurse=Role.OPERATOR)
    start_dispatch(nurse)
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Sending")
    expect(nurse.locator("#live-status")).to_be_hidden()

    # Signed out everywhere from another browser: this page's stream is refused.
    elsewhere = browser.new_context().new_page()
    sign_in(elsewhere, live_stack, "nurse@example.com")
    elsewhere.get_by_text("nurse@example.com · operator").click()
    elsewhere.once("dialog", lambda dialog: dialog.accept())
    elsewhere.get_by_role("button", name="Sign out everywhere").click()
    note = nurse.locator("#live-status")
    expect(note).to_be_visible(timeout=15_000)
    expect(note).to_contain_text("Live updates stopped: you are signed out")
    note.get_by_role("link", name="Sign in again").click()
    nurse.get_by_label("Email").fill("nurse@example.com")
    nurse.get_by_label("Password").fill(PASSWORD)
    nurse.get_by_role("button", name="Sign in").click()
    expect(nurse).to_have_url(f"{live_stack}/campaigns/{campaign.id}")
    expect(nurse.locator("#live-status")).to_be_hidden()
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Completed", timeout=60_000)
    expect_header_to_match_the_database(nurse, campaign)


# Sessions are checked every ten minutes: the stream stays open after signing out,
# and the page's own reload is the first to learn of it.
@pytest.mark.stack(
    PROVIDER_LATENCY_MIN=1.0, PROVIDER_LATENCY_MAX=1.5, DISPATCH_CONCURRENCY=1, SSE_KEEPALIVE_SECONDS=600
)
def test_a_page_whose_own_reload_is_refused_says_so_and_stays(live_stack, browser: Browser):
    campaign = make_campaign(10, title="Watched")
    [nurse] = people_watching(browser, live_stack, campaign.id, nurse=Role.OPERATOR)
    start_dispatch(nurse)
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Sending")
    # On the Queued tab, the block reloads itself each time a send moves the tab's count.
    nurse.get_by_role("link", name="Queued (").click()
    queued = re.compile(rf".*/campaigns/{campaign.id}\?status=queued$")
    expect(nurse).to_have_url(queued)

    elsewhere = browser.new_context().new_page()
    sign_in(elsewhere, live_stack, "nurse@example.com")
    elsewhere.get_by_text("nurse@example.com · operator").click()
    elsewhere.once("dialog", lambda dialog: dialog.accept())
    elsewhere.get_by_role("button", name="Sign out everywhere").click()
    note = nurse.locator("#live-status")
    expect(note).to_contain_text("Live updates stopped: you are signed out", timeout=15_000)
    expect(note.get_by_role("link", name="Sign in again")).to_be_visible()
    expect(nurse).to_have_url(queued)
    assert nurse.evaluate("window.__sameDocument") is True, "the page went to Sign in by itself"


@pytest.mark.stack(PROVIDER_LATENCY_MIN=2.0, PROVIDER_LATENCY_MAX=3.0, DISPATCH_CONCURRENCY=1)
def test_a_control_keeps_the_pages_tab_and_page(live_stack, browser: Browser):
    campaign = make_campaign(12, title="Places")
    [nurse] = people_watching(browser, live_stack, campaign.id, nurse=Role.OPERATOR)
    start_dispatch(nurse)
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Sending")
    nurse.get_by_role("link", name="Queued (").click()
    # Next on the tab shown before Queued's answer lands is the All tab's Next.
    expect(nurse.locator(".filters a[aria-current=page]")).to_contain_text("Queued")
    nurse.get_by_role("link", name="Next →").click()
    place = re.compile(rf".*/campaigns/{campaign.id}\?(?=.*status=queued)(?=.*page=2)")
    expect(nurse).to_have_url(place)
    nurse.get_by_role("button", name="Pause").click()
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Paused")
    expect(nurse).to_have_url(place)
    expect(nurse.locator(".filters a[aria-current=page]")).to_contain_text("Queued")
    expect(nurse.get_by_text("Page 2 of")).to_be_visible()
    nurse.get_by_role("button", name="Resume").click()
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Sending")
    expect(nurse).to_have_url(place)
    assert_never_reloaded_and_no_errors(nurse)


@pytest.mark.stack(DISPATCH_CONCURRENCY=1)
def test_a_later_page_follows_its_own_rows_live(live_stack, browser: Browser):
    """A page's stream carries only the badges of the rows it shows: on page 2,
    it is a stream for page 2's rows, and they change as they are sent."""
    campaign = make_campaign(12, title="Second page")
    ids = db.session.scalars(
        select(Recipient.id).where(Recipient.campaign_id == campaign.id).order_by(Recipient.line)
    ).all()
    [nurse] = people_watching(browser, live_stack, campaign.id, nurse=Role.OPERATOR)
    expect(nurse.locator("#campaign-stream")).to_have_attribute("data-shows", f"{ids[0]}-{ids[4]}")
    nurse.get_by_role("link", name="Next →").click()
    expect(nurse.get_by_text("Page 2 of 3")).to_be_visible()
    expect(nurse.locator("#campaign-stream")).to_have_attribute("data-shows", f"{ids[5]}-{ids[9]}")

    start_dispatch(nurse)
    # One at a time: the sixth is sent with six still to go, so its badge came
    # by the stream, not with the block's reload when the campaign completes.
    expect(nurse.locator(f"#recipient-{ids[5]}-status .badge-sent")).to_be_visible(timeout=30_000)
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Sending")
    assert reread(campaign).status == "sending"
    expect(nurse.get_by_test_id("campaign-status")).to_have_text("Completed", timeout=30_000)
    expect(nurse.locator(".recipients .badge-sent")).to_have_count(5)
    expect_attempts_follow_the_rows(nurse, campaign.id)
    expect_header_to_match_the_database(nurse, campaign)
    assert_never_reloaded_and_no_errors(nurse)
