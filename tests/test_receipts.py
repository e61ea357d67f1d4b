"""Delivery receipts: POST /webhooks/provider/status takes them only signed and
once, keeps each until its message is recorded, and applies them in batches,
newest wins, so that counters always equal rows."""

import json
import time

import pytest
from sqlalchemy import func, select, text

from app import jobqueue
from app.campaigns.models import Campaign, ProviderReceipt, Recipient
from app.campaigns.receipts import ApplyReceipts
from app.extensions import db
from app.signing import headers as signed_headers
from jobs.provider import RECEIPTS_DUE, ledger_at
from jobs.receipts import Sender
from tests.factories import make_started_campaign
from tests.helpers import assert_counters_match_rows, reread

SECRET = "receipts-test-secret"
URL = "/webhooks/provider/status"


@pytest.fixture
def receipts_on(config):
    config(
        RECEIPTS_WEBHOOK_SECRET=SECRET,
        PROVIDER_RECEIPTS_URL="http://127.0.0.1:9/unused",
        PROVIDER_RECEIPT_DELAY_MIN=0.0,
        PROVIDER_RECEIPT_DELAY_MAX=0.0,
        PROVIDER_UNDELIVERED_RATE=0.3,
        # Most tests send one recipient and need its message sent: at the suite's
        # 10 % failures it sometimes failed, and the test found no sent recipient.
        PROVIDER_FAILURE_RATE=0.0,
    )


@pytest.fixture
def post(anonymous, receipts_on):
    def send(receipts: list[dict], headers: dict | None = None, raw: bytes | None = None):
        body = raw if raw is not None else json.dumps({"receipts": receipts}).encode()
        sign = headers if headers is not None else signed_headers(SECRET, body)
        return anonymous.post(URL, data=body, headers={**sign, "Content-Type": "application/json"})

    return send


def receipt(recipient: Recipient, status: str = "delivered", at: float | None = None, message_id: str | None = None):
    return {
        "message_id": message_id or recipient.provider_message_id,
        "reference": f"recipient-{recipient.id}",
        "status": status,
        "reason": "Handset switched off" if status == "undelivered" else None,
        "at": at if at is not None else time.time(),
    }


def stored() -> int:
    return db.session.scalar(select(func.count()).select_from(ProviderReceipt))


def sent_recipients(campaign: Campaign) -> list[Recipient]:
    return list(
        db.session.scalars(
            select(Recipient)
            .where(Recipient.campaign_id == campaign.id, Recipient.status == "sent")
            .order_by(Recipient.id)
        )
    )


def apply_all(app) -> int:
    with app.app_context():
        applied = ApplyReceipts()()
    db.session.expire_all()
    return applied


def test_every_sent_message_gets_its_receipt_and_the_counts_equal_the_rows(app, post, run_worker, redis_client):
    campaign = make_started_campaign(40)
    run_worker()
    sent = sent_recipients(campaign)
    assert sent, "the simulated provider sent nothing"
    # The provider owes a receipt for each message it accepted, and says what it is by the message alone.
    sender = Sender(redis_client, URL, SECRET, 0.3)
    due = [member.decode() for member in redis_client.zrange(RECEIPTS_DUE, 0, -1)]
    assert sorted(member.split(" ")[0] for member in due) == sorted(r.provider_message_id for r in sent)
    bodies = [sender.receipt(member, time.time()) for member in due]
    assert bodies == [sender.receipt(member, body["at"]) for member, body in zip(due, bodies, strict=True)]
    response = post(bodies)
    assert response.status_code == 200, response.json
    assert response.json == {"stored": len(sent), "duplicates": 0, "refused": []}
    assert apply_all(app) == len(sent)
    assert stored() == 0
    by_id = {body["reference"]: body for body in bodies}
    for recipient in sent_recipients(campaign):
        expected = by_id[f"recipient-{recipient.id}"]
        assert recipient.status == "sent"
        assert (recipient.delivery, recipient.delivery_error) == (expected["status"], expected["reason"])
        assert recipient.delivery_at is not None
    campaign = reread(campaign)
    assert campaign.delivered_count + campaign.undelivered_count == campaign.sent_count == len(sent)
    assert campaign.undelivered_count == sum(1 for body in bodies if body["status"] == "undelivered")
    assert_counters_match_rows(campaign)
    hourly = dict(
        db.session.execute(
            text("SELECT outcome, sum(messages) FROM hourly_outcomes WHERE outcome LIKE '%delivered' GROUP BY 1")
        ).all()
    )
    assert hourly.get("delivered", 0) == campaign.delivered_count
    assert hourly.get("undelivered", 0) == campaign.undelivered_count


def test_a_receipt_before_our_sent_commit_waits_and_is_applied_when_we_record_it(app, post, run_worker):
    campaign = make_started_campaign(1, enqueue=False)
    recipient = db.session.scalar(select(Recipient).where(Recipient.campaign_id == campaign.id))
    # The provider accepted the message (an earlier call we never heard back from) and reports on it
    # before our send of it is recorded: the send is then answered with the same message id.
    ledger_at(app.config["REDIS_URL"]).accept(recipient.idempotency_key, "sim-email-early")
    assert post([receipt(recipient, message_id="sim-email-early")]).json["stored"] == 1
    assert apply_all(app) == 0
    assert stored() == 1 and reread(campaign).delivered_count == 0
    jobqueue.enqueue_send(campaign.id, 1)
    run_worker()
    db.session.expire_all()
    assert db.session.get(Recipient, recipient.id).provider_message_id == "sim-email-early"
    assert apply_all(app) == 1
    recipient = db.session.get(Recipient, recipient.id)
    assert (recipient.status, recipient.delivery) == ("sent", "delivered")
    assert stored() == 0
    assert_counters_match_rows(reread(campaign))


