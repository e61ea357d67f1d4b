"""The controls, recipients and history endpoints (contract B.3, B.4), and
that what the API changes shows on open campaign pages."""

import pytest

from app.auth.models import Role
from app.campaigns.models import Campaign
from app.extensions import db
from app.live.broker import REFRESH_EVENT
from app.live.channel import campaign_channel
from tests.api import api_client, assert_problem
from tests.conftest import signed_in
from tests.factories import make_campaign, make_started_campaign, make_user
from tests.helpers import published, queued_jobs

SMS = {"name": "Pasted", "channel": "sms", "base_template": "Hi {first_name|there}!"}
PASTE = "Name, Phone\nAnn Lee, 0712 111111\nnot a phone\nBen, +254 712 222222\n\nAnn again, 0712111111\n"


def draft(api, **fields) -> int:
    return api.post("/api/v1/campaigns", json={**SMS, **fields}).get_json()["id"]


def test_pasted_text_is_parsed_as_the_web_form_parses_it(app):
    api = api_client(app)
    campaign_id = draft(api)
    path = f"/api/v1/campaigns/{campaign_id}/recipients"
    refused = assert_problem(api.post(path, json={"text": PASTE}), 400, "invalid-request")
    assert refused["errors"] == [{"line": 3, "message": '"not a phone" is not a valid phone number'}]
    assert refused["detail"].startswith("1 line could not be understood; nothing was added.")
    response = api.post(path, json={"text": PASTE, "skip_invalid": True})
    assert response.status_code == 201, response.get_json()
    assert response.get_json() == {
        "campaign_id": campaign_id,
        "added": 2,
        "duplicate_lines": [6],
        "skipped_lines": [
            {"line": 1, "message": "skipped as a header row"},
            {"line": 3, "message": '"not a phone" is not a valid phone number'},
        ],
        "recipient_count": 2,
    }
    # A second paste: lines already in the campaign are duplicates; new ones follow the first paste.
    more = api.post(path, json={"text": "Cy, 0712 333333\n0712 222222"}).get_json()
    assert (more["added"], more["duplicate_lines"], more["recipient_count"]) == (1, [2], 3)
    listed = api.get(path).get_json()
    assert [(r["name"], r["address"], r["line"]) for r in listed["data"]] == [
        ("Ann Lee", "0712 111111", 2), ("Ben", "+254 712 222222", 4), ("Cy", "0712 333333", 5),
    ]  # fmt: skip
    assert [r["rendered_content"] for r in listed["data"]] == ["Hi Ann!", "Hi Ben!", "Hi Cy!"]
    assert listed["data"][0]["customer_id"] is not None and listed["data"][0]["status"] == "queued"


@pytest.mark.parametrize("text", ["\n\n", "not a phone\nnor this"])
def test_a_paste_without_a_valid_line_is_400_even_when_skipping(app, text):
    api = api_client(app)
    campaign_id = draft(api)
    body = assert_problem(
        api.post(f"/api/v1/campaigns/{campaign_id}/recipients", json={"text": text, "skip_invalid": True}), 400
    )
    assert "None of the lines" in body["detail"]


def test_recipients_can_be_added_only_before_the_campaign_starts(app):
    api = api_client(app)
    campaign_id = draft(api)
    api.post(f"/api/v1/campaigns/{campaign_id}/recipients", json={"text": "0712 111111"})
    api.post(f"/api/v1/campaigns/{campaign_id}/start")
    body = assert_problem(api.post(f"/api/v1/campaigns/{campaign_id}/recipients", json={"text": "0712 222222"}), 409)
    assert "sending" in body["detail"]
    assert_problem(api.post("/api/v1/campaigns/999/recipients", json={"text": "0712 222222"}), 404)
    assert_problem(
        api_client(app, Role.VIEWER).post(f"/api/v1/campaigns/{campaign_id}/recipients", json={"text": "x"}), 403
    )


def test_the_recipient_list_filters_by_status_and_pending_and_refuses_unknown_ones(app):
    api = api_client(app)
    campaign = make_started_campaign(4, enqueue=False)
    path = f"/api/v1/campaigns/{campaign.id}/recipients"
    page = api.get(f"{path}?page_size=3").get_json()
    assert page["pagination"] == {"page": 1, "page_size": 3, "total_count": 4, "total_pages": 2}
    ids = [r["id"] for r in page["data"]]
    assert ids == sorted(ids)
    assert api.get(f"{path}?status=pending").get_json()["pagination"]["total_count"] == 4
    assert api.get(f"{path}?status=sent").get_json()["data"] == []
    assert assert_problem(api.get(f"{path}?status=done"), 400)["errors"][0]["field"] == "status"
    assert_problem(api.get("/api/v1/campaigns/999/recipients"), 404)


def test_one_recipient_comes_with_its_attempt_log(app, run_worker, config):
    config(PROVIDER_FAILURE_RATE=0.0)
    api = api_client(app, Role.VIEWER)
    campaign = make_started_campaign(1)
    run_worker()
    (first,) = api.get(f"/api/v1/campaigns/{campaign.id}/recipients").get_json()["data"]
    shown = api.get(f"/api/v1/campaigns/{campaign.id}/recipients/{first['id']}").get_json()
    assert shown["status"] == "sent" and shown["attempts"] == 1
    (attempt,) = shown["attempt_log"]
    assert attempt["number"] == 1 and attempt["outcome"] == "sent"
    assert attempt["provider_message_id"] == shown["provider_message_id"]
    other = make_campaign(1)
    assert_problem(api.get(f"/api/v1/campaigns/{other.id}/recipients/{first['id']}"), 404)


