"""The scheduler: starts scheduled campaigns when their time comes.

    python -m jobs.scheduler

Every SCHEDULER_INTERVAL_SECONDS it makes one pass (``scheduling.start_due``):
each due campaign is taken with ``FOR UPDATE SKIP LOCKED`` and started by the
same guarded change as Start, so several schedulers are safe and none starts
a campaign twice. Its truth is PostgreSQL: if it was stopped, or the database
unreachable, when a campaign fell due, the next pass starts it and the
history says how late.

A process of its own rather than a step of the reconciler's pass: the
reconciler takes a Redis lock for its pass and does work that can take a while
(reaping leases, enqueueing), and a scheduled start should wait on neither,
nor stop when Redis is down (the start commits; the reconciler enqueues its
jobs once Redis is back).
"""

import contextlib
import logging
import time

from dotenv import load_dotenv
from redis.exceptions import RedisError
from sqlalchemy.exc import DBAPIError

from app import create_app
from app.campaigns import scheduling
from app.extensions import db

log = logging.getLogger("jobs.scheduler")


def main() -> None:
    load_dotenv()
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(levelname)s %(message)s")
    app = create_app({"PROCESS_NAME": "scheduler"})
    interval = app.config["SCHEDULER_INTERVAL_SECONDS"]
    log.info("starting scheduled campaigns every %.1f s", interval)
    with app.app_context():
        while True:
            began = time.monotonic()
            try:
                if started := scheduling.start_due():
                    log.info("started %s", started)
            except (DBAPIError, RedisError) as error:
                # An outage: say so and try again next pass; what fell due meanwhile starts then.
                with contextlib.suppress(DBAPIError):
                    db.session.rollback()
                log.warning("pass skipped: %s", str(error).splitlines()[0])
            time.sleep(max(interval - (time.monotonic() - began), 0.05))


if __name__ == "__main__":
    main()
