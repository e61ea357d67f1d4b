import html
import re

from sqlalchemy import select, text

from app.auth.models import Role
from app.campaigns.models import Campaign, Recipient
from app.extensions import db
from tests.conftest import signed_in
from tests.factories import make_campaign, make_large_campaign, make_user
from tests.helpers import queued_jobs


def create(client, recipients: str, channel: str = "email", **extra):
    data = {"title": "Spring sale", "channel": channel, "message": "Hello!", "recipients": recipients, **extra}
    return client.post("/campaigns/new", data=data)


def test_new_campaign_form_has_labelled_fields(client):
    page = client.get("/campaigns/new").get_data(as_text=True)
    for label in ("Title", "Channel", "Message", "Recipients"):
        assert re.search(rf"<label[^>]*>{label}</label>", page)
    assert 'value="Create campaign"' in page


def test_valid_paste_creates_a_draft_and_reports_duplicates(client):
    response = create(
        client, 'Ann, ann@example.com\n\n"Bob ""B"", Jr", bob@example.com\nANN@example.com\ncy@example.com\n'
    )
    assert response.status_code == 302
    campaign = db.session.scalars(select(Campaign)).one()
    assert response.headers["Location"].endswith(f"/campaigns/{campaign.id}")
    assert (campaign.status, campaign.recipient_count) == ("draft", 3)
    rows = db.session.execute(
        select(Recipient.line, Recipient.name, Recipient.address_normalized).order_by(Recipient.id)
    ).all()
    assert rows == [(1, "Ann", "ann@example.com"), (3, 'Bob "B", Jr', "bob@example.com"), (5, "", "cy@example.com")]

    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "Campaign created with 3 recipients. 1 duplicate removed: Line 4 repeats line 1." in page
    assert "Sent 0 of 3" in page
    assert "Start dispatch" in page


def test_invalid_lines_are_listed_and_the_paste_is_kept_exactly(client):
    paste = "Ann, ann@example.com\n  Bob ,  bob@  \n\t\nCy, +254712345678\nDi, di@example.com"
    response = create(client, paste)
    assert response.status_code == 200
    page = response.get_data(as_text=True)
    assert "Line 2: &#34;bob@&#34; is not a valid email address" in page
    assert "Line 4: &#34;+254712345678&#34; is a phone number, but this is an email campaign" in page
    assert "2 valid recipients, 2 lines with errors" in page
    textarea = re.search(r"<textarea[^>]*name=\"recipients\"[^>]*>(.*?)</textarea>", page, re.S).group(1)
    # WTForms writes a newline after the opening tag, which browsers drop.
    assert html.unescape(textarea) == "\r\n" + paste
    assert db.session.scalar(select(Campaign.id)) is None


def test_valid_lines_can_go_ahead_without_the_invalid_ones(client):
    response = create(client, "Ann, ann@example.com\nBob, bob@\nDi, di@example.com", skip_invalid="y")
    assert response.status_code == 302
    campaign = db.session.scalars(select(Campaign)).one()
    assert campaign.recipient_count == 2
    page = client.get(response.headers["Location"]).get_data(as_text=True)
    assert "1 line with errors skipped" in page


def test_channel_decides_what_an_address_must_be(client):
    response = create(client, "Ann, ann@example.com", channel="sms")
    assert "is an email address, but this is an SMS campaign" in response.get_data(as_text=True)
    response = create(client, "Ann, 0712 345678", channel="sms")
    assert response.status_code == 302
    assert db.session.scalar(select(Recipient.address_normalized)) == "+254712345678"


def test_a_paste_over_the_line_limit_is_refused_with_the_limit(app, client, config):
    config(RECIPIENT_LINE_LIMIT=3)
    response = create(client, "a@example.com\nb@example.com\nc@example.com\nd@example.com")
    page = response.get_data(as_text=True)
    assert "This paste has 4 recipient lines; a campaign takes at most 3." in page
    assert "d@example.com" in page


def test_a_large_paste_fits_in_one_request(client):
    paste = "\n".join(f"Person {i}, person{i}@example.com" for i in range(20_000))
    response = create(client, paste)
    assert response.status_code == 302
    assert db.session.scalar(select(Campaign.recipient_count)) == 20_000
    assert db.session.scalar(text("SELECT count(*) FROM recipients")) == 20_000


def test_nul_characters_do_not_break_the_insert(client):
    response = client.post(
        "/campaigns/new",
        data={
            "title": "Sale\x00",
            "channel": "email",
            "message": "Hi\x00",
            "recipients": "Ann\x00, ann@example.com",
        },
    )
    assert response.status_code == 302
    assert db.session.execute(select(Campaign.title, Campaign.message)).one() == ("Sale", "Hi")
    assert db.session.scalar(select(Recipient.name)) == "Ann"


