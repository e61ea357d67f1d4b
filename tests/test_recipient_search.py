"""Searching a campaign's recipients: with the status tabs and paging, in the
URL, capped counts, and bad input (issue 15)."""

import re

import pytest
from sqlalchemy import text

from app import searching
from app.campaigns import drafts, recipient_search
from app.campaigns.parsing import ParsedRecipient
from app.extensions import db
from app.messaging.channels import Channel
from tests.factories import make_campaign, make_large_campaign, start_campaign

BLOCK = {"HX-Request": "true", "HX-Target": "recipients"}


def names(html: str) -> list[str]:
    return re.findall(r'title="This recipient and every attempt">([^<]+)</a>', html)


@pytest.fixture
def clinic(app):
    parsed = [
        ParsedRecipient(1, "Grace Hopper", "0712 345 678", "+254712345678"),
        ParsedRecipient(2, "Ada Lovelace", "0722 000 111", "+254722000111"),
        ParsedRecipient(3, "Alan Turing", "0733 999 888", "+254733999888"),
    ]
    campaign = drafts.create_campaign(
        "Clinic", Channel.SMS.value, "Hi {first_name}, see you at 10", parsed, created_by=None
    )
    db.session.commit()
    start_campaign(campaign, enqueue=False)
    db.session.execute(
        text("UPDATE recipients SET status = 'failed' WHERE name = 'Ada Lovelace'"),
    )
    db.session.execute(text("UPDATE campaigns SET failed_count = 1 WHERE id = :id"), {"id": campaign.id})
    db.session.commit()
    return campaign


def page(client, campaign, query: str = "", **headers) -> str:
    response = client.get(f"/campaigns/{campaign.id}{query}", headers=headers)
    assert response.status_code == 200, response.get_data(as_text=True)[:300]
    return response.get_data(as_text=True)


def test_finds_by_name_typed_address_normalised_address_and_rendered_text(client, clinic):
    assert names(page(client, clinic, "?q=hopper")) == ["Grace Hopper"]
    assert names(page(client, clinic, "?q=0722 000")) == ["Ada Lovelace"]  # as typed
    assert names(page(client, clinic, "?q=%2B2547339")) == ["Alan Turing"]  # as kept
    assert names(page(client, clinic, "?q=0733999")) == ["Alan Turing"]  # as dialled, without spaces
    assert names(page(client, clinic, "?q=hi ada")) == ["Ada Lovelace"]  # their own text


def test_the_search_combines_with_the_tabs_and_counts_matches_per_tab(client, clinic):
    html = page(client, clinic, "?q=a&status=failed")
    assert names(html) == ["Ada Lovelace"]
    assert 'data-testid="match-count-all">3<' in html and 'data-testid="match-count-failed">1<' in html
    # The tabs keep the search; the campaign's own counts stay on the page, hidden, still live.
    assert f'href="/campaigns/{clinic.id}?status=sent&amp;q=a"' in html
    assert '<span hidden><span id="count-all">3</span>' in html


def test_the_search_is_in_the_url_and_the_block_reloads_with_it(client, clinic):
    html = page(client, clinic, "?q=turing&status=queued", **BLOCK)
    assert re.search(rf'id="recipients"\s+hx-get="/campaigns/{clinic.id}\?status=queued&amp;q=turing"', html)
    # The form's hidden tab follows the block, out of band.
    assert '<input type="hidden" id="recipient-search-status" name="status" value="queued" hx-swap-oob="true">' in html
    full = page(client, clinic, "?q=turing")
    assert 'name="q" value="turing"' in full and names(full) == ["Alan Turing"]


def test_a_found_recipient_links_to_its_attempts_and_its_contact(client, clinic):
    html = page(client, clinic, "?q=grace")
    recipient_id, contact_id = db.session.execute(
        text("SELECT id, contact_id FROM recipients WHERE name = 'Grace Hopper'")
    ).one()
    assert f'href="/campaigns/{clinic.id}/recipients/{recipient_id}"' in html
    assert contact_id is not None and f'href="/contacts/{contact_id}"' in html
    assert client.get(f"/campaigns/{clinic.id}/recipients/{recipient_id}").status_code == 200
    # A recipient whose contact was deleted has no contact to link to.
    db.session.execute(text("UPDATE recipients SET contact_id = NULL"))
    db.session.commit()
    assert "/contacts/" not in page(client, clinic, "?q=grace").split('id="recipients"')[1]


def test_no_match_says_what_was_searched_and_offers_to_clear_it(client, clinic):
    html = page(client, clinic, "?q=zebra&status=failed")
    assert "No recipient failed right now matches “zebra”." in html
    assert f'<a href="/campaigns/{clinic.id}?status=failed">Clear the search</a>' in html


@pytest.mark.parametrize(
    "query",
    ["?q=x&page=-1", "?q=a&page=99999999999999999999", "?q=" + "y" * 10_000, "?q=%25", "?q=_", "?q=%27%22", "?q=%5C"],
)
def test_bad_input_is_never_an_error(client, clinic, query):
    page(client, clinic, query)


def test_an_unknown_tab_is_refused_with_a_message(client, clinic):
    response = client.get(f"/campaigns/{clinic.id}?q=a&status=lost")
    assert response.status_code == 400 and "Unknown status filter" in response.get_data(as_text=True)


