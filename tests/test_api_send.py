"""POST /campaigns/{id}/send, /start and /personalized-preview (contract A.4, A.5, B.3, B.4)."""

import threading

import pytest
from sqlalchemy import func, select

from app.audit import AuditEvent
from app.auth.models import Role
from app.campaigns.models import Campaign, Recipient
from app.extensions import db
from app.optouts import registry
from app.optouts.models import Source
from tests.api import api_client, assert_problem
from tests.helpers import assert_counters_match_rows, history, queued_jobs

SUMMER = {
    "name": "Summer Sale 2025",
    "channel": "sms",
    "base_template": "Hi {first_name}, check out {preferred_product} in {location}!",
}
PEOPLE = [
    {"phone": "0712 000001", "first_name": "Zawadi", "last_name": "Otieno", "location": "Mombasa"},
    {"phone": "0712 000002", "first_name": "Brian", "last_name": "Kamau", "location": "Kisumu"},
    # Customer 3, as in [001]'s preview examples.
    {"phone": "0712 345678", "first_name": "Alice", "last_name": "Johnson", "location": "Nairobi",
     "preferred_product": "Premium Package", "email": "alice@example.com"},
]  # fmt: skip


def setup(app, role: Role = Role.OPERATOR, campaign: dict | None = None):
    """Customers 1, 2 and 3 (ids as in the seeds' examples) and a draft."""
    api = api_client(app, role)
    maker = api if role != Role.VIEWER else api_client(app, Role.OPERATOR)
    ids = [maker.post("/api/v1/customers", json=person).get_json()["id"] for person in PEOPLE]
    assert ids == [1, 2, 3]
    campaign_id = maker.post("/api/v1/campaigns", json=campaign or SUMMER).get_json()["id"]
    return api, campaign_id


def recipients_of(campaign_id: int) -> list[Recipient]:
    db.session.commit()
    return list(
        db.session.scalars(select(Recipient).where(Recipient.campaign_id == campaign_id).order_by(Recipient.id))
    )


def test_the_seed_example_sends_to_three_customers_and_a_worker_finishes_it(app, run_worker, redis_client):
    api, campaign_id = setup(app)
    response = api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [1, 2, 3]})
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"campaign_id": campaign_id, "messages_queued": 3, "status": "sending"}
    rows = recipients_of(campaign_id)
    assert [r.contact_id for r in rows] == [1, 2, 3]
    assert rows[2].rendered_content == "Hi Alice, check out Premium Package in Nairobi!"
    assert rows[0].rendered_content == "Hi Zawadi, check out  in Mombasa!"
    assert (rows[2].name, rows[2].address) == ("Alice Johnson", "+254712345678")
    assert queued_jobs(app, redis_client) >= 1
    started = [h for h in history(db.session.get(Campaign, campaign_id)) if h[0] == "campaign.started"]
    assert started and started[0][1] == f"{api.user.email} via API"

    run_worker()
    shown = api.get(f"/api/v1/campaigns/{campaign_id}").get_json()
    stats = shown["stats"]
    assert shown["status"] in ("sent", "failed") and stats["total"] == 3
    assert stats["pending"] == stats["sending"] == 0
    assert stats["total"] == sum(stats[k] for k in ("pending", "sending", "sent", "failed", "cancelled", "skipped"))
    assert_counters_match_rows(db.session.get(Campaign, campaign_id))


def test_repeated_ids_are_one_recipient_in_the_order_first_given(app):
    api, campaign_id = setup(app)
    body = api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [3, 1, 3, 1]}).get_json()
    assert body["messages_queued"] == 2
    assert [r.contact_id for r in recipients_of(campaign_id)] == [3, 1]


