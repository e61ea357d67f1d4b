"""Webhooks to other systems: each event reaches the outbox in the transaction
of its change, and the admins' pages register, pause, delete and show them."""

import io
import re
from datetime import timedelta

import pytest
from sqlalchemy import func, select

from app import jobqueue
from app.auth.models import Role
from app.campaigns import lifecycle
from app.clock import utcnow
from app.contacts import importing
from app.extensions import db
from app.hooks import endpoints, outbox
from app.hooks.models import Event, WebhookDelivery, WebhookEndpoint
from tests.conftest import signed_in
from tests.factories import make_campaign, make_started_campaign, make_user
from tests.helpers import reread
from tests.receiver import receiving

EVERY_EVENT = [event.value for event in Event]


def outbox_rows() -> list[WebhookDelivery]:
    db.session.commit()
    return list(db.session.scalars(select(WebhookDelivery).order_by(WebhookDelivery.id)))


def drains_queued(app, redis_client) -> int:
    return sum(job.startswith(jobqueue.WEBHOOK_DRAIN_JOB_PREFIX) for job in jobqueue.queue().get_job_ids())


def register(url: str = "http://127.0.0.1:9/hook", events: list[str] | None = None) -> WebhookEndpoint:
    endpoint = endpoints.register(url, "", events or EVERY_EVENT, actor=None)
    db.session.commit()
    return endpoint


def test_every_event_reaches_the_outbox_from_the_action_that_makes_it(app, config, run_worker, redis_client):
    config(PROVIDER_FAILURE_RATE=0.0, AUTO_PAUSE_WINDOW=4, AUTO_PAUSE_FAILURE_RATE=0.5)
    operator = make_user(Role.OPERATOR, email="olive@example.com")
    with receiving() as receiver:
        register(receiver.url())
        scheduled = make_campaign(2, title="Later")
        assert lifecycle.schedule(scheduled.id, utcnow() + timedelta(days=1), operator).changed
        db.session.commit()
        campaign = make_campaign(3, title="Flu shots")
        for change in (lifecycle.start, lifecycle.pause, lifecycle.resume, lifecycle.cancel):
            assert change(campaign.id, operator).changed
            db.session.commit()
        failing = make_started_campaign(5, enqueue=False, title="Failing")
        assert lifecycle.note_outcomes(failing.id, [True] * 4)
        db.session.commit()
        sent = make_started_campaign(2, title="Sent")
        contact_import = importing.store(io.BytesIO(b"phone\n+12025550150\n"), "people.csv", actor=operator)
        db.session.commit()
        assert importing.start(contact_import, ["phone"])
        db.session.commit()
        jobqueue.enqueue_import(contact_import.id)
        run_worker()
        assert reread(sent).status == "completed"

    rows = outbox_rows()
    assert [row.event for row in rows] == [
        "campaign.scheduled",
        "campaign.started",
        "campaign.paused",
        "campaign.resumed",
        "campaign.cancelled",
        "campaign.started",
        "campaign.auto_paused",
        "campaign.started",
        "campaign.completed",
        "import.finished",
    ]
    started = rows[1].payload
    assert started["type"] == "campaign.started"
    assert started["data"]["campaign"] == {
        "id": campaign.id,
        "title": "Flu shots",
        "channel": "email",
        "status": "sending",
    }
    assert (started["data"]["actor"], started["data"]["via"]) == ("olive@example.com", "web")
    assert rows[0].payload["data"]["scheduled_at"]
    assert rows[6].payload["data"]["via"] == "dispatcher"
    assert rows[6].payload["data"]["detail"].startswith("Paused automatically")
    assert rows[8].payload["data"]["campaign"]["status"] == "completed"
    finished = rows[9].payload["data"]
    assert finished["import"]["id"] == contact_import.id and finished["import"]["created"] == 1
    assert finished["actor"] == "olive@example.com"
    # Each went out once the worker ran the drain queued after its commit.
    assert {row.status for row in rows} == {"delivered"}
    assert len(receiver.received) == len(rows)
    assert len({row.message_id for row in rows}) == len(rows)


def test_a_change_rolled_back_leaves_nothing_in_the_outbox_and_queues_no_drain(app, redis_client):
    register()
    campaign = make_campaign(2)
    assert lifecycle.start(campaign.id, None).changed
    assert db.session.scalar(select(func.count()).select_from(WebhookDelivery)) == 1
    db.session.rollback()
    assert outbox_rows() == []
    assert drains_queued(app, redis_client) == 0
    # The same change committed: its row, and one drain queued after the commit.
    assert lifecycle.start(campaign.id, None).changed
    db.session.commit()
    assert [row.event for row in outbox_rows()] == ["campaign.started"]
    assert drains_queued(app, redis_client) == 1


def test_only_active_endpoints_subscribed_to_the_event_get_it(app):
    wants_started = register("http://127.0.0.1:9/started", ["campaign.started"])
    register("http://127.0.0.1:9/completed", ["campaign.completed"])
    paused = register("http://127.0.0.1:9/paused", ["campaign.started"])
    endpoints.set_active(paused, False)
    db.session.commit()
    make_started_campaign(1, enqueue=False)
    assert [(row.endpoint_id, row.event) for row in outbox_rows()] == [(wants_started.id, "campaign.started")]