def test_percent_and_underscore_are_literal(client, clinic):
    db.session.execute(text("UPDATE recipients SET name = '100% real_name' WHERE name = 'Alan Turing'"))
    db.session.commit()
    assert names(page(client, clinic, "?q=%25")) == ["100% real_name"]
    assert names(page(client, clinic, "?q=l_n")) == ["100% real_name"]


def test_counts_stop_at_a_thousand_and_paging_goes_on_past_them(client, config):
    config(RECIPIENTS_PER_PAGE=500)
    campaign = make_large_campaign(1_600)
    html = page(client, campaign, "?q=person")
    assert "More than 1,000 recipients match “person”." in html and "Page 1 of 3 or more" in html
    start_campaign(campaign, enqueue=False)
    assert "All (1,000+)" in page(client, campaign, "?q=person")
    html = page(client, campaign, "?q=person&page=3")
    assert "Page 3 of 4" in html and names(html)[0] == "Person 1001"
    html = page(client, campaign, "?q=person 15")
    assert 'data-testid="match-count-all">111<' in html  # 15, 150–159, 1500–1599


def test_a_tab_counts_its_own_matches_when_the_campaign_has_more_than_a_thousand(client, config):
    config(RECIPIENTS_PER_PAGE=100)
    campaign = make_large_campaign(1_600)
    start_campaign(campaign, enqueue=False)
    db.session.execute(
        text("UPDATE recipients SET status = 'failed' WHERE campaign_id = :id AND line IN (7, 1207, 1507)"),
        {"id": campaign.id},
    )
    db.session.commit()
    html = page(client, campaign, "?q=person&status=failed", **BLOCK)
    # Read from the index and sorted: paste order, counted exactly, so no pager.
    assert names(html) == ["Person 7", "Person 1207", "Person 1507"]
    assert 'class="pager"' not in html
    assert names(page(client, campaign, "?q=person 12&status=failed", **BLOCK)) == ["Person 1207"]


def test_a_phone_number_s_start_finds_the_numbers_that_start_so_however_it_was_typed(client, clinic):
    db.session.execute(text("UPDATE recipients SET rendered_content = 'Call 0712 345 000' WHERE name = 'Alan Turing'"))
    db.session.commit()
    # As dialled, with the trunk 0, or as kept: the numbers that start
    # +254712 3…; not a message that quotes those digits (Alan's).
    assert names(page(client, clinic, "?q=0712 3")) == ["Grace Hopper"]
    assert names(page(client, clinic, "?q=%2B2547123")) == ["Grace Hopper"]
    assert names(page(client, clinic, "?q=%2B254 712 3")) == ["Grace Hopper"]
    assert names(page(client, clinic, "?q=%2B2547")) == ["Grace Hopper", "Ada Lovelace", "Alan Turing"]
    assert names(page(client, clinic, "?q=%2B2547999")) == []
    # In an email campaign the same digits are text like any other.
    email = drafts.create_campaign(
        "Mail",
        Channel.EMAIL.value,
        "Call 0712 345 000",
        [ParsedRecipient(1, "Ada", "ada@example.com", "ada@example.com")],
        created_by=None,
        subject="A number",
    )
    db.session.commit()
    start_campaign(email, enqueue=False)
    db.session.execute(
        text("UPDATE recipients SET rendered_content = 'Call 0712 345 000' WHERE campaign_id = :id"), {"id": email.id}
    )
    db.session.commit()
    assert names(page(client, email, "?q=0712 3")) == ["Ada"]


def test_the_range_of_a_phone_number_s_start_ends_where_the_next_start_begins():
    assert searching.prefix_range("+2547123") == ("+2547123", "+2547124")
    assert searching.prefix_range("+2547009") == ("+2547009", "+254701")
    assert searching.prefix_range("+2547999") == ("+2547999", "+2548")
    assert searching.prefix_range("+999") == ("+999", None)


def test_many_matches_far_into_a_large_campaign_are_paged_in_paste_order(client, config):
    """Matches that sit together far into a campaign (numbers pasted in
    order), each page still in paste order."""
    config(RECIPIENTS_PER_PAGE=100)
    walk = recipient_search.WALK
    campaign = make_campaign(0, title="Numbers in order")
    # Pasted in order: 0749 980 001 …, 0750 000 000 (the walk's last), 0750 000 001 … 0750 003 000.
    db.session.execute(
        text(
            "INSERT INTO recipients (campaign_id, line, name, address, address_normalized) "
            "SELECT :id, n, 'Person ' || n, '07' || number, '+2547' || number "
            "FROM generate_series(1, :walk + 3000) AS n, LATERAL (SELECT (50000000 + n - :walk)::text) AS kept(number)"
        ),
        {"id": campaign.id, "walk": walk},
    )
    db.session.commit()
    html = page(client, campaign, "?q=075000", **BLOCK)
    assert "More than 1,000 recipients match" in html
    found = names(html)
    assert found[:2] == [f"Person {walk}", f"Person {walk + 1}"] and len(found) == 100
    assert names(page(client, campaign, "?q=075000&page=2", **BLOCK))[0] == f"Person {walk + 100}"
    # Past the thousand matches the counts read: the walk in paste order
    # meets one match in the tab's first WALK recipients, and the page is
    # read through the indexes and sorted.
    assert names(page(client, campaign, "?q=075000&page=11", **BLOCK))[:2] == [
        f"Person {walk + 1000}",
        f"Person {walk + 1001}",
    ]
    # A common word is paged by the walk, from the first recipient.
    assert names(page(client, campaign, "?q=person", **BLOCK))[:2] == ["Person 1", "Person 2"]
