"""POST/GET /api/v1/campaigns and GET /campaigns/{id} (contract A.3, B.2–B.4)."""

import pytest
from sqlalchemy import update

from app.audit import campaign_history
from app.auth.models import Role
from app.campaigns.models import Campaign, CampaignStatus
from app.extensions import db
from tests.api import api_client, assert_problem

SUMMER = {
    "name": "Summer Sale 2025",
    "channel": "sms",
    "base_template": "Hi {first_name}, check out {preferred_product} in {location}!",
}
ZERO = {
    "total": 0,
    "pending": 0,
    "sending": 0,
    "sent": 0,
    "failed": 0,
    "retrying": 0,
    "cancelled": 0,
    "skipped": 0,
    "delivered": 0,
    "undelivered": 0,
}


def test_the_seed_example_creates_a_draft_with_zero_stats(app):
    api = api_client(app)
    response = api.post("/api/v1/campaigns", json=SUMMER)
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert {k: body[k] for k in ("name", "channel", "status", "base_template")} == {**SUMMER, "status": "draft"}
    assert body["stats"] == ZERO
    assert body["scheduled_at"] is None and body["started_at"] is None and body["pause_reason"] is None
    assert response.headers["Location"] == f"/api/v1/campaigns/{body['id']}"
    assert api.get(response.headers["Location"]).get_json() == body
    (created,) = campaign_history(body["id"])
    assert created.action == "campaign.created" and created.via == "api" and created.actor_id == api.user.id


def test_the_seed_curl_example_works_too(app):
    body = {"name": "Test Campaign", "channel": "sms", "base_template": "Hi {first_name}!"}
    assert api_client(app).post("/api/v1/campaigns", json=body).status_code == 201


def test_an_unknown_placeholder_is_400_on_base_template_naming_it(app):
    body = assert_problem(
        api_client(app).post("/api/v1/campaigns", json={**SUMMER, "base_template": "Hi {firstname}"}), 400
    )
    assert body["errors"][0]["field"] == "base_template"
    assert "{firstname}" in body["errors"][0]["message"]


@pytest.mark.parametrize(
    ("change", "field"),
    [
        ({"name": "   "}, "name"),
        ({"name": "x" * 201}, "name"),
        ({"channel": "fax"}, "channel"),
        ({"base_template": ""}, "base_template"),
        ({"base_template": "x" * 4001}, "base_template"),
        ({"scheduled_at": "2025-06-01T10:00:00Z"}, "scheduled_at"),
        ({"scheduled_at": "2099-06-01T10:00:00"}, "scheduled_at"),
        ({"scheduled_at": "tomorrow"}, "scheduled_at"),
        ({"scheduled_at": "2099-02-30T10:00:00Z"}, "scheduled_at"),
    ],
)
def test_invalid_fields_are_400_naming_the_field(app, change, field):
    body = assert_problem(api_client(app).post("/api/v1/campaigns", json={**SUMMER, **change}), 400)
    assert body["errors"][0]["field"] == field


def test_a_future_scheduled_at_creates_a_scheduled_campaign_with_its_history(app):
    api = api_client(app)
    response = api.post("/api/v1/campaigns", json={**SUMMER, "scheduled_at": "2099-06-01T10:00:00+03:00"})
    assert response.status_code == 201, response.get_json()
    body = response.get_json()
    assert body["status"] == "scheduled"
    assert body["scheduled_at"] == "2099-06-01T07:00:00Z"
    assert api.get("/api/v1/campaigns?status=scheduled").get_json()["pagination"]["total_count"] == 1
    actions = [(event.action, event.via) for event in campaign_history(body["id"])]
    assert actions == [("campaign.created", "api"), ("campaign.scheduled", "api")]


def test_viewers_may_not_create(app):
    assert_problem(api_client(app, Role.VIEWER).post("/api/v1/campaigns", json=SUMMER), 403)


def _make(api, n: int, channel: str = "sms") -> list[int]:
    return [
        api.post("/api/v1/campaigns", json={**SUMMER, "name": f"Campaign {i}", "channel": channel}).get_json()["id"]
        for i in range(n)
    ]


def test_pagination_follows_the_seed_examples(app):
    api = api_client(app)
    ids = _make(api, 12)
    first = api.get("/api/v1/campaigns?page=1&page_size=10").get_json()
    assert [c["id"] for c in first["data"]] == ids[::-1][:10]
    assert first["pagination"] == {"page": 1, "page_size": 10, "total_count": 12, "total_pages": 2}
    assert api.get("/api/v1/campaigns?channel=sms").get_json()["pagination"]["page_size"] == 20
    assert api.get("/api/v1/campaigns?page=2&page_size=5").get_json()["pagination"] == {
        "page": 2,
        "page_size": 5,
        "total_count": 12,
        "total_pages": 3,
    }