def test_unknown_customers_are_404_listing_them_and_nothing_is_created(app):
    api, campaign_id = setup(app)
    response = api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [1, 77, 2, 78]})
    body = assert_problem(response, 404, "not-found")
    assert body["errors"] == [
        {"field": "customer_ids[1]", "message": "there is no customer 77"},
        {"field": "customer_ids[3]", "message": "there is no customer 78"},
    ]
    assert recipients_of(campaign_id) == []
    assert api.get(f"/api/v1/campaigns/{campaign_id}").get_json()["status"] == "draft"


def test_the_count_of_unknown_customers_reads_as_english(app):
    api, campaign_id = setup(app)
    one = assert_problem(api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [1, 77]}), 404)
    assert one["detail"] == "1 customer id does not exist; nothing was sent."
    two = assert_problem(api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [77, 78]}), 404)
    assert two["detail"] == "2 customer ids do not exist; nothing was sent."


def test_a_send_whose_customers_all_opted_out_answers_sent(app):
    """Nothing is left to send, so the campaign is done at once: SendStatus
    has ``sent`` beside ``sending`` and ``scheduled`` for this."""
    api, campaign_id = setup(app)
    for phone in ("+254712000001", "+254712000002"):
        registry.add("sms", phone, Source.STAFF)
    db.session.commit()
    response = api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [1, 2]})
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"campaign_id": campaign_id, "messages_queued": 0, "status": "sent"}
    assert api.get(f"/api/v1/campaigns/{campaign_id}").get_json()["stats"]["skipped"] == 2


def test_an_email_campaign_refuses_customers_without_an_email_and_creates_nothing(app):
    api, campaign_id = setup(app, campaign={**SUMMER, "channel": "email"})
    body = assert_problem(api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [3, 1]}), 400)
    assert body["errors"] == [{"field": "customer_ids[1]", "message": "customer 1 has no email address"}]
    assert recipients_of(campaign_id) == []
    ok = api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [3]})
    assert ok.status_code == 202 and recipients_of(campaign_id)[0].address == "alice@example.com"


def test_an_unknown_campaign_is_404(app):
    api, _ = setup(app)
    assert_problem(api.post("/api/v1/campaigns/999/send", json={"customer_ids": [1]}), 404)


@pytest.mark.parametrize(
    "body",
    [{}, {"customer_ids": []}, {"customer_ids": [0]}, {"customer_ids": ["1"]}, {"customer_ids": [True]},
     {"customer_ids": [1.0]}, {"customer_ids": list(range(1, 50_002))}, {"customer_ids": [1], "x": 1}],
)  # fmt: skip
def test_invalid_bodies_are_400(app, body):
    api, campaign_id = setup(app)
    assert_problem(api.post(f"/api/v1/campaigns/{campaign_id}/send", json=body), 400, "invalid-request")


def test_a_second_send_is_409_campaign_already_processed_with_its_status(app):
    api, campaign_id = setup(app)
    assert api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [1]}).status_code == 202
    body = assert_problem(api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [2]}), 409)
    assert "Campaign already processed" in body["detail"] and "sending" in body["detail"]
    assert len(recipients_of(campaign_id)) == 1


def test_concurrent_sends_give_one_202_and_the_rest_409(app, config):
    config(API_SEND_RATE_LIMIT="100 per minute")
    api, campaign_id = setup(app)
    barrier = threading.Barrier(6)
    statuses: list[int] = []

    def send(ids: list[int]) -> None:
        client = app.test_client()
        barrier.wait()
        answer = client.post(
            f"/api/v1/campaigns/{campaign_id}/send",
            json={"customer_ids": ids},
            headers={"Authorization": f"Bearer {api.token}"},
        )
        statuses.append(answer.status_code)

    threads = [threading.Thread(target=send, args=([1 + n % 3],)) for n in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(statuses) == [202, 409, 409, 409, 409, 409]
    assert len(recipients_of(campaign_id)) == 1


def test_a_replayed_send_creates_nothing_twice(app, redis_client):
    api, campaign_id = setup(app)
    headers = {"Idempotency-Key": "send-summer-1"}
    first = api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [1, 2, 3]}, headers=headers)
    jobs = queued_jobs(app, redis_client)
    again = api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [1, 2, 3]}, headers=headers)
    assert (first.status_code, again.status_code) == (202, 202)
    assert again.get_json() == first.get_json()
    assert again.headers["Idempotent-Replayed"] == "true" and "Idempotent-Replayed" not in first.headers
    assert len(recipients_of(campaign_id)) == 3
    assert queued_jobs(app, redis_client) == jobs
    assert [h[0] for h in history(db.session.get(Campaign, campaign_id))].count("campaign.started") == 1


