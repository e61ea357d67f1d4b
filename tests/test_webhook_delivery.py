"""Sending webhooks to a real receiver: signed as Standard Webhooks' reference
code verifies, retried with backoff, refused for internal addresses, never
following a redirect, reading only the start of an answer."""

import json
import threading

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from app.auth.models import Role
from app.clock import utcnow
from app.extensions import db
from app.hooks import delivery, endpoints, sending
from app.hooks.models import WebhookAttempt, WebhookDelivery, WebhookEndpoint
from tests.conftest import signed_in
from tests.factories import make_started_campaign, make_user
from tests.helpers import wait_for
from tests.receiver import Answer, receiving


def register(url: str, events: tuple[str, ...] = ("campaign.started",)) -> WebhookEndpoint:
    endpoint = endpoints.register(url, "", events, actor=None)
    db.session.commit()
    return endpoint


def the_delivery() -> WebhookDelivery:
    db.session.commit()
    return db.session.scalars(select(WebhookDelivery)).one()


def attempts() -> list[WebhookAttempt]:
    db.session.commit()
    return list(db.session.scalars(select(WebhookAttempt).order_by(WebhookAttempt.id)))


def test_a_receiver_failing_twice_gets_the_event_on_the_third_try_signed_each_time(app, config, run_worker):
    config(WEBHOOK_RETRY_BASE_SECONDS=0.2, WEBHOOK_RETRY_CAP_SECONDS=1.0)
    with receiving(Answer(500, b"down"), Answer(500, b"still down"), Answer(204, b"")) as receiver:
        endpoint = register(receiver.url())
        campaign = make_started_campaign(2, enqueue=False, title="Flu shots")
        # The drain queued after the commit: the first try fails.
        run_worker()
        first = the_delivery()
        assert (first.status, first.attempts, first.last_status_code) == ("pending", 1, 500)

        def retried_until_delivered() -> bool:
            # The reconciler's task queues a drain once the retry is due; a worker runs it.
            delivery.enqueue_due()
            db.session.commit()
            run_worker()
            return the_delivery().status == "delivered"

        wait_for(retried_until_delivered, 30, "the third try")

    log = attempts()
    assert [(a.ok, a.status_code) for a in log] == [(False, 500), (False, 500), (True, 204)]
    assert [a.error for a in log] == ["HTTP 500 Internal Server Error", "HTTP 500 Internal Server Error", None]
    assert log[0].response == "down"
    # Each retry waited for the time its failure set, at most base × 2^(attempt − 1).
    for failed, retry, ceiling in ((log[0], log[1], 0.2), (log[1], log[2], 0.4)):
        assert failed.next_attempt_at is not None
        assert failed.at < failed.next_attempt_at <= retry.at
        assert (failed.next_attempt_at - failed.at).total_seconds() <= ceiling + 1.0
    assert log[2].next_attempt_at is None
    done = the_delivery()
    assert (done.attempts, done.last_status_code, done.last_error, done.next_attempt_at) == (3, 204, None, None)

    # The receiver checks each with the Standard Webhooks reference code and the secret shown once.
    assert len(receiver.received) == 3
    for request in receiver.received:
        payload = Webhook(endpoint.secret).verify(request.body, request.headers)
        assert payload["type"] == "campaign.started"
        assert payload["data"]["campaign"]["id"] == campaign.id
        assert request.headers["webhook-id"] == done.message_id
        assert request.headers["Content-Type"] == "application/json"
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(endpoints.new_secret()).verify(receiver.received[0].body, receiver.received[0].headers)
    tampered = receiver.received[0].body.replace(b"Flu shots", b"Flu shoes")
    with pytest.raises(Exception, match="No matching signature"):
        Webhook(endpoint.secret).verify(tampered, receiver.received[0].headers)

    admin = signed_in(app, make_user(Role.ADMIN, email="ada@example.com"))
    page = admin.get(f"/webhooks/{endpoint.id}").get_data(as_text=True)
    assert page.count('data-testid="webhook-attempt"') == 3
    assert "HTTP 500 Internal Server Error" in page and "HTTP 204, delivered" in page


def test_a_delivery_failing_past_the_retry_window_is_given_up_and_resend_tries_again(app, config, run_worker):
    config(WEBHOOK_RETRY_FOR_SECONDS=0.0)
    with receiving(Answer(503, b"no"), Answer(200, b"ok")) as receiver:
        register(receiver.url())
        make_started_campaign(1, enqueue=False)
        run_worker()
        given_up = the_delivery()
        assert (given_up.status, given_up.next_attempt_at, given_up.last_status_code) == ("gave_up", None, 503)
        assert given_up.finished_at is not None
        delivery.resend(given_up)
        db.session.commit()
        run_worker()
    resent = the_delivery()
    assert (resent.status, resent.attempts) == ("delivered", 2)
    assert len({request.headers["webhook-id"] for request in receiver.received}) == 1


