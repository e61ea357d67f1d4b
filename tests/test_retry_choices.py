"""Retry failed offers only the choices that have something to retry, each
with its count ("Retry 7 permanent failures"), and they follow the data live."""

import re

from app.auth.models import Role
from app.campaigns import delivery, lifecycle, live
from app.campaigns.delivery import RetryPolicy
from app.campaigns.models import Campaign
from app.extensions import db
from tests.conftest import signed_in
from tests.factories import make_started_campaign, make_user
from tests.helpers import assert_counters_match_rows, history, reread, status_counts

ERRORS = {"transient": ("timeout", "The provider did not answer in time"), "permanent": ("invalid_address", "No such")}


def settle(app, campaign: Campaign, *outcomes: str) -> Campaign:
    """Claim as many recipients as ``outcomes`` and store each provider answer
    (``sent``, ``transient`` or ``permanent``; a transient one is its last
    attempt), as a send job's loop turn does; complete the campaign if that was all."""
    claimed = delivery.advance(campaign.id, [], len(outcomes)).claimed
    policy = RetryPolicy.from_config({**app.config, "RETRY_MAX_ATTEMPTS": 1})
    answers = [
        policy.settle(c, message_id="sim")
        if outcome == "sent"
        else policy.settle(c, error_code=ERRORS[outcome][0], error=ERRORS[outcome][1], kind=outcome)
        for c, outcome in zip(claimed, outcomes, strict=True)
    ]
    delivery.advance(campaign.id, answers, 0)
    lifecycle.complete_if_done(campaign.id)
    db.session.commit()
    return reread(campaign)


def retry_buttons(client, campaign: Campaign) -> list[tuple[str, str]]:
    """The Retry failed buttons offered: (which, label)."""
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    return re.findall(r'<button type="submit" name="which" value="(\w+)"[^>]*>([^<]*)</button>', page)


def press(client, campaign: Campaign, **form) -> str:
    response = client.post(f"/campaigns/{campaign.id}/retry-failed", data=form, headers={"HX-Request": "true"})
    return " ".join(re.findall(r'role="status">([^<]*)</p>', response.get_data(as_text=True)))


def test_with_only_permanent_failures_retry_offers_just_those_with_their_count(app, client):
    campaign = settle(app, make_started_campaign(9, enqueue=False), *["permanent"] * 7, "sent", "sent")
    assert campaign.status == "completed" and campaign.failed_permanent_count == 7
    assert retry_buttons(client, campaign) == [("permanent", "Retry 7 permanent failures")]
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert "Temporary failures" not in page and "temporary failure" not in page

    assert press(client, campaign, which="permanent") == "Queued 7 permanently failed recipients again."
    assert status_counts(reread(campaign).id) == {"queued": 7, "sent": 2}
    assert campaign.status == "sending" and campaign.failed_count == 0
    assert_counters_match_rows(campaign)
    assert history(campaign)[-1][2] == "7 recipients (permanent failures only)"
    assert retry_buttons(client, campaign) == [], "nothing failed now: no Retry at all"


def test_with_both_kinds_retry_offers_each_and_all_and_each_takes_only_its_own(app, client):
    campaign = settle(app, make_started_campaign(10, enqueue=False), *["transient"] * 3, *["permanent"] * 7)
    assert retry_buttons(client, campaign) == [
        ("transient", "Retry 3 temporary failures"),
        ("permanent", "Retry 7 permanent failures"),
        ("all", "Retry all 10 failures"),
    ]
    assert press(client, campaign, which="transient") == "Queued 3 temporarily failed recipients again."
    assert_counters_match_rows(reread(campaign))
    assert (campaign.failed_transient_count, campaign.failed_permanent_count) == (0, 7)
    assert retry_buttons(client, campaign) == [("permanent", "Retry 7 permanent failures")]
    # A press from a page not yet reloaded, for a kind there is none of now, says so and changes nothing.
    assert press(client, campaign, which="transient") == "No temporarily failed recipients to retry."
    assert press(client, campaign, which="all") == "Queued 7 failed recipients again."
    assert_counters_match_rows(reread(campaign))


def test_a_single_failure_reads_as_one(app, client):
    campaign = settle(app, make_started_campaign(2, enqueue=False), "transient", "sent")
    assert retry_buttons(client, campaign) == [("transient", "Retry 1 temporary failure")]


def test_no_failures_no_retry_and_an_unknown_choice_is_refused_saying_which_there_are(app, client):
    campaign = settle(app, make_started_campaign(2, enqueue=False), "sent", "sent")
    assert campaign.status == "completed" and retry_buttons(client, campaign) == []
    refused = client.post(f"/campaigns/{campaign.id}/retry-failed", data={"which": "some"})
    assert refused.status_code == 400
    assert "Choose which failures to retry: transient, permanent or all." in refused.get_data(as_text=True)


def test_the_counts_the_controls_offer_and_the_live_header_carry_follow_the_data(app, client):
    """live.js reloads an operator's controls when the header, which every
    update brings, counts other failures than the controls were rendered with."""
    campaign = settle(app, make_started_campaign(6, enqueue=False), "transient", "permanent")
    page = client.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert re.search(r'id="campaign-header"[^>]*data-failures="1 1"', page)
    assert re.search(r'id="campaign-controls"[^>]*data-failures="1 1"', page)
    assert retry_buttons(client, campaign) == [
        ("transient", "Retry 1 temporary failure"),
        ("permanent", "Retry 1 permanent failure"),
        ("all", "Retry all 2 failures"),
    ]
    settle(app, campaign, "permanent", "permanent")
    update = live.render_update(live.fresh(campaign.id), [])
    db.session.commit()
    assert re.search(r'id="campaign-header"[^>]*data-failures="1 3"', update)
    assert retry_buttons(client, campaign)[1:] == [
        ("permanent", "Retry 3 permanent failures"),
        ("all", "Retry all 4 failures"),
    ]
    # A viewer's page offers no controls, so it follows no counts.
    viewer = signed_in(app, make_user(Role.VIEWER, email="visitor@example.com"))
    watched = viewer.get(f"/campaigns/{campaign.id}").get_data(as_text=True)
    assert not re.search(r'id="campaign-controls"[^>]*data-failures', watched)
