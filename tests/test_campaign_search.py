"""The campaign list's search: each filter, their combinations, the URL, the
empty state and bad input (issue 15)."""

import re
from datetime import timedelta

import pytest
from sqlalchemy import select, text

from app.auth.models import Role
from app.campaigns import live
from app.campaigns.models import Campaign
from app.clock import utcnow
from app.extensions import db
from app.live.channel import CAMPAIGN_LIST_CHANNEL
from app.messaging.channels import Channel
from tests.factories import make_campaign, make_started_campaign, make_user
from tests.helpers import published

HTMX = {"HX-Request": "true", "HX-Target": "campaign-list"}


def titles(html: str) -> list[str]:
    return re.findall(r'<td data-label="Title"><a href="/campaigns/\d+">([^<]*)</a></td>', html)


def listed(client, query: str = "", **headers) -> str:
    response = client.get(f"/campaigns{query}", headers=headers)
    assert response.status_code == 200, response.status_code
    return response.get_data(as_text=True)


@pytest.fixture
def three(app):
    """Three campaigns, different in every way the list filters by."""
    ana = make_user(Role.OPERATOR, email="ana@example.com")
    bo = make_user(Role.OPERATOR, email="bo@example.com")
    spring = make_campaign(3, Channel.SMS, title="Spring sale", created_by=ana)
    flu = make_campaign(5, Channel.EMAIL, title="Flu shots", created_by=bo)
    renewal = make_started_campaign(2, enqueue=False, channel=Channel.WHATSAPP, title="Renewal", created_by=ana)
    renewal.message = "Your spring plan renews soon"
    flu.failed_count = 4
    db.session.execute(
        text("UPDATE campaigns SET created_at = created_at - interval '10 days' WHERE id = :id"), {"id": spring.id}
    )
    db.session.commit()
    return {"ana": ana, "bo": bo, "spring": spring, "flu": flu, "renewal": renewal}


def test_the_search_box_finds_titles_and_messages_in_any_case(client, three):
    assert titles(listed(client, "?q=SPRING")) == ["Renewal", "Spring sale"]  # the title, and a message
    assert titles(listed(client, "?q=flu")) == ["Flu shots"]
    assert "1 campaign found" in listed(client, "?q=flu")


def test_each_filter_narrows_the_list(client, three):
    assert titles(listed(client, "?status=sending")) == ["Renewal"]
    assert titles(listed(client, "?channel=email")) == ["Flu shots"]
    assert titles(listed(client, f"?creator={three['ana'].id}")) == ["Renewal", "Spring sale"]
    today = utcnow().date()
    assert titles(listed(client, f"?since={today}")) == ["Renewal", "Flu shots"]
    assert titles(listed(client, f"?until={today - timedelta(days=5)}")) == ["Spring sale"]
    # "Sent" dates are when sending started: only the started campaign has one.
    assert titles(listed(client, f"?dated=sent&since={today - timedelta(days=30)}")) == ["Renewal"]


def test_filters_combine(client, three):
    assert titles(listed(client, f"?q=spring&creator={three['ana'].id}&status=draft")) == ["Spring sale"]
    assert titles(listed(client, "?q=spring&channel=email")) == []


def test_the_sorts(client, three):
    assert titles(listed(client)) == ["Renewal", "Flu shots", "Spring sale"]
    assert titles(listed(client, "?sort=oldest"))[0] == "Spring sale"
    assert titles(listed(client, "?sort=largest")) == ["Flu shots", "Spring sale", "Renewal"]
    assert titles(listed(client, "?sort=failed"))[0] == "Flu shots"