def test_accepted_sends_and_starts_count_against_the_send_limit_refused_ones_do_not(app, config):
    config(API_SEND_RATE_LIMIT="2 per minute")
    api, first = setup(app)
    second = api.post("/api/v1/campaigns", json=SUMMER).get_json()["id"]
    third = api.post("/api/v1/campaigns", json=SUMMER).get_json()["id"]
    api.post(f"/api/v1/campaigns/{third}/recipients", json={"text": "0712 000009"})
    assert api.post(f"/api/v1/campaigns/{first}/send", json={"customer_ids": [1]}).status_code == 202
    # Refused (409, 404): given back.
    assert api.post(f"/api/v1/campaigns/{first}/send", json={"customer_ids": [1]}).status_code == 409
    assert api.post(f"/api/v1/campaigns/{second}/send", json={"customer_ids": [9]}).status_code == 404
    accepted = api.post(f"/api/v1/campaigns/{second}/send", json={"customer_ids": [2]})
    assert accepted.status_code == 202 and accepted.headers["X-RateLimit-Remaining"] == "0"
    limited = assert_problem(api.post(f"/api/v1/campaigns/{third}/start"), 429, "rate-limited")
    assert "2 per minute" in limited["detail"]
    retry_after = api.post(f"/api/v1/campaigns/{third}/start").headers["Retry-After"]
    assert retry_after.isdigit() and 1 <= int(retry_after) <= 60
    assert api.get(f"/api/v1/campaigns/{third}").get_json()["status"] == "draft"


def test_viewers_may_not_send_or_start(app):
    viewer, campaign_id = setup(app, Role.VIEWER)
    assert_problem(viewer.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [1]}), 403, "forbidden")
    assert_problem(viewer.post(f"/api/v1/campaigns/{campaign_id}/start"), 403, "forbidden")


def test_start_dispatches_pasted_recipients_once(app, redis_client):
    api, campaign_id = setup(app)
    api.post(f"/api/v1/campaigns/{campaign_id}/recipients", json={"text": "Ann, 0712 111111\nBen, 0712 222222"})
    response = api.post(f"/api/v1/campaigns/{campaign_id}/start")
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"campaign_id": campaign_id, "messages_queued": 2, "status": "sending"}
    assert queued_jobs(app, redis_client) >= 1
    again = assert_problem(api.post(f"/api/v1/campaigns/{campaign_id}/start", json={}), 409, "conflict")
    assert "sending" in again["detail"]


def test_start_without_recipients_is_409_and_takes_no_body_fields(app):
    api, campaign_id = setup(app)
    body = assert_problem(api.post(f"/api/v1/campaigns/{campaign_id}/start"), 409)
    assert "no recipients" in body["detail"] and "draft" in body["detail"]
    assert_problem(api.post(f"/api/v1/campaigns/{campaign_id}/start", json={"now": True}), 400)
    assert_problem(api.post("/api/v1/campaigns/999/start"), 404)


