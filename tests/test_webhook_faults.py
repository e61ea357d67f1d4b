"""The webhooks' outbox against a worker killed with SIGKILL while it sends:
the event committed with its change still reaches the receiver, under the
same webhook-id, once the dead worker's claim lapses."""

import threading

import pytest
from sqlalchemy import select
from standardwebhooks import Webhook

from app.extensions import db
from app.hooks import endpoints
from app.hooks.models import WebhookAttempt, WebhookDelivery
from tests.conftest import worker_env
from tests.factories import make_started_campaign
from tests.helpers import wait_for
from tests.processes import running
from tests.receiver import Answer, receiving

pytestmark = pytest.mark.slow


def the_delivery() -> WebhookDelivery:
    db.session.commit()
    return db.session.scalars(select(WebhookDelivery)).one()


def test_an_event_whose_worker_is_killed_mid_post_is_sent_again_by_the_next(app, services, tmp_path):
    # Short, so that the dead worker's claim lapses soon; long enough that the
    # held POST is killed before it times out.
    env = worker_env(services, WEBHOOK_TIMEOUT_SECONDS=3, RECONCILE_SECONDS=0.3)
    release = threading.Event()
    try:
        with receiving(Answer(200, b"too late", hold=release), Answer(200, b"ok")) as receiver:
            endpoint = endpoints.register(receiver.url(), "", ["campaign.started"], actor=None)
            db.session.commit()
            with running(env, tmp_path) as processes:
                campaign = make_started_campaign(1, enqueue=False)
                wait_for(receiver.arrived.is_set, 60, "the worker's POST", processes.output)
                processes.kill("worker")
                release.set()
                claimed = the_delivery()
                assert (claimed.status, claimed.attempts) == ("pending", 1)
                processes.start("worker", "--processes", "1")
                wait_for(
                    lambda: the_delivery().status == "delivered", 90, "the event to be sent again", processes.output
                )
    finally:
        release.set()

    sent = the_delivery()
    assert sent.attempts == 2
    # The killed POST never got its answer recorded: one attempt logged, the one that got through.
    logged = db.session.scalars(select(WebhookAttempt)).all()
    assert [(attempt.ok, attempt.status_code) for attempt in logged] == [(True, 200)]
    assert sent.next_attempt_at is None
    # At least once: the receiver got it twice, both under the same id, so it can drop the repeat.
    assert len(receiver.received) == 2
    assert {request.headers["webhook-id"] for request in receiver.received} == {sent.message_id}
    for request in receiver.received:
        payload = Webhook(endpoint.secret).verify(request.body, request.headers)
        assert payload["data"]["campaign"]["id"] == campaign.id