def test_history_entries_that_are_no_event_write_no_outbox_row(app):
    register()
    campaign = make_campaign(2)
    lifecycle.schedule(campaign.id, utcnow() + timedelta(hours=1), None)
    lifecycle.unschedule(campaign.id, None)
    db.session.commit()
    assert [row.event for row in outbox_rows()] == ["campaign.scheduled"]
    assert outbox.event_for("campaign.paused", "web") is Event.CAMPAIGN_PAUSED
    assert outbox.event_for("campaign.paused", "dispatcher") is Event.CAMPAIGN_AUTO_PAUSED
    assert outbox.event_for("campaign.created", "web") is None


@pytest.fixture
def admin(app):
    return signed_in(app, make_user(Role.ADMIN, email="ada@example.com"))


def test_an_admin_adds_an_endpoint_and_sees_its_secret_once(admin):
    empty = admin.get("/webhooks").get_data(as_text=True)
    assert "No endpoints yet" in empty
    answer = admin.post(
        "/webhooks/new",
        data={"url": "http://127.0.0.1:9/crm", "description": "CRM", "events": ["campaign.started", "import.finished"]},
    )
    assert answer.status_code == 200
    assert answer.headers["Cache-Control"] == "no-store"
    endpoint = db.session.scalars(select(WebhookEndpoint)).one()
    page = answer.get_data(as_text=True)
    assert endpoint.secret in page
    assert re.fullmatch(r"whsec_[A-Za-z0-9+/]{43}=", endpoint.secret)
    assert endpoint.events == ["campaign.started", "import.finished"]
    listing = admin.get("/webhooks").get_data(as_text=True)
    assert "http://127.0.0.1:9/crm" in listing and endpoint.secret not in listing
    assert "Added a webhook endpoint http://127.0.0.1:9/crm by" in re.sub(r"<[^>]+>", "", listing)
    shown = admin.get(f"/webhooks/{endpoint.id}").get_data(as_text=True)
    assert endpoint.secret not in shown
    assert "Nothing sent yet" in shown


def test_the_form_refuses_a_url_it_could_not_send_to(admin, config):
    config(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False)
    for url, said in (
        ("http://example.com/hook", "Use an https URL."),
        ("ftp://example.com/hook", "Use an https URL."),
        ("https://localhost/hook", "a loopback address"),
        ("https://10.1.2.3/hook", "a private address"),
        ("https://169.254.169.254/latest", "a link-local address"),
    ):
        answer = admin.post("/webhooks/new", data={"url": url, "events": ["campaign.started"]})
        assert answer.status_code == 400, url
        page = answer.get_data(as_text=True)
        assert said in page, url
        assert 'aria-invalid="true"' in page
    none_chosen = admin.post("/webhooks/new", data={"url": "https://example.com/hook"})
    assert "Choose at least one event to send." in none_chosen.get_data(as_text=True)
    assert db.session.scalar(select(func.count()).select_from(WebhookEndpoint)) == 0


def test_pause_resume_test_event_resend_and_delete(admin, run_worker):
    with receiving() as receiver:
        endpoint = register(receiver.url(), ["campaign.completed"])
        admin.post(f"/webhooks/{endpoint.id}/test")
        run_worker()
        assert [request.path for request in receiver.received] == ["/hook"]
        delivery = db.session.scalars(select(WebhookDelivery)).one()
        assert (delivery.event, delivery.status) == ("webhook.test", "delivered")
        log = admin.get(f"/webhooks/{endpoint.id}").get_data(as_text=True)
        assert "webhook.test" in log and "HTTP 200, delivered" in log
        admin.post(f"/webhooks/{endpoint.id}/deliveries/{delivery.id}/resend")
        run_worker()
        assert len(receiver.received) == 2
        ids = {request.headers["webhook-id"] for request in receiver.received}
        assert ids == {delivery.message_id}

    admin.post(f"/webhooks/{endpoint.id}/pause")
    db.session.refresh(endpoint)
    assert not endpoint.active
    make_started_campaign(1, enqueue=False)
    assert len(outbox_rows()) == 1, "a paused endpoint gets no new deliveries"
    admin.post(f"/webhooks/{endpoint.id}/resume")
    db.session.refresh(endpoint)
    assert endpoint.active
    fragment = admin.get(f"/webhooks/{endpoint.id}", headers={"HX-Request": "true", "HX-Target": "delivery-log"})
    assert fragment.get_data(as_text=True).startswith('<section id="delivery-log"')
    admin.post(f"/webhooks/{endpoint.id}/delete")
    assert outbox_rows() == []
    history = re.sub(r"<[^>]+>", "", admin.get("/webhooks").get_data(as_text=True))
    for said in ("Paused a webhook endpoint", "Resumed a webhook endpoint", "Deleted a webhook endpoint"):
        assert said in history


def test_the_webhooks_page_is_for_admins_only(app):
    operator = signed_in(app, make_user(Role.OPERATOR, email="olive@example.com"))
    assert operator.get("/webhooks").status_code == 403
    assert "Webhooks" not in operator.get("/campaigns").get_data(as_text=True)
    admin = signed_in(app, make_user(Role.ADMIN, email="ada@example.com"))
    assert 'href="/webhooks"' in admin.get("/campaigns").get_data(as_text=True)