def test_the_seed_preview_examples(app):
    api, _ = setup(app)
    hello = api.post("/api/v1/campaigns", json={**SUMMER, "base_template": "Hello {first_name}!"}).get_json()["id"]
    basic = api.post(f"/api/v1/campaigns/{hello}/personalized-preview", json={"customer_id": 3})
    assert basic.status_code == 200, basic.get_json()
    body = basic.get_json()
    assert (body["rendered_message"], body["used_template"]) == ("Hello Alice!", "Hello {first_name}!")
    assert {k: body["customer"][k] for k in ("id", "first_name", "last_name", "phone", "location")} == {
        "id": 3, "first_name": "Alice", "last_name": "Johnson", "phone": "+254712345678", "location": "Nairobi",
    }  # fmt: skip
    override = "Hi {first_name}, special offer just for you in {location}!"
    special = api.post(
        f"/api/v1/campaigns/{hello}/personalized-preview", json={"customer_id": 3, "override_template": override}
    ).get_json()
    assert special["rendered_message"] == "Hi Alice, special offer just for you in Nairobi!"
    assert special["used_template"] == override


def test_preview_is_for_viewers_too_changes_nothing_and_refuses_what_it_cannot_render(app):
    viewer, campaign_id = setup(app, Role.VIEWER)
    path = f"/api/v1/campaigns/{campaign_id}/personalized-preview"
    events = db.session.scalar(select(func.count()).select_from(AuditEvent))
    empty = viewer.post(path, json={"customer_id": 1, "override_template": ""}).get_json()
    assert empty["used_template"] == SUMMER["base_template"]
    assert empty["rendered_message"] == "Hi Zawadi, check out  in Mombasa!"
    bad = assert_problem(viewer.post(path, json={"customer_id": 1, "override_template": "Hi {firstname}"}), 400)
    assert bad["errors"][0]["field"] == "override_template" and "{firstname}" in bad["errors"][0]["message"]
    assert assert_problem(viewer.post(path, json={}), 400)["errors"][0]["field"] == "customer_id"
    assert_problem(viewer.post(path, json={"customer_id": 99}), 404)
    assert_problem(viewer.post("/api/v1/campaigns/99/personalized-preview", json={"customer_id": 1}), 404)
    assert db.session.scalar(select(func.count()).select_from(AuditEvent)) == events
    assert recipients_of(campaign_id) == []


FUTURE = "2099-06-01T10:00:00Z"


def test_a_send_to_a_scheduled_campaign_waits_for_its_time_and_may_add_more(app, redis_client):
    api, campaign_id = setup(app, campaign={**SUMMER, "scheduled_at": FUTURE})
    first = api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [1, 2]})
    assert first.status_code == 202, first.get_json()
    assert first.get_json() == {"campaign_id": campaign_id, "messages_queued": 2, "status": "scheduled"}
    # [001]: a scheduled campaign may be sent again to add customers; repeats are not added twice.
    second = api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [2, 3]}).get_json()
    assert second == {"campaign_id": campaign_id, "messages_queued": 3, "status": "scheduled"}
    assert [r.status for r in recipients_of(campaign_id)] == ["queued"] * 3
    assert queued_jobs(app, redis_client) == 0
    shown = api.get(f"/api/v1/campaigns/{campaign_id}").get_json()
    assert (shown["status"], shown["scheduled_at"], shown["started_at"]) == ("scheduled", FUTURE, None)


def test_start_sends_a_scheduled_campaign_now(app, redis_client):
    api, campaign_id = setup(app, campaign={**SUMMER, "scheduled_at": FUTURE})
    api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [1, 2, 3]})
    response = api.post(f"/api/v1/campaigns/{campaign_id}/start")
    assert response.status_code == 202, response.get_json()
    assert response.get_json() == {"campaign_id": campaign_id, "messages_queued": 3, "status": "sending"}
    assert queued_jobs(app, redis_client) >= 1
    assert api.get(f"/api/v1/campaigns/{campaign_id}").get_json()["status"] == "sending"
    # Sending now, it takes no more customers.
    late = api.post(f"/api/v1/campaigns/{campaign_id}/send", json={"customer_ids": [1]})
    assert "sending" in assert_problem(late, 409, "conflict")["detail"]