@pytest.mark.parametrize("host", ["127.0.0.1", "localhost"])
def test_a_loopback_endpoint_is_refused_at_send_time_and_nothing_reaches_it(app, config, run_worker, host):
    with receiving() as receiver:
        # Registered while allowed (as a host whose DNS later changes would be), refused when sent.
        endpoint = register(receiver.url(host=host).replace("http://", "https://"))
        config(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False)
        make_started_campaign(1, enqueue=False)
        run_worker()
    assert receiver.received == []
    refused = the_delivery()
    assert refused.status == "pending" and refused.last_status_code is None
    assert refused.last_error is not None
    assert refused.last_error.startswith(f"Refused: {host} resolves to ")
    assert "a loopback address" in refused.last_error
    assert "WEBHOOK_ALLOW_PRIVATE_ADDRESSES is off" in refused.last_error
    assert endpoint.id == refused.endpoint_id


def test_plain_http_is_refused_unless_private_addresses_are_allowed(app, config):
    config(WEBHOOK_ALLOW_PRIVATE_ADDRESSES=False)
    with pytest.raises(sending.Refused, match="Use an https URL"):
        sending.vet("http://93.184.215.14/hook", allow_private=False)
    assert sending.vet("https://93.184.215.14:8443/a?b=c", allow_private=False).path == "/a?b=c"
    for address, kind in (
        ("10.0.0.8", "private"),
        ("192.168.1.1", "private"),
        ("169.254.169.254", "link-local"),
        ("0.0.0.0", "unspecified"),
        ("224.0.0.1", "multicast"),
        ("[::1]", "loopback"),
        ("[::ffff:127.0.0.1]", "loopback"),
        ("[fe80::1]", "link-local"),
        ("[fd00::1]", "private"),
        ("100.64.0.1", "non-public"),
    ):
        with pytest.raises(sending.Refused, match=f"a {kind} address"):
            sending.vet(f"https://{address}/hook", allow_private=False)


def test_a_redirect_is_not_followed_and_counts_as_a_failure(app, run_worker):
    with receiving() as elsewhere, receiving(Answer(302, b"", {"Location": elsewhere.url("/inside")})) as receiver:
        register(receiver.url())
        make_started_campaign(1, enqueue=False)
        run_worker()
    assert len(receiver.received) == 1
    assert elsewhere.received == []
    (attempt,) = attempts()
    assert (attempt.ok, attempt.status_code) == (False, 302)
    assert attempt.error == f"HTTP 302: a redirect (to {elsewhere.url('/inside')}), not followed."
    assert the_delivery().status == "pending"


def test_only_the_start_of_a_large_answer_is_read(app, config, run_worker):
    config(WEBHOOK_RESPONSE_MAX_BYTES=1000)
    with receiving(Answer(200, b"x" * 5_000_000)) as receiver:
        register(receiver.url())
        make_started_campaign(1, enqueue=False)
        run_worker()
    assert len(receiver.received) == 1
    (attempt,) = attempts()
    assert attempt.ok and attempt.response == "x" * 1000


def test_an_endpoint_that_does_not_answer_in_time_is_a_failure_tried_again(app, config, run_worker):
    config(WEBHOOK_TIMEOUT_SECONDS=0.3)
    release = threading.Event()
    try:
        with receiving(Answer(200, b"late", hold=release), Answer(200, b"ok")) as receiver:
            register(receiver.url())
            make_started_campaign(1, enqueue=False)
            run_worker()
            release.set()
            (attempt,) = attempts()
            assert (attempt.ok, attempt.status_code, attempt.error) == (False, None, "No answer within 0.3 s.")
            assert the_delivery().next_attempt_at is not None
            assert len(receiver.received) == 1
    finally:
        release.set()


def test_two_drains_never_claim_the_same_delivery(app):
    register("http://127.0.0.1:9/hook")
    make_started_campaign(1, enqueue=False)
    claimed = delivery.claim()
    assert claimed is not None
    db.session.commit()
    # Claimed: not due again until its lease lapses.
    assert delivery.claim() is None
    db.session.rollback()
    leased = the_delivery()
    assert leased.attempts == 1
    assert leased.next_attempt_at is not None and leased.next_attempt_at > utcnow()
    payload = json.loads(sending.body_of(claimed["payload"]))
    assert payload["type"] == "campaign.started"


def test_the_reconciler_queues_a_drain_only_when_deliveries_are_due_and_none_waits(app, redis_client):
    def drains() -> int:
        return sum(job.startswith(b"webhook-drain-") for job in redis_client.lrange("rq:queue:test-dispatch", 0, -1))

    register("http://127.0.0.1:9/hook")
    assert delivery.enqueue_due() == ""
    make_started_campaign(1, enqueue=False)
    assert drains() == 1, "queued after the commit"
    assert delivery.enqueue_due() == "", "one already waits"
    redis_client.flushdb()  # the queued drain is lost
    assert delivery.enqueue_due() == "webhook deliveries due: 1; queued a drain"
    assert drains() == 1


def test_an_answer_for_an_endpoint_deleted_meanwhile_is_dropped_with_it(app):
    endpoint = register("http://127.0.0.1:9/hook")
    make_started_campaign(1, enqueue=False)
    claimed = delivery.claim()
    assert claimed is not None
    db.session.commit()
    endpoints.delete(endpoint)
    db.session.commit()
    answered = sending.Outcome(True, 200, None, "ok", 5)
    assert delivery.record(claimed, answered, utcnow()) == "deleted"
    db.session.commit()
    assert attempts() == []