def test_status_counts_beside_the_filter_follow_the_rest_of_the_search(client, three):
    html = listed(client, "?q=spring&status=completed")
    assert '<span id="status-count-any" class="muted">(2)</span>' in html
    assert '<span id="status-count-draft" class="muted">(1)</span>' in html
    assert '<span id="status-count-sending" class="muted">(1)</span>' in html
    assert '<span id="status-count-completed" class="muted">(0)</span>' in html
    # The table alone for htmx, with the counts out of band to replace those on the page.
    fragment = listed(client, "?q=flu", **HTMX)
    assert "<form" not in fragment and 'id="status-count-any" class="muted" hx-swap-oob="true">(1)' in fragment


def more_filters(html: str) -> tuple[str, str, list[str]]:
    """The "More filters" disclosure: its opening tag, its summary's text, and the fields inside."""
    found = re.search(r'(<details class="more-filters"[^>]*>)\s*<summary>(.*?)</summary>(.*?)</details>', html, re.S)
    assert found is not None, "no More filters"
    summary = " ".join(re.sub(r"<[^>]+>", "", found.group(2)).split())
    return found.group(1), summary, re.findall(r'name="([a-z]+)"', found.group(3))


def test_the_search_box_and_statuses_stay_in_view_and_the_rest_fold_under_more_filters(client, three):
    page = listed(client)
    tag, summary, inside = more_filters(page)
    assert inside == ["channel", "creator", "sort", "dated", "since", "until"]
    assert " open" not in tag and summary == "More filters"
    form = page.split('<details class="more-filters"')[0]
    assert 'name="q"' in form and 'name="status"' in form

    # Open when one of them is set, saying how many; the search box and the status count for nothing.
    tag, summary, _ = more_filters(listed(client, f"?q=flu&status=draft&channel=email&creator={three['bo'].id}"))
    assert " open" in tag and summary == "More filters (2 active)"
    tag, summary, _ = more_filters(listed(client, "?sort=largest&since=2020-01-01&dated=sent"))
    assert " open" in tag and summary == "More filters (2 active)"


def test_an_answer_to_the_search_brings_the_count_of_more_filters_set(client, three):
    answer = listed(client, "?channel=email&sort=oldest", **HTMX)
    assert '<span id="more-filters-active" hx-swap-oob="true"> (2 active)</span>' in answer
    assert '<span id="more-filters-active" hx-swap-oob="true"></span>' in listed(client, "?q=flu", **HTMX)


def test_every_cell_of_the_list_names_its_column_for_a_phone(client, three):
    page = listed(client)
    table = re.search(r'<table class="cards-on-phone">(.*?)</table>', page, re.S)
    assert table is not None
    cells = re.findall(r"<td( data-label=\"[^\"]+\")?", table.group(1))
    assert cells and all(cells), "a cell without data-label"
    assert set(re.findall(r'data-label="([^"]+)"', table.group(1))) == {
        "Title", "Channel", "Status", "Progress", "Created"
    }  # fmt: skip


def test_the_search_lives_in_the_url_through_paging_and_reloads(client, three, config):
    config(CAMPAIGNS_PER_PAGE=1)
    html = listed(client, f"?q=spring&creator={three['ana'].id}&sort=oldest")
    assert titles(html) == ["Spring sale"]
    next_url = re.search(r'<a href="([^"]+)" hx-get="[^"]+"[^>]*rel="next"', html).group(1).replace("&amp;", "&")
    assert "q=spring" in next_url and f"creator={three['ana'].id}" in next_url and "sort=oldest" in next_url
    assert titles(listed(client, next_url.removeprefix("/campaigns"))) == ["Renewal"]
    # The list's own live reload asks for the same search and page.
    reload_url = re.search(r'id="campaign-list"\s+hx-get="([^"]+)"', listed(client, "?q=spring&page=2")).group(1)
    assert "q=spring" in reload_url and "page=2" in reload_url
    # The form comes back filled in from the URL (what Back loads).
    html = listed(client, "?q=spring&channel=sms&since=2026-01-02")
    assert 'name="q" value="spring"' in html and '<option value="sms" selected>' in html
    assert 'name="since" value="2026-01-02"' in html