def test_missing_fields_are_reported_per_field(client):
    page = client.post("/campaigns/new", data={"channel": "email"}).get_data(as_text=True)
    assert page.count("This field is required.") == 2  # title, message
    assert "Paste at least one recipient, one per line, or send to contacts." in page


def test_start_moves_a_draft_to_sending_and_enqueues_once(client, app, redis_client):
    campaign = make_campaign(3)
    response = client.post(f"/campaigns/{campaign.id}/start", headers={"HX-Request": "true"})
    assert response.status_code == 200
    # The answer is the notice; the page then reloads its block in place, with
    # the header and the controls, which no longer offer Start.
    assert "Dispatch started." in response.get_data(as_text=True)
    assert response.headers["HX-Trigger"] == "campaign-changed"
    block = client.get(f"/campaigns/{campaign.id}", headers={"HX-Request": "true", "HX-Target": "recipients"})
    fragment = block.get_data(as_text=True)
    assert 'id="campaign-header"' in fragment and 'data-testid="campaign-status">Sending<' in fragment
    assert "Start dispatch" not in fragment and ">Pause</button>" in fragment
    db.session.refresh(campaign)
    assert campaign.status == "sending" and campaign.started_at is not None
    assert queued_jobs(app, redis_client) == 1


def test_second_start_click_does_not_enqueue_twice(client, app, redis_client):
    campaign = make_campaign(3)
    client.post(f"/campaigns/{campaign.id}/start", headers={"HX-Request": "true"})
    again = client.post(f"/campaigns/{campaign.id}/start", headers={"HX-Request": "true"})
    assert "This campaign is already dispatching." in again.get_data(as_text=True)
    assert queued_jobs(app, redis_client) == 1

    plain = client.post(f"/campaigns/{campaign.id}/start")
    assert plain.status_code == 302
    assert "This campaign is already dispatching." in client.get(plain.headers["Location"]).get_data(as_text=True)


def test_start_without_csrf_token_is_refused_with_a_message(app, client, config):
    campaign = make_campaign(1)
    config(WTF_CSRF_ENABLED=True)
    page = client.post(f"/campaigns/{campaign.id}/start")
    fragment = client.post(f"/campaigns/{campaign.id}/start", headers={"HX-Request": "true"})
    assert page.status_code == 400
    assert "security token expired. Reload the page and try again." in page.get_data(as_text=True)
    # htmx gets the same words as a notice for the page's notice area.
    assert fragment.status_code == 400
    assert fragment.headers["HX-Retarget"] == "#notices"
    assert fragment.headers["HX-Reswap"] == "outerHTML"
    assert '<p class="flash flash-warning" role="alert">' in fragment.get_data(as_text=True)
    db.session.refresh(campaign)
    assert campaign.status == "draft"


def test_unknown_campaign_is_a_readable_404(client):
    response = client.get("/campaigns/999")
    assert response.status_code == 404
    assert "Back to campaigns" in response.get_data(as_text=True)


def test_campaign_list_is_newest_first_with_progress_and_an_empty_state(client):
    assert "No campaigns yet" in client.get("/campaigns").get_data(as_text=True)
    make_campaign(2, title="Older")
    make_campaign(4, title="Newer")
    page = client.get("/campaigns").get_data(as_text=True)
    assert page.index("Newer") < page.index("Older")
    assert "Sent 0 of 4" in page and "New campaign" in page


def test_the_campaign_list_shows_times_as_the_history_does_with_the_zone_named(client, config):
    config(CAMPAIGNS_PER_PAGE=1)
    older = make_campaign(1, title="Older")
    make_campaign(1, title="Newer")
    db.session.execute(
        text("UPDATE campaigns SET created_at = '2026-03-01 23:30:00+01' WHERE id = :id"), {"id": older.id}
    )
    db.session.commit()
    page = client.get("/campaigns?page=2").get_data(as_text=True)
    # 23:30 at UTC+1 is 22:30 UTC, converted, not printed with "UTC" after the local time.
    assert '<time datetime="2026-03-01T22:30:00+00:00">2026-03-01 22:30:00 UTC</time>' in page
    assert "Page 2 of 2" in page and "← Newer" in page


def test_a_100k_recipient_campaign_opens_one_page_at_a_time(client):
    campaign = make_large_campaign(100_000)
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert page.count('class="badge badge-draft">Not started<') == 100  # a draft: nothing queued yet
    assert "Page 1 of 1,000" in page and "Sent 0 of 100,000" in page

    last = client.get(f"/campaigns/{campaign.id}?page=1000").get_data(as_text=True)
    assert "person100000@example.com" in last and "person99900@example.com" not in last


def test_a_page_number_out_of_range_gets_the_nearest_page_never_an_error(client):
    campaign = make_large_campaign(250)
    for asked, shown in (("99999999999999999999", 3), ("4", 3), ("0", 1), ("-5", 1), ("x", 1)):
        response = client.get(f"/campaigns/{campaign.id}?page={asked}")
        assert response.status_code == 200, asked
        assert f"Page {shown} of 3" in response.get_data(as_text=True), asked
    assert client.get("/campaigns?page=99999999999999999999").status_code == 200


