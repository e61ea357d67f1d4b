"""When Redis is full (``maxmemory`` with ``noeviction`` refuses every write),
each request says so clearly or carries on, and nothing committed to
PostgreSQL is lost: what waits for Redis starts once it takes work again."""

from sqlalchemy import func, select

from app.auth.models import Role
from app.campaigns import recovery
from app.campaigns.models import Campaign, Recipient
from app.contacts import importing
from app.contacts.models import ImportStatus
from app.extensions import db
from tests.conftest import signed_in
from tests.factories import PASSWORD, make_campaign, make_user
from tests.test_contact_import import start, uploaded
from tests.test_kept_forms import FORM, GO_BACK, kept_forms


def test_a_wrong_password_while_redis_is_full_is_answered_and_the_right_one_signs_in(app, anonymous, fill_redis):
    """Failures are counted after the answer; one Redis refuses to count is not an error page."""
    make_user(Role.VIEWER, email="vera@example.com")
    fill_redis()
    wrong = anonymous.post("/sign-in", data={"email": "vera@example.com", "password": "a guess"})
    assert wrong.status_code == 200
    assert "That email and password do not match an active account." in wrong.get_data(as_text=True)
    right = anonymous.post("/sign-in", data={"email": "vera@example.com", "password": PASSWORD})
    assert right.status_code == 302 and right.headers["Location"] == "/"


def test_a_form_redis_refuses_to_keep_is_not_kept_and_sign_in_says_so(app, redis_client, fill_redis):
    nurse = signed_in(app, make_user(Role.OPERATOR, email="nurse@example.com"))
    nurse.post("/sign-out")
    fill_redis()
    sent = nurse.post("/campaigns/new", data=FORM)
    assert sent.headers["Location"] == "/sign-in"
    page = nurse.get("/sign-in").get_data(as_text=True)
    assert f"Your session had ended, so your form was not sent, and it could not be kept just now. {GO_BACK}" in page
    assert kept_forms(redis_client) == []


def test_an_import_redis_refuses_to_queue_says_so_and_starts_once_redis_takes_work(
    client, config, run_worker, redis_client, fill_redis
):
    contact_import = uploaded(client, "phone,first name\n+254712000001,Ada\n+254712000002,Grace\n")
    fill_redis()
    started = start(client, contact_import)
    assert started.status_code == 302
    page = client.get(started.headers["Location"]).get_data(as_text=True)
    assert (
        "Importing 2 rows from contacts.csv. The job queue (Redis) refused it just now, so it waits: "
        "it starts by itself within about 60 seconds of Redis taking work again. Nothing is lost."
    ) in page
    db.session.refresh(contact_import)
    assert contact_import.status == ImportStatus.QUEUED

    redis_client.config_set("maxmemory", 0)
    config(IMPORT_STALL_SECONDS=0)
    assert importing.requeue_stalled() == [contact_import.id]
    run_worker()
    db.session.refresh(contact_import)
    assert contact_import.status == ImportStatus.DONE


def test_a_start_redis_refuses_to_queue_is_kept_and_sends_once_redis_takes_work(
    client, config, run_worker, redis_client, fill_redis
):
    """Committed first, queued after (app.campaigns.controls): the reconciler
    queues what the database says is owed."""
    config(PROVIDER_FAILURE_RATE=0.0)  # every one sent, so the count says none was lost
    campaign = make_campaign(3)
    fill_redis()
    started = client.post(f"/campaigns/{campaign.id}/start")
    assert started.status_code == 302
    db.session.expire_all()
    assert db.session.get_one(Campaign, campaign.id).status == "sending"

    redis_client.config_set("maxmemory", 0)
    assert recovery.restart_jobless().enqueued == [campaign.id]
    run_worker()
    sent = select(func.count()).where(Recipient.campaign_id == campaign.id, Recipient.status == "sent")
    assert db.session.scalar(sent) == 3