@pytest.mark.parametrize(
    ("query", "page", "size"),
    [
        ("page=0", 1, 20),
        ("page=-3", 1, 20),
        ("page_size=0", 1, 20),
        ("page_size=101", 1, 100),
        ("page=x&page_size=y", 1, 20),
        ("page=1.5", 1, 20),
    ],
)
def test_out_of_range_pagination_is_clamped_never_refused(app, query, page, size):
    pagination = api_client(app).get(f"/api/v1/campaigns?{query}").get_json()["pagination"]
    assert (pagination["page"], pagination["page_size"]) == (page, size)


def test_a_page_past_the_end_is_empty_and_no_rows_is_zero_pages(app):
    api = api_client(app)
    assert api.get("/api/v1/campaigns").get_json()["pagination"]["total_pages"] == 0
    _make(api, 2)
    past = api.get("/api/v1/campaigns?page=99999999999999999999").get_json()
    assert past["data"] == [] and past["pagination"]["total_count"] == 2


def test_filters_combine_and_unknown_values_are_400(app):
    api = api_client(app)
    sms = _make(api, 2)
    email = _make(api, 1, "email")
    assert [c["id"] for c in api.get("/api/v1/campaigns?channel=email").get_json()["data"]] == email
    assert [c["id"] for c in api.get("/api/v1/campaigns?channel=sms&status=draft").get_json()["data"]] == sms[::-1]
    assert api.get("/api/v1/campaigns?channel=sms&status=sending").get_json()["data"] == []
    assert assert_problem(api.get("/api/v1/campaigns?channel=fax"), 400)["errors"][0]["field"] == "channel"
    assert assert_problem(api.get("/api/v1/campaigns?status=completed"), 400)["errors"][0]["field"] == "status"


def test_completed_shows_as_sent_or_as_failed_when_nothing_was_sent_and_the_filter_agrees(app):
    api = api_client(app)
    sent, failed, partial = _make(api, 3)
    counts = {sent: (3, 0), failed: (0, 3), partial: (1, 2)}
    for campaign_id, (ok, bad) in counts.items():
        db.session.execute(
            update(Campaign)
            .where(Campaign.id == campaign_id)
            .values(status=CampaignStatus.COMPLETED.value, recipient_count=3, sent_count=ok, failed_count=bad)
        )
    db.session.commit()
    assert api.get(f"/api/v1/campaigns/{sent}").get_json()["status"] == "sent"
    assert api.get(f"/api/v1/campaigns/{partial}").get_json()["status"] == "sent"
    shown = api.get(f"/api/v1/campaigns/{failed}").get_json()
    assert shown["status"] == "failed"
    stats = shown["stats"]
    assert (
        stats["total"]
        == stats["pending"] + stats["sending"] + stats["sent"] + stats["failed"] + stats["cancelled"] + stats["skipped"]
    )
    assert {c["id"] for c in api.get("/api/v1/campaigns?status=sent").get_json()["data"]} == {sent, partial}
    assert [c["id"] for c in api.get("/api/v1/campaigns?status=failed").get_json()["data"]] == [failed]


def test_stats_come_from_the_counters_with_the_sum_identity(app):
    api = api_client(app)
    (campaign_id,) = _make(api, 1)
    db.session.execute(
        update(Campaign)
        .where(Campaign.id == campaign_id)
        .values(
            status="sending", recipient_count=20, sending_count=2, sent_count=5, failed_count=1,
            retrying_count=3, cancelled_count=0, skipped_count=1, delivered_count=3, undelivered_count=1,
        )
    )  # fmt: skip
    db.session.commit()
    stats = api.get(f"/api/v1/campaigns/{campaign_id}").get_json()["stats"]
    assert stats == {
        "total": 20,
        "pending": 11,
        "sending": 2,
        "sent": 5,
        "failed": 1,
        "retrying": 3,
        "cancelled": 0,
        "skipped": 1,
        "delivered": 3,
        "undelivered": 1,
    }


def test_an_unknown_campaign_is_404(app):
    api = api_client(app)
    assert_problem(api.get("/api/v1/campaigns/12345"), 404, "not-found")
    assert_problem(api.get("/api/v1/campaigns/99999999999999999999"), 404)
    assert_problem(api.get("/api/v1/campaigns/9223372036854775808"), 404)
    assert_problem(api.get("/api/v1/campaigns/9223372036854775807"), 404)