def test_status_filter_and_htmx_page_fragment(client):
    campaign = make_large_campaign(250)
    db.session.execute(
        text("UPDATE recipients SET status = 'failed', last_error = 'Recipient unreachable' WHERE line % 50 = 0")
    )
    db.session.execute(text("UPDATE campaigns SET failed_count = 5, status = 'sending'"))
    db.session.commit()
    response = client.get(
        f"/campaigns/{campaign.id}?status=failed", headers={"HX-Request": "true", "HX-Target": "recipients"}
    )
    fragment = response.get_data(as_text=True)
    assert fragment.lstrip().startswith('<div id="recipients"') and "<html" not in fragment
    assert fragment.count("badge-failed") == 5 and 'Failed (<span id="count-failed">5</span>)' in fragment
    assert fragment.count('<small class="status-error">Recipient unreachable</small>') == 5
    # The same answer re-syncs a page whose event stream (re)opens: the header comes along.
    assert (
        'hx-trigger="htmx:sseOpen from:#campaign-live, htmx:sseMessage from:#campaign-refresh, '
        'campaign-changed from:body, tab-changed, status-changed"' in fragment
    )
    assert 'id="campaign-header" class="campaign-header" hx-swap-oob="true"' in fragment
    assert client.get(f"/campaigns/{campaign.id}?status=bogus").status_code == 400


def test_a_sending_campaign_shows_its_rate_and_time_left(client):
    campaign = make_large_campaign(1_000)
    db.session.execute(
        text(
            "UPDATE campaigns SET status = 'sending', started_at = now() - interval '100 seconds',"
            " sent_count = 180, failed_count = 20, rate = 2.0, rate_at = now(), active_seconds = 100"
        )
    )
    db.session.commit()
    header = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    # Sending 2.0 a second of late; 800 left at that rate is 400 s. The rate
    # decays while nothing finishes, so the moments between the UPDATE and the
    # request (long on a busy machine) may take it a little under 2.0.
    assert "Sent 180 of 1,000" in header and "20 failed" in header
    shown = re.search(r"(\d\.\d) per second · about (\d+) min (\d+) s left", header)
    assert shown, "no rate and time left in the header"
    rate, left = float(shown[1]), int(shown[2]) * 60 + int(shown[3])
    assert 1.8 <= rate <= 2.0 and 400 <= left <= 800 / 1.8
    assert "Start dispatch" not in header


def navigation(page: str) -> list[tuple[str, bool]]:
    """The header's menu: each item's name, and whether it is marked as the page's section."""
    menu = re.search(r'<ul id="site-menu"[^>]*>(.*?)<details', page, re.S)
    assert menu is not None
    return [
        (name, bool(current))
        for current, name in re.findall(r'<a href="[^"]*"( aria-current="page")?>([^<]+)</a>', menu.group(1))
    ]


def test_the_navigation_has_campaigns_and_marks_the_section_shown(app):
    admin = signed_in(app, make_user(Role.ADMIN, email="admin@example.com"))
    campaign = make_campaign(2)
    items = ["Dashboard", "Campaigns", "New campaign", "Contacts", "Templates", "Opt-outs", "Staff", "Operations"]
    for path, current in [
        ("/", "Dashboard"),
        ("/campaigns", "Campaigns"),
        (f"/campaigns/{campaign.id}", "Campaigns"),
        (f"/campaigns/{campaign.id}/edit", "Campaigns"),
        ("/campaigns/new", "New campaign"),
        ("/contacts/imports", "Contacts"),
        ("/templates", "Templates"),
        ("/opt-outs", "Opt-outs"),
        ("/staff/new", "Staff"),
        ("/operations", "Operations"),
        ("/account/password", None),
    ]:
        page = admin.get(path).get_data(as_text=True)
        assert navigation(page) == [(item, item == current) for item in items], path
    viewer = signed_in(app, make_user(Role.VIEWER, email="vera@example.com"))
    assert [name for name, _ in navigation(viewer.get("/campaigns").get_data(as_text=True))] == [
        "Dashboard", "Campaigns", "Contacts", "Templates", "Opt-outs"
    ]  # fmt: skip


def test_every_cell_of_the_recipient_table_names_its_column_for_a_phone(client):
    campaign = make_campaign(3)
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    table = re.search(r'<table class="recipients cards-on-phone">.*?<tbody>(.*?)</tbody>', page, re.S)
    assert table is not None
    labels = re.findall(r"<td(?: class=\"[^\"]*\")?( data-label=\"[^\"]+\")?", table.group(1))
    assert len(labels) == 3 * 6 and all(labels), "a cell without data-label"
