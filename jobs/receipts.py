"""The simulated provider's delivery receipts, posted to the dispatcher.

    python -m jobs.receipts

Each message the simulated provider accepts owes a receipt a few seconds
later (PROVIDER_RECEIPT_DELAY_MIN to _MAX; ``jobs.provider`` notes it when it
accepts the message). This process posts the receipts that are due, in
batches, signed, to PROVIDER_RECEIPTS_URL, as a real provider calls a status
callback: ``delivered``, or ``undelivered`` with a reason for the share
PROVIDER_UNDELIVERED_RATE. What a message's receipt says is decided by its
id, so a batch posted again says the same. A receipt leaves the provider's
list only once the dispatcher has answered 200; until then it is posted
again, a second later and then less often, up to RETRY_CAP_SECONDS apart.

It is part of the fake provider, not of the dispatcher: a real provider runs
its own. One runs at a time.
"""

import json
import logging
import random
import time
import urllib.error
import urllib.request
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from dotenv import load_dotenv
from redis import Redis

from app import config as settings
from app import create_app, logs, signing
from jobs.provider import LEDGER_PREFIX, RECEIPTS_DUE

log = logging.getLogger("jobs.receipts")

BATCH = 500
RETRY_CAP_SECONDS = 30.0
IDLE_SECONDS = 0.2
REASONS = {
    "sms": ("Handset switched off or out of coverage", "Carrier rejected the message", "Number no longer in service"),
    "whatsapp": ("Not a WhatsApp account", "Phone offline for over 30 days"),
    "email": ("Mailbox full", "Mailbox does not exist", "Rejected as spam by the receiving server"),
}


@dataclass
class Sender:
    redis: Redis
    url: str
    secret: str
    undelivered_rate: float
    batch: int = BATCH

    def receipt(self, member: str, due: float) -> dict[str, object]:
        """What the provider reports of one message: decided by its id alone."""
        message_id, key = member.split(" ", 1)
        channel = message_id.split("-")[1] if message_id.count("-") >= 2 else "sms"
        pick = random.Random(message_id)
        undelivered = pick.random() < self.undelivered_rate
        return {
            "message_id": message_id,
            "reference": key.removeprefix(LEDGER_PREFIX),
            "status": "undelivered" if undelivered else "delivered",
            "reason": pick.choice(REASONS.get(channel, REASONS["sms"])) if undelivered else None,
            "at": due,
        }

    def post_due(self, now: float | None = None) -> int:
        """Post one batch of the receipts due by ``now``; how many the dispatcher took.
        Raises OSError (or urllib's HTTPError) when it did not."""
        due: list[tuple[bytes, float]] = self.redis.zrangebyscore(  # type: ignore[assignment]
            RECEIPTS_DUE, "-inf", time.time() if now is None else now, start=0, num=self.batch, withscores=True
        )
        if not due:
            return 0
        members = [member.decode() for member, _ in due]
        receipts = [self.receipt(member, score) for member, (_, score) in zip(members, due, strict=True)]
        body = json.dumps({"receipts": receipts}).encode()
        request = urllib.request.Request(
            self.url,
            data=body,
            method="POST",
            headers={**signing.headers(self.secret, body), "Content-Type": "application/json"},
        )
        with urllib.request.urlopen(request, timeout=30) as response:
            response.read()
        self.redis.zrem(RECEIPTS_DUE, *members)
        return len(members)

    def forever(self) -> None:
        failures = 0
        while True:
            try:
                posted = self.post_due()
            except (OSError, urllib.error.HTTPError) as error:
                failures += 1
                wait = min(RETRY_CAP_SECONDS, 2.0 ** (failures - 1))
                if failures == 1 or failures % 10 == 0:
                    log.warning("receipts not posted to %s (%s); trying again in %.0f s", self.url, error, wait)
                time.sleep(wait)
                continue
            if failures:
                log.info("receipts posted again after %d failures", failures)
                failures = 0
            if posted < self.batch:
                time.sleep(IDLE_SECONDS)


def sender_for(config: Mapping[str, Any]) -> Sender:
    url = config.get("PROVIDER_LEDGER_URL") or config["REDIS_URL"]
    return Sender(
        Redis.from_url(url),
        config["PROVIDER_RECEIPTS_URL"],
        config["RECEIPTS_WEBHOOK_SECRET"],
        config["PROVIDER_UNDELIVERED_RATE"],
    )


def main() -> None:
    # The environment wins; .env (written by make run) fills in what it lacks.
    load_dotenv()
    logs.configure("receipts", settings.from_environment()["LOG_FORMAT"])
    app = create_app({"PROCESS_NAME": "receipts"})
    with app.app_context():
        if not app.config["PROVIDER_RECEIPTS_URL"]:
            log.info("PROVIDER_RECEIPTS_URL is not set: the simulated provider sends no receipts")
            while True:
                time.sleep(3600)
        sender_for(app.config).forever()


if __name__ == "__main__":
    main()