def test_a_receipt_naming_another_message_of_the_recipient_is_not_applied(app, post, run_worker):
    campaign = make_started_campaign(1)
    run_worker()
    recipient = sent_recipients(campaign)[0]
    post([receipt(recipient, message_id="sim-email-someone-else")])
    assert apply_all(app) == 0
    assert db.session.get(Recipient, recipient.id).delivery is None and stored() == 1


def test_duplicate_and_late_receipts_change_nothing_and_a_newer_one_moves_the_counts(app, post, run_worker):
    campaign = make_started_campaign(3)
    run_worker()
    recipient = sent_recipients(campaign)[0]
    now = time.time()
    first = receipt(recipient, "delivered", at=now)
    assert post([first, first]).json == {"stored": 1, "duplicates": 1, "refused": []}
    apply_all(app)
    # The same receipt again (a new request: the provider retried it), after it was applied.
    assert post([first]).json["stored"] == 1
    apply_all(app)
    assert reread(campaign).delivered_count == 1
    # An older one, arriving late, loses to what the recipient has.
    post([receipt(recipient, "undelivered", at=now - 60)])
    apply_all(app)
    assert db.session.get(Recipient, recipient.id).delivery == "delivered"
    # A newer one wins, and the counts move with it.
    post([receipt(recipient, "undelivered", at=now + 60)])
    apply_all(app)
    recipient = db.session.get(Recipient, recipient.id)
    assert (recipient.delivery, recipient.delivery_error) == ("undelivered", "Handset switched off")
    campaign = reread(campaign)
    assert (campaign.delivered_count, campaign.undelivered_count) == (0, 1)
    assert_counters_match_rows(campaign)
    hourly = dict(db.session.execute(text("SELECT outcome, sum(messages) FROM hourly_outcomes GROUP BY 1")).all())
    assert (hourly.get("delivered"), hourly.get("undelivered")) == (0, 1)


def test_a_bad_receipt_is_refused_by_its_place_and_field_and_the_others_are_kept(app, post, run_worker):
    campaign = make_started_campaign(1)
    run_worker()
    recipient = sent_recipients(campaign)[0]
    good = receipt(recipient)
    response = post([{**good, "status": "read"}, good, {**good, "reference": "someone"}, {**good, "at": "yesterday"}])
    assert response.status_code == 200
    assert response.json["stored"] == 1
    assert [(r["index"], r["error"].split(" ")[0]) for r in response.json["refused"]] == [
        (0, "status"),
        (2, "reference"),
        (3, "at"),
    ]


def test_a_body_that_is_not_a_list_of_receipts_is_400_and_too_many_is_413(post, config):
    assert post([], raw=b'{"receipt": {}}').status_code == 400
    assert post([], raw=b"not json").status_code == 400
    config(RECEIPTS_PER_REQUEST=2)
    response = post([{}, {}, {}])
    assert response.status_code == 413 and "At most 2 receipts" in response.json["error"]
    assert stored() == 0


@pytest.mark.parametrize(
    "headers",
    [
        {},
        {"X-Signature-Timestamp": str(int(time.time())), "X-Signature": "sha256=00"},
        "wrong secret",
        "stale",
    ],
    ids=["unsigned", "bad signature", "wrong secret", "stale"],
)
def test_unsigned_badly_signed_or_stale_receipts_get_401_and_store_nothing(app, post, run_worker, headers):
    campaign = make_started_campaign(1)
    run_worker()
    body = json.dumps({"receipts": [receipt(sent_recipients(campaign)[0])]}).encode()
    if headers == "wrong secret":
        headers = signed_headers("not-the-secret", body)
    elif headers == "stale":
        headers = signed_headers(SECRET, body, at=time.time() - 301)
    response = post([], headers=headers, raw=body)
    assert response.status_code == 401, response.json
    assert stored() == 0


def test_a_replayed_request_gets_401_and_stores_nothing_more(app, post, run_worker):
    campaign = make_started_campaign(1)
    run_worker()
    body = json.dumps({"receipts": [receipt(sent_recipients(campaign)[0])]}).encode()
    headers = signed_headers(SECRET, body)
    assert post([], headers=headers, raw=body).status_code == 200
    apply_all(app)
    replay = post([], headers=headers, raw=body)
    assert replay.status_code == 401 and "Replay" in replay.json["error"]
    assert stored() == 0


def test_without_a_secret_every_request_is_503(anonymous, config):
    config(RECEIPTS_WEBHOOK_SECRET="")
    body = b'{"receipts": []}'
    response = anonymous.post(URL, data=body, headers=signed_headers("", body))
    assert response.status_code == 503 and "RECEIPTS_WEBHOOK_SECRET" in response.json["error"]
