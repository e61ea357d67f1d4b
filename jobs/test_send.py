"""Sending one test of a campaign's message to the person who asked for it
("Send a test to me", ``app.campaigns.test_sends``).

Through the path a campaign's send takes: this job on the queue, a token and
a turn in the channel's rate limit (``jobs.ratelimit``), then the provider
call, with the test's own idempotency key. One call: a test that fails says
why on the page, and the person may send another.
"""

import time

from flask import current_app

from app.campaigns import live, test_sends
from app.config import rate_limit
from app.extensions import db, redis
from jobs.provider import ProviderError, SimulatedProvider
from jobs.ratelimit import SendRate


def send_test(test_id: int) -> str:
    """Runs inside the worker's app context; returns a one-line summary for RQ's log."""
    test = test_sends.pending(test_id)
    if test is None:
        db.session.rollback()
        return f"test send {test_id}: already answered"
    campaign_id, channel, address = test.campaign_id, test.channel, test.address
    content, subject, key = test.content, test.subject, test.idempotency_key
    db.session.commit()

    config = current_app.config
    rate = SendRate(redis.client, channel, rate_limit(config, channel))
    while not (grant := rate.take(1)).granted:
        time.sleep(grant.retry_in)
    if (wait := rate.turns(1).wait(0)) > 0:
        time.sleep(wait)
    message_id = error = None
    try:
        message_id = SimulatedProvider.from_config(config).send(channel, address, content, key, subject)
    except ProviderError as failed:
        error = failed.message

    test_sends.record(test_id, message_id=message_id, error=error)
    db.session.commit()
    # Every open page of the campaign reloads its block: the person's shows the
    # answer beside the button, and everyone's the history.
    live.show_campaign_change(campaign_id)
    return f"test send {test_id}: {'sent' if error is None else 'not sent: ' + error}"