def test_pause_resume_and_cancel_answer_the_campaign_and_are_in_its_history_via_api(app):
    api = api_client(app)
    campaign = make_started_campaign(3, enqueue=False)
    base = f"/api/v1/campaigns/{campaign.id}"
    paused = api.post(f"{base}/pause")
    assert paused.status_code == 200, paused.get_json()
    assert paused.get_json()["status"] == "paused" and api.user.email in paused.get_json()["pause_reason"]
    again = assert_problem(api.post(f"{base}/pause"), 409, "conflict")
    assert "this campaign is paused" in again["detail"]
    assert api.post(f"{base}/resume").get_json()["status"] == "sending"
    assert "sending" in assert_problem(api.post(f"{base}/resume"), 409)["detail"]
    cancelled = api.post(f"{base}/cancel", json={}).get_json()
    assert cancelled["status"] == "cancelled" and cancelled["stats"]["cancelled"] == 3
    refused = assert_problem(api.post(f"{base}/cancel"), 409)["detail"]
    assert refused == (
        "Only a draft or a scheduled, sending or paused campaign can be cancelled; this campaign is cancelled."
    )
    events = api.get(f"{base}/events").get_json()
    assert [e["action"] for e in events["data"]] == [
        "campaign.created", "campaign.started", "campaign.paused", "campaign.resumed", "campaign.cancelled",
    ]  # fmt: skip
    assert [(e["via"], e["actor"]) for e in events["data"][2:]] == [("api", api.user.email)] * 3
    assert events["data"][1]["actor"] is None


def test_controls_are_for_operators_and_404_for_an_unknown_campaign(app):
    viewer = api_client(app, Role.VIEWER)
    campaign = make_started_campaign(1, enqueue=False)
    for action in ("pause", "resume", "cancel", "retry-failed"):
        assert_problem(viewer.post(f"/api/v1/campaigns/{campaign.id}/{action}"), 403, "forbidden")
        assert_problem(api_client(app, email=f"{action}@example.com").post(f"/api/v1/campaigns/999/{action}"), 404)
    assert viewer.get(f"/api/v1/campaigns/{campaign.id}/events").status_code == 200
    assert_problem(viewer.get("/api/v1/campaigns/999/events"), 404)


def test_retry_failed_requeues_only_what_it_may_and_sends_a_failed_campaign_again(app, run_worker, config):
    config(PROVIDER_ERROR_RATES={"invalid_address": 1.0})
    api = api_client(app)
    campaign = make_started_campaign(3)
    base = f"/api/v1/campaigns/{campaign.id}"
    refused = assert_problem(api.post(f"/api/v1/campaigns/{make_campaign(1).id}/retry-failed"), 409)["detail"]
    # The API's names for the statuses TRANSITIONS allows: completed is sent or failed.
    assert refused == (
        "Only a sending, paused, sent or failed campaign can have its failed recipients retried; "
        "this campaign is draft."
    )
    run_worker()
    assert api.get(base).get_json()["status"] == "failed"
    nothing = api.post(f"{base}/retry-failed").get_json()
    assert nothing == {"campaign_id": campaign.id, "requeued": 0, "status": "failed"}
    config(PROVIDER_ERROR_RATES={}, PROVIDER_FAILURE_RATE=0.0)
    retried = api.post(f"{base}/retry-failed", json={"include_permanent": True}).get_json()
    assert retried == {"campaign_id": campaign.id, "requeued": 3, "status": "sending"}
    run_worker()
    assert api.get(base).get_json()["stats"]["sent"] == 3
    assert_problem(api.post(f"{base}/retry-failed", json={"include_permanent": 1}), 400)


def test_an_api_pause_or_send_shows_live_on_open_campaign_pages(app, redis_client):
    """An open page listens to the campaign's channel: the API's changes are published there."""
    api = api_client(app)
    campaign = make_started_campaign(2, enqueue=False)
    pubsub = redis_client.pubsub()
    pubsub.subscribe(campaign_channel(campaign.id))
    assert api.post(f"/api/v1/campaigns/{campaign.id}/pause").status_code == 200
    events = published(pubsub, quiet=0.3)
    assert {"data": "paused", "type": REFRESH_EVENT} in events
    update = next(e["data"] for e in events if e["type"] == "update")
    assert 'data-status="paused"' in update
    # The refresh has open pages reload their history, in each reader's time zone: it names the API.
    page = (
        signed_in(app, make_user(Role.VIEWER, email="watcher@example.com"))
        .get(f"/campaigns/{campaign.id}")
        .get_data(as_text=True)
    )
    assert f"{api.user.email} via API" in page

    customer = api.post("/api/v1/customers", json={"phone": "0712 999999"}).get_json()["id"]
    other = draft(api)
    pubsub.subscribe(campaign_channel(other))
    assert api.post(f"/api/v1/campaigns/{other}/send", json={"customer_ids": [customer]}).status_code == 202
    assert {"data": "sending", "type": REFRESH_EVENT} in published(pubsub, quiet=0.3)
    assert queued_jobs(app, redis_client) == 1
    db.session.commit()
    assert db.session.get(Campaign, other).status == "sending"


def test_an_api_draft_without_recipients_cannot_be_started_from_its_page_either(app, client):
    campaign_id = draft(api_client(app))
    page = client.post(f"/campaigns/{campaign_id}/start", follow_redirects=True).get_data(as_text=True)
    assert "no recipients yet" in page
    db.session.commit()
    assert db.session.get(Campaign, campaign_id).status == "draft"