def test_an_empty_result_says_what_was_searched_and_offers_to_clear_it(client, three):
    html = listed(client, f"?q=zebra&channel=sms&creator={three['bo'].id}")
    assert "No campaign matching “zebra”, on SMS, created by bo@example.com." in html
    assert '<a href="/campaigns">Clear the search</a>' in html
    # With no campaign at all, the page says how to make one instead.
    db.session.execute(text("TRUNCATE campaigns CASCADE"))
    db.session.commit()
    assert "No campaigns yet." in listed(client)


@pytest.mark.parametrize(
    "query",
    [
        "?page=-1",
        "?page=99999999999999999999",
        "?page=abc",
        "?q=" + "x" * 10_000,
        "?q=%25",
        "?q=_",
        "?q=%27%22%5C",
        "?status=lost",
        "?channel=fax",
        "?sort=random",
        "?creator=nobody",
        "?creator=99999999999999999999",
        "?dated=yesterday",
        "?since=tomorrow&until=2026-02-30",
    ],
)
def test_bad_input_is_never_an_error(client, three, query):
    html = listed(client, query)
    assert 'data-testid="campaign-row"' in html or "No campaign" in html


def test_percent_underscore_and_quotes_are_taken_literally(client, three):
    make_campaign(1, title="50% off_today 'now'")
    assert titles(listed(client, "?q=%25")) == ["50% off_today &#39;now&#39;"]
    assert titles(listed(client, "?q=f_t")) == ["50% off_today &#39;now&#39;"]
    assert titles(listed(client, "?q=%27now%27")) == ["50% off_today &#39;now&#39;"]
    assert titles(listed(client, "?q=" + "x" * 10_000)) == []


def test_values_not_understood_are_named_and_ignored(client, three):
    html = listed(client, "?status=lost&since=tomorrow&channel=sms")
    assert "“lost” is not a status this list knows; it was ignored." in html
    assert "“tomorrow” is not a date (from); it was ignored." in html
    assert titles(html) == ["Spring sale"]  # the filters understood still apply
    html = listed(client, "?since=2026-03-01&until=2026-01-01")
    assert "The dates were the wrong way round; they were swapped." in html


def test_the_creator_is_kept_and_older_campaigns_get_theirs_from_the_history(client, three):
    assert db.session.get(Campaign, three["spring"].id).created_by_id == three["ana"].id
    html = listed(client)
    assert '<option value="' + str(three["ana"].id) + '">ana@example.com</option>' in html


def test_each_row_shows_its_counts_and_progress(client, three):
    flu = three["flu"]
    flu.sent_count, flu.skipped_count, flu.cancelled_count = 1, 0, 0
    renewal = three["renewal"]
    renewal.skipped_count, renewal.cancelled_count = 1, 1
    db.session.commit()
    html = listed(client)
    assert 'Sent 1 of 5</span> <small class="failed-text">· 4 failed</small>' in html
    assert '· 1 skipped</small> <small class="muted">· 1 cancelled</small>' in html


def test_a_flush_publishes_the_row_progress_on_the_list_channel(app, redis_client, run_worker):
    pubsub = redis_client.pubsub()
    pubsub.subscribe(CAMPAIGN_LIST_CHANNEL)
    campaign = make_started_campaign(4)
    run_worker()
    events = published(pubsub)
    pubsub.close()
    progress = [e["data"] for e in events if e["type"] == live.PROGRESS_EVENT]
    assert progress, events
    # One line each, swapped by id, carrying the version it was rendered from.
    assert all(p.count("\n") == 0 and p.startswith(f'<div id="campaign-{campaign.id}-progress"') for p in progress)
    versions = [int(re.search(r'data-version="(\d+)"', p).group(1)) for p in progress]
    assert versions == sorted(versions)
    db.session.refresh(campaign)
    assert f"Sent {campaign.sent_count} of 4" in progress[-1]
    assert db.session.scalar(select(Campaign.status).where(Campaign.id == campaign.id)) == "completed"
